//go:build integration

package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/translate"
)

// mysqlWorld adds a MYSQL server on port %[1]d routed to a database on
// 127.0.0.1:%[2]d. With PILOT_ENABLE_MYSQL_FILTER the istio flavour of its
// listener holds envoy.filters.network.mysql_proxy, which upstream Envoy
// does not have (the envoy flavour, which this Envoy gets, leaves it out).
const mysqlWorld = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: db, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: %[1]d, name: mysql, protocol: MYSQL}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: default}
spec:
  hosts: ["*"]
  gateways: [istio-system/db]
  tcp:
  - match: [{port: %[1]d}]
    route: [{destination: {host: mysqldb, port: {number: 3306}}}]
---
apiVersion: v1
kind: Service
metadata: {name: mysqldb, namespace: default}
spec: {ports: [{name: mysql, port: 3306, targetPort: %[2]d}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: mysqldb, namespace: default}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: mysql, port: %[2]d}]}]
`

// TestRealEnvoyNACK: a listener the real Envoy rejects (the MySQL filter,
// which upstream Envoy lacks) is NACKed; the server records Envoy's message
// and does not send the rejected version again; Envoy keeps serving its last
// good configuration; the next good configuration is ACKed and served.
func TestRealEnvoyNACK(t *testing.T) {
	envoy := envoytest.Path(t)
	for _, api := range []corev3.ApiConfigSource_ApiType{corev3.ApiConfigSource_GRPC, corev3.ApiConfigSource_DELTA_GRPC} {
		t.Run(api.String(), func(t *testing.T) { testRealEnvoyNACK(t, envoy, api) })
	}
}

// istioMySQLListeners is loopbackTranslate with every MYSQL listener taken
// from the istio flavour (mysql_proxy included): configuration meant for
// Istio's proxy reaching upstream Envoy, which must NACK it.
func istioMySQLListeners(mesh *model.MeshState, p translate.Proxy, o translate.Options) (*translate.Result, error) {
	res, err := loopbackTranslate(mesh, p, o)
	if err != nil {
		return nil, err
	}
	p.Flavor = translate.FlavorIstio
	istio, err := loopbackTranslate(mesh, p, o)
	if err != nil {
		return nil, err
	}
	for i, l := range res.Listeners {
		for _, il := range istio.Listeners {
			if il.GetName() == l.GetName() && strings.Contains(il.String(), "mysql_proxy") {
				res.Listeners[i] = il
			}
		}
	}
	return res, nil
}

func testRealEnvoyNACK(t *testing.T, envoy string, api corev3.ApiConfigSource_ApiType) {
	w, mat := newEnvoyEnv(t)
	opts := translate.DefaultOptions()
	opts.EnableMySQLFilter = true
	srv, addr := startEnvoyServer(t, mat, opts, istioMySQLListeners)
	srv.Update(w.mesh("backend-a"))
	e := startEnvoy(t, envoy, addr, api)
	good := waitACKed(t, srv, e, 30*time.Second, nil)
	httpURL := fmt.Sprintf("http://127.0.0.1:%d/", w.httpPort)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if body := get(t, client, httpURL, ""); body != "backend-a" {
		t.Fatalf("GET %s = %q, want backend-a", httpURL, body)
	}

	mysqlPort := freePorts(t, 1)[0]
	srv.Update(w.mesh("backend-a", fmt.Sprintf(mysqlWorld, mysqlPort, w.portA)))
	var nack server.ProxyStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok := srv.Proxy(envoyNodeID)
		if ok && st.Types["listener"] != nil && st.Types["listener"].NACKs > 0 {
			nack = st
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listener NACK within 30 s: %s", describe(st))
		}
		time.Sleep(5 * time.Millisecond) // polling the server's per-proxy status; bounded
	}
	ln := nack.Types["listener"]
	if ln.LastNACK == nil || !strings.Contains(ln.LastNACK.Message, "mysql") {
		t.Errorf("the recorded NACK does not carry Envoy's message about the MySQL filter: %+v", ln.LastNACK)
	}
	if ln.Acked != good["listener"] {
		t.Errorf("listener ACKed version moved from %s to %s although Envoy rejected the update", good["listener"], ln.Acked)
	}
	t.Logf("%s: Envoy's NACK: %s", api, ln.LastNACK.Message)
	// Not /config_dump: it fails as a whole ("could not find @type") while
	// it holds the rejected listener, whose filter type Envoy does not know.
	active, err := e.Admin(context.Background(), "/listeners")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(active), fmt.Sprintf("0.0.0.0_%d", mysqlPort)) {
		t.Errorf("the rejected MySQL listener is active in Envoy:\n%s", active)
	}
	if !strings.Contains(string(active), fmt.Sprintf("0.0.0.0_%d", w.httpPort)) {
		t.Errorf("the HTTP listener is no longer active in Envoy:\n%s", active)
	}
	if body := get(t, client, httpURL, ""); body != "backend-a" {
		t.Errorf("after the NACK, GET %s = %q, want backend-a (last good configuration)", httpURL, body)
	}

	// The next good configuration (without the MySQL server, the route
	// moved to backend-b) is ACKed and served; the rejected version was
	// not sent again meanwhile.
	srv.Update(w.mesh("backend-b"))
	waitACKed(t, srv, e, 30*time.Second, good, "route")
	if body := get(t, client, httpURL, ""); body != "backend-b" {
		t.Errorf("GET %s after the good update = %q, want backend-b", httpURL, body)
	}
	st, _ := srv.Proxy(envoyNodeID)
	if n := st.Types["listener"].NACKs; n != 1 {
		t.Errorf("listener NACKs = %d, want 1 (the rejected version sent once)", n)
	}
}
