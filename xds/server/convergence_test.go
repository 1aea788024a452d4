package server

import (
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/metrictest"
)

// twoClusters is a mesh of the local cluster (a gateway on 8080, a
// service) and a remote one, west, whose service has the endpoints given,
// each observed at its own time.
func twoClusters(localAt, westAt time.Time, westAddrs ...string) *model.MeshState {
	local := &model.ClusterState{ID: "Kubernetes", Gateways: []model.Gateway{gateway("gw", ingressLabels, 8080)},
		Services: []model.Service{service("echo", "default", 80, "10.0.0.1:8080")}, ObservedAt: localAt}
	west := &model.ClusterState{ID: "west", Services: []model.Service{service("remote", "default", 90, westAddrs...)}, ObservedAt: westAt}
	local.Normalize()
	west.Normalize()
	return &model.MeshState{LocalCluster: "Kubernetes", Clusters: []*model.ClusterState{local, west}}
}

func holdsEndpoint(name, addr string) func(adstest.State) bool {
	return func(s adstest.State) bool {
		cla, ok := s.Resources[resource.EndpointType][name].(*endpointv3.ClusterLoadAssignment)
		if !ok {
			return false
		}
		for _, l := range cla.GetEndpoints() {
			for _, e := range l.GetLbEndpoints() {
				if e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress() == addr {
					return true
				}
			}
		}
		return false
	}
}

// TestConvergenceObservedOncePerGateway: two gateways (state of the world
// and delta) on real gRPC streams that ACK. A change of west's endpoints,
// observed there 250ms before it reaches the server, is counted once per
// gateway with at least those 250ms; the first configuration is not a
// convergence; a later change of the local cluster, which rebuilds
// everything (clusters, listeners, routes, endpoints resent), counts the
// local cluster and not west again.
func TestConvergenceObservedOncePerGateway(t *testing.T) {
	h := newHarness(t, Options{Envoy: fakeTranslate})
	t0 := time.Now().Add(-time.Hour) // the initial states: observed long ago
	h.srv.Update(twoClusters(t0, t0, "10.2.0.1:9090"))
	sotw := h.dial(gatewayNode("gw-a"), false)
	delta := h.dial(gatewayNode("gw-b"), true)
	eds := "outbound|90||remote.default.svc.cluster.local"
	for _, c := range []*adstest.Client{sotw, delta} {
		if _, err := c.WaitFor(h.ctx, holdsEndpoint(eds, "10.2.0.1")); err != nil {
			t.Fatal(err)
		}
	}
	count := func(cluster string) float64 {
		return metrictest.Sum(t, h.reg, "meshgate_mesh_convergence_seconds", map[string]string{"origin_cluster": cluster})
	}
	if n := count("west") + count("Kubernetes"); n != 0 {
		t.Fatalf("the first configuration counted %v convergences", n)
	}

	// west's endpoint changes; its daemon saw it 250ms ago.
	westAt := time.Now().Add(-250 * time.Millisecond)
	h.srv.Update(twoClusters(t0, westAt, "10.2.0.2:9090"))
	for _, c := range []*adstest.Client{sotw, delta} {
		if _, err := c.WaitFor(h.ctx, holdsEndpoint(eds, "10.2.0.2")); err != nil {
			t.Fatal(err)
		}
	}
	h.waitUntil("both gateways' ACKs counted for west", func() bool { return count("west") == 2 })
	hist := metrictest.Find(t, h.reg, "meshgate_mesh_convergence_seconds", map[string]string{"origin_cluster": "west"})
	if sum := hist[0].GetHistogram().GetSampleSum(); sum < 2*0.25 {
		t.Fatalf("west's convergence sums to %vs over 2 gateways, want ≥ 0.5s (each at least the 250ms before the server)", sum)
	}
	if d, at, ok := h.srv.LastConvergence("west"); !ok || d < 250*time.Millisecond || at.Before(westAt) {
		t.Fatalf("LastConvergence(west) = %v at %v (%v)", d, at, ok)
	}

	// A local change (a new gateway port: listeners, routes and clusters
	// rebuilt, endpoints resent) carries west's same observation.
	localAt := time.Now()
	m := twoClusters(localAt, westAt, "10.2.0.2:9090")
	m.Clusters[0].Gateways = []model.Gateway{gateway("gw", ingressLabels, 8080, 8081)}
	h.srv.Update(m)
	for _, c := range []*adstest.Client{sotw, delta} {
		if _, err := c.WaitFor(h.ctx, func(s adstest.State) bool { return s.Resources[resource.ListenerType]["0.0.0.0_8081"] != nil }); err != nil {
			t.Fatal(err)
		}
	}
	h.waitUntil("both gateways' ACKs counted for the local cluster", func() bool { return count("Kubernetes") == 2 })
	// Every response of the local change was ACKed after west's (ordered
	// streams), and the local change's ACKs are counted: west's count is final.
	if n := count("west"); n != 2 {
		t.Fatalf("west's change counted %v times over 2 gateways, want 2", n)
	}
	if n := metrictest.Sum(t, h.reg, "meshgate_xds_ack_seconds", nil); n == 0 {
		t.Error("no ack stage observed")
	}
	if n := metrictest.Sum(t, h.reg, "meshgate_xds_push_seconds", nil); n == 0 {
		t.Error("no push stage observed")
	}
}
