package server

import (
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/xds/translate"
)

// TestReconnectThenRouteOnlyChange: an Envoy that reconnects (to this server,
// or to a restarted daemon that builds the same configuration) holding the
// current clusters gets no cluster response: its version is current. A
// later change of listeners and routes only (a new gateway port, a new
// VirtualService to an existing cluster) must still reach it, although its
// make-before-break step 1 has no cluster to send. Found by the e2e tier's
// real Envoy after kill -9 of its daemon (TestEnvoyChaosKillDaemons): the
// update stayed staged for ever, and the Envoy never got the new route.
func TestReconnectThenRouteOnlyChange(t *testing.T) {
	h := newHarness(t, Options{Envoy: fakeTranslate})
	cs := baseCluster()
	h.srv.Update(mesh(cs))
	first := h.dial(gatewayNode("gw-1"), false)
	res, _ := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	held := h.waitConfig(first, expected(res))
	first.Close()
	h.waitUntil("the first stream is gone", func() bool { _, ok := h.srv.Proxy(gwID); return !ok })

	again, err := adstest.Dial(h.ctx, h.cc, gatewayNode("gw-1"), false, adstest.Resume(held))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(again.Close)
	// Every version it holds is current, endpoints included (content
	// versions, edscache.go): it is served once its group is built and its
	// endpoint request resumed what it holds.
	h.waitUntil("the reconnected proxy is served", func() bool { return resumed(h.srv, gwID) })
	for _, typ := range []string{resource.ClusterType, resource.EndpointType} {
		if n := again.State().Count(typ); n != 0 {
			t.Fatalf("the reconnected proxy got %d %s responses; the test needs it to hold the current version", n, typ)
		}
	}

	cs.Gateways[0] = withTLS(gateway("gw", ingressLabels, 80, 443, 8081), 1, "web-cert")
	h.srv.Update(mesh(cs))
	res, _ = fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	if len(res.Listeners) != 3 || len(res.Clusters) != len(held.Resources[resource.ClusterType]) {
		t.Fatalf("the change should add a listener and no cluster: %d listeners, %d clusters", len(res.Listeners), len(res.Clusters))
	}
	// (waitConfig would also want a cluster response: none is due here.)
	want := expected(res)
	if st, err := again.WaitFor(h.ctx, func(s adstest.State) bool { return diff(s.Resources, want) == "" }); err != nil {
		p, _ := h.srv.Proxy(gwID)
		t.Fatalf("the reconnected proxy never got the new listener and route (%v; staged=%v); difference:\n%s", err, p.Staged, diff(st.Resources, want))
	}
	if p, _ := h.srv.Proxy(gwID); p.Staged {
		t.Error("proxy still staged after the update arrived")
	}
}

// resumed reports whether node id's group is built and its state-of-the-
// world endpoint request resumed what it holds.
func resumed(s *Server, id string) bool {
	p := s.proxyOf(id)
	if p == nil {
		return false
	}
	p.group.mu.Lock()
	defer p.group.mu.Unlock()
	found := false
	s.streams.Range(func(_, v any) bool {
		if e := v.(*stream).eds; e != nil && e.p == p && e.held.names != nil && !e.held.sent {
			found = true
		}
		return !found
	})
	return p.group.target != nil && found
}

// TestReplicaMoveResendsNoEndpoints: two servers (replicas of one cluster's
// daemon) fed the same mesh state give a gateway the same endpoint
// version_info, although their endpoint caches saw different histories (the
// second one served another state first); a gateway that moves from one to
// the other, resuming what it holds, gets no endpoint response, and a later
// endpoint change reaches it from the new server, only what changed, under
// the version the other server gives the same state.
func TestReplicaMoveResendsNoEndpoints(t *testing.T) {
	a := newHarness(t, Options{Envoy: fakeTranslate})
	b := newHarness(t, Options{Envoy: fakeTranslate})
	cs := baseCluster()
	earlier := baseCluster()
	earlier.Services[0] = service("echo", "default", 8080, "10.0.0.9:8080")
	want := func(cs model.ClusterState) map[string]map[string]proto.Message {
		res, err := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		return expected(res)
	}

	// b's group has a history: another gateway of the group saw an earlier
	// state, then the current one.
	b.srv.Update(mesh(earlier))
	other := b.dial(gatewayNode("gw-2"), false)
	b.waitConfig(other, want(earlier))
	b.srv.Update(mesh(cs))
	onB := b.waitConfig(other, want(cs))

	a.srv.Update(mesh(cs))
	first := a.dial(gatewayNode("gw-1"), false)
	held := a.waitConfig(first, want(cs))
	if va, vb := held.Versions[resource.EndpointType], onB.Versions[resource.EndpointType]; va != vb {
		t.Fatalf("endpoint version_info for the same state: %q from one server, %q from the other", va, vb)
	}
	first.Close()
	a.waitUntil("the first stream is gone", func() bool { _, ok := a.srv.Proxy(gwID); return !ok })

	moved, err := adstest.Dial(b.ctx, b.cc, gatewayNode("gw-1"), false, adstest.Resume(held))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moved.Close)
	b.waitUntil("the moved gateway resumed its endpoints", func() bool { return resumed(b.srv, gwID) })
	if n := moved.State().Count(resource.EndpointType); n != 0 {
		t.Errorf("the moved gateway got %d endpoint responses; it holds the current version %q", n, held.Versions[resource.EndpointType])
	}

	next := baseCluster()
	next.Services[1] = service("web", "default", 80, "10.0.1.1:9090", "10.0.1.2:9090")
	b.srv.Update(mesh(next))
	got, err := moved.WaitFor(b.ctx, func(s adstest.State) bool { return diff(s.Resources, want(next)) == "" })
	if err != nil {
		t.Fatalf("the moved gateway never got the endpoint change (%v):\n%s", err, diff(got.Resources, want(next)))
	}
	if n := got.Count(resource.EndpointType); n != 1 {
		t.Errorf("the moved gateway got %d endpoint responses for one change, want 1", n)
	}
	a.srv.Update(mesh(next))
	fresh := a.waitConfig(a.dial(gatewayNode("gw-3"), false), want(next))
	if va, vb := fresh.Versions[resource.EndpointType], got.Versions[resource.EndpointType]; va != vb {
		t.Errorf("endpoint version_info after the change: %q from one server, %q from the other", va, vb)
	}
}
