//go:build integration

package server_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
	"github.com/meshgate/meshgate/xds/translate"
)

// backendC adds a third service (its cluster and endpoints): what makes
// the second replica's history differ from the first's.
const backendC = `apiVersion: v1
kind: Service
metadata: {name: backend-c, namespace: default}
spec: {ports: [{name: http, port: 8000, targetPort: 9}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: backend-c, namespace: default}
subsets: [{addresses: [{ip: 127.0.0.2}], ports: [{name: http, port: 9}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: route-c, namespace: default}
spec:
  hosts: ["c.example.com"]
  gateways: [istio-system/gw]
  http:
  - route:
    - destination: {host: backend-c, port: {number: 8000}}
`

// TestRealEnvoyMovesToReplica: a real Envoy (state of the world) served by
// one replica moves to another replica fed the same mesh state, whose
// endpoint cache saw another history first (a member of the same group got
// a third service, then lost it). The second replica gives the same
// endpoint version_info for the same state, and sends the Envoy no
// endpoints when it reconnects (its first endpoint request resumes what it
// holds), clusters or listeners (whose version says it holds them all);
// Envoy keeps every endpoint at the version it had, serves, and a later
// change that modifies a cluster it holds is followed by that cluster's
// endpoints. Before content versions the replicas gave endpoint versions
// "1" and "2".
func TestRealEnvoyMovesToReplica(t *testing.T) {
	envoy := envoytest.Path(t)
	t.Run("GroupServedThere", func(t *testing.T) { testEnvoyMovesToReplica(t, envoy, true) })
	// The other replica builds the group when the Envoy arrives: the
	// versions it resumes are checked at that first build.
	t.Run("GroupNewThere", func(t *testing.T) { testEnvoyMovesToReplica(t, envoy, false) })
}

func testEnvoyMovesToReplica(t *testing.T, envoy string, served bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang guard only
	defer cancel()
	w, mat := newEnvoyEnv(t)
	srvA, addrA := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate)
	srvB, addrB := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate)

	cc, err := grpc.NewClient(addrB, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	if served {
		bHistory(ctx, t, w, srvB, cc)
	} else {
		srvB.Update(w.mesh("backend-a"))
	}

	// The Envoy connects to A through a forwarder that can move it.
	fwd := newForwarder(t, addrA)
	srvA.Update(w.mesh("backend-a"))
	e := startEnvoy(t, envoy, fwd.addr(), corev3.ApiConfigSource_GRPC)
	onA := waitACKed(t, srvA, e, 30*time.Second, nil)
	before, err := e.ConfigDump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if served {
		sameVersion(ctx, t, cc, len(before.Endpoints), onA["endpoint"])
	}
	fwd.moveTo(addrB)
	// The other replica has published to the moved Envoy (its group built).
	// Whatever it sends now is counted below: nothing of clusters,
	// listeners or endpoints is due (routes and secrets may be sent again,
	// asked for by name: a version does not prove which names Envoy got).
	waitProxyStatus(t, srvB, "the moved Envoy connected to the other replica", func(server.ProxyStatus, bool) bool {
		d, ok := srvB.ConfigDumpOf(envoyNodeID)
		return ok && d.Versions["cluster"] != ""
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if body := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/", w.httpPort), ""); body != "backend-a" {
		t.Fatalf("GET through Envoy after the move = %q, want backend-a", body)
	}

	// A change that modifies backend-a's cluster, on the new replica: Envoy
	// warms the rebuilt cluster and needs its endpoints again, although it
	// got them from the other replica (TestRealEnvoyModifiedClusterWarms).
	srvB.Update(w.mesh("backend-a", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend-a, namespace: default}
spec:
  host: backend-a.default.svc.cluster.local
  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 3s}}}
`))
	// (waitACKed would want listeners sent too: none is due on this stream.)
	st := waitProxyStatus(t, srvB, "Envoy ACKed the modified cluster on the new replica (its endpoints re-sent)", func(st server.ProxyStatus, _ bool) bool {
		cl, ep := st.Types["cluster"], st.Types["endpoint"]
		return cl != nil && cl.Acked != onA["cluster"] && cl.Acked == cl.Sent && ep != nil && ep.Pushes > 0 && ep.Acked == ep.Sent
	})
	// Since the move: this cluster change and the endpoints it re-sends;
	// the endpoints keep their version (content).
	if lds := st.Types["listener"]; lds != nil && lds.Pushes != 0 {
		t.Errorf("the moved Envoy got %d listener responses; it held the current version %q", lds.Pushes, onA["listener"])
	}
	if cl, ep := st.Types["cluster"], st.Types["endpoint"]; cl.Pushes != 1 || ep.Pushes != 1 || ep.Sent != onA["endpoint"] {
		t.Errorf("since the move: %d cluster and %d endpoint responses (endpoint version %q), want 1 each, the endpoints at %q: nothing before the change",
			cl.Pushes, ep.Pushes, ep.Sent, onA["endpoint"])
	}
	if body := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/", w.httpPort), ""); body != "backend-a" {
		t.Fatalf("GET through Envoy after the cluster change = %q, want backend-a", body)
	}
}

// sameVersion checks that a gateway new to a replica gets endpoint version
// want (what the other replica gave for the same state).
func sameVersion(ctx context.Context, t *testing.T, cc grpc.ClientConnInterface, endpoints int, want string) {
	fresh, err := adstest.Dial(ctx, cc, groupMate(t, "ingress-2"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fresh.Close)
	st, err := fresh.WaitFor(ctx, func(s adstest.State) bool {
		return len(s.Resources[resource.EndpointType]) == endpoints && s.Count(resource.ListenerType) > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := st.Versions[resource.EndpointType]; v != want {
		t.Fatalf("endpoint version_info for the same state: %q from one replica, %q from the other", want, v)
	}
}

// bHistory gives the replica's group a history: a gateway of the Envoy's
// group (same metadata, another pod) sees backend-c come and go.
func bHistory(ctx context.Context, t *testing.T, w *envoyEnv, srvB *server.Server, cc grpc.ClientConnInterface) {
	srvB.Update(w.mesh("backend-a", backendC))
	mate, err := adstest.Dial(ctx, cc, groupMate(t, "ingress-1"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mate.Close)
	cla := func(name string) func(adstest.State) bool {
		return func(s adstest.State) bool { _, ok := s.Resources[resource.EndpointType][name]; return ok }
	}
	const cName = "outbound|8000||backend-c.default.svc.cluster.local"
	if st, err := mate.WaitFor(ctx, cla(cName)); err != nil {
		t.Fatalf("the group mate never got backend-c's endpoints: %v; clusters %v", err, slices.Collect(maps.Keys(st.Resources[resource.ClusterType])))
	}
	srvB.Update(w.mesh("backend-a"))
	if _, err := mate.WaitFor(ctx, func(s adstest.State) bool { _, ok := s.Resources[resource.ClusterType][cName]; return !ok }); err != nil {
		t.Fatalf("the group mate never lost backend-c: %v", err)
	}
}

// groupMate is the node of another pod of the Envoy's gateway (same
// metadata, so the same group).
func groupMate(t *testing.T, pod string) *corev3.Node {
	b, err := bootstrap.Envoy(bootstrap.Options{NodeID: "router~127.0.0.2~" + pod + ".istio-system~istio-system.svc.cluster.local", XDSAddress: "127.0.0.1:1",
		Labels: map[string]string{"istio": "ingressgateway"}, AdminAddress: "127.0.0.1:15000"})
	if err != nil {
		t.Fatal(err)
	}
	return b.GetNode()
}
