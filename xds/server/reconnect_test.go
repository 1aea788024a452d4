package server

import (
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

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
	// The reconnected proxy has its first build once its endpoints (the
	// only type whose version a new group restarts) are acknowledged.
	h.waitUntil("the reconnected proxy is served", func() bool {
		p, ok := h.srv.Proxy(gwID)
		return ok && p.Types["endpoint"] != nil && p.Types["endpoint"].Acked != ""
	})
	if n := again.State().Count(resource.ClusterType); n != 0 {
		t.Fatalf("the reconnected proxy got %d cluster responses; the test needs it to hold the current version", n)
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
