package dataplane

import (
	"net"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestListenerRemovalDrains(t *testing.T) {
	a := startBackend(t, "a", nil)
	v1 := resources{
		listeners: []*listenerv3.Listener{plainListener("keep", tcpProxyTo("a")), plainListener("gone", tcpProxyTo("a"))},
		clusters:  []*clusterv3.Cluster{staticCluster("a", a.addr)},
	}
	cp := newControlPlane(t)
	cp.set("v1", v1.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	goneAddr := g.ListenerAddr("gone").String()
	c, err := dial(goneAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.roundTrip("before"); err != nil {
		t.Fatal(err)
	}

	v2 := v1
	v2.listeners = v1.listeners[:1]
	cp.set("v2", v2.snapshot())
	eventually(t, "removed listener stops accepting", func() bool {
		nc, err := net.Dial("tcp", goneAddr)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	// The established connection is not cut.
	if err := c.roundTrip("after removal"); err != nil {
		t.Fatalf("established connection broken by listener removal: %v", err)
	}
	if got := metric(t, g, "meshgate_gateway_listeners_draining"); got != 1 {
		t.Fatalf("listeners_draining = %v, want 1", got)
	}
	if dump, _ := g.ConfigDump(); !strings.Contains(string(dump), "drainingState") {
		t.Fatalf("config dump shows no draining listener")
	}
	c.Close()
	eventually(t, "drained listener forgotten", func() bool {
		return metric(t, g, "meshgate_gateway_listeners_draining") == 0 &&
			metric(t, g, "meshgate_gateway_downstream_cx_active", "listener", "gone") == 0
	})
}

func TestDrainTimeoutClosesConnection(t *testing.T) {
	a := startBackend(t, "a", nil)
	v1 := resources{
		listeners: []*listenerv3.Listener{plainListener("gone", tcpProxyTo("a"))},
		clusters:  []*clusterv3.Cluster{staticCluster("a", a.addr)},
	}
	cp := newControlPlane(t)
	cp.set("v1", v1.snapshot())
	g := startGateway(t, cp, func(c *Config) { c.DrainTimeout = 50 * time.Millisecond })
	waitReady(t, g)
	c, err := dial(g.ListenerAddr("gone").String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cp.set("v2", resources{clusters: v1.clusters}.snapshot())
	if err := c.waitClosed(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "drain close counted", func() bool {
		return metric(t, g, "meshgate_gateway_downstream_cx_drain_closed_total", "listener", "gone") == 1
	})
}

// TestChainUpdateDrainsOnlyChangedChain: an in-place listener update keeps
// the socket; connections on unchanged chains live on, those on a changed
// chain drain.
func TestChainUpdateDrainsOnlyChangedChain(t *testing.T) {
	ca := newTestCA(t, "root")
	cert := ca.issue(t, []string{"a.example.com", "b.example.com"})
	mk := func(n string) *backend { return startBackend(t, n, tlsBackendConfig(cert.tls, nil)) }
	a, b, b2 := mk("a"), mk("b"), mk("b2")
	chains := func(bCluster string) *listenerv3.Listener {
		return listenerWith("sni", "127.0.0.1:0", true,
			chainTo("a", &listenerv3.FilterChainMatch{ServerNames: []string{"a.example.com"}}),
			chainTo(bCluster, &listenerv3.FilterChainMatch{ServerNames: []string{"b.example.com"}}))
	}
	clusters := []*clusterv3.Cluster{staticCluster("a", a.addr), staticCluster("b", b.addr), staticCluster("b2", b2.addr)}
	cp := newControlPlane(t)
	cp.set("v1", resources{listeners: []*listenerv3.Listener{chains("b")}, clusters: clusters}.snapshot())
	g := startGateway(t, cp, func(c *Config) { c.DrainTimeout = 100 * time.Millisecond })
	waitReady(t, g)
	addr := g.ListenerAddr("sni").String()
	ca1, err := dial(addr, clientTLS(ca, "a.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	defer ca1.Close()
	cb1, err := dial(addr, clientTLS(ca, "b.example.com"))
	if err != nil || cb1.name != "b" {
		t.Fatalf("b: %v %v", cb1, err)
	}
	defer cb1.Close()

	cp.set("v2", resources{listeners: []*listenerv3.Listener{chains("b2")}, clusters: clusters}.snapshot())
	eventually(t, "new chain serves new connections", func() bool {
		n, err := dialName(addr, clientTLS(ca, "b.example.com"))
		return err == nil && n == "b2"
	})
	if g.ListenerAddr("sni").String() != addr {
		t.Fatalf("in-place update moved the listener socket")
	}
	if err := cb1.waitClosed(); err != nil {
		t.Fatalf("connection on the changed chain: %v", err)
	}
	if err := ca1.roundTrip("still here"); err != nil {
		t.Fatalf("connection on an unchanged chain was cut: %v", err)
	}
}

func TestEndpointUpdateMovesNewConnections(t *testing.T) {
	one, two := startBackend(t, "one", nil), startBackend(t, "two", nil)
	res := resources{
		listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("svc"))},
		clusters:  []*clusterv3.Cluster{edsCluster("svc")},
		endpoints: []*endpointv3.ClusterLoadAssignment{cla("svc", ep{addr: one.addr})},
	}
	cp := newControlPlane(t)
	cp.set("v1", res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	addr := g.ListenerAddr("l").String()
	var c1 *clientConn
	eventually(t, "endpoint one", func() bool {
		var err error
		c1, err = dial(addr, nil)
		return err == nil
	})
	defer c1.Close()
	if c1.name != "one" {
		t.Fatalf("reached %q", c1.name)
	}
	res.endpoints = []*endpointv3.ClusterLoadAssignment{cla("svc", ep{addr: two.addr})}
	cp.set("v2", res.snapshot())
	eventually(t, "new connections reach the new endpoint", func() bool {
		n, err := dialName(addr, nil)
		return err == nil && n == "two"
	})
	if err := c1.roundTrip("old connection"); err != nil {
		t.Fatalf("endpoint update cut an established connection: %v", err)
	}
}

func hcmListener(name string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{StatPrefix: "http", RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{}}
	return listenerWith(name, "127.0.0.1:0", false, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAnyT(hcm)},
	}}})
}

// lastNACK waits for a NACK of typ for the given rejected version and returns its message.
func lastNACK(t *testing.T, cp *controlPlane, typ, acceptedVersion string) string {
	t.Helper()
	var msg string
	eventually(t, "NACK of "+typ, func() bool {
		for _, r := range cp.nacks() {
			if r.GetTypeUrl() == typ && r.GetVersionInfo() == acceptedVersion {
				msg = r.GetErrorDetail().GetMessage()
				return true
			}
		}
		return false
	})
	return msg
}

func TestNACKKeepsPreviousConfig(t *testing.T) {
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	clusters := []*clusterv3.Cluster{staticCluster("a", a.addr), staticCluster("b", b.addr)}
	cp := newControlPlane(t)
	cp.set("v1", resources{listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("a"))}, clusters: clusters}.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	addr := g.ListenerAddr("l").String()

	// v2 changes l (valid) and adds an HTTP listener (unsupported): the whole
	// LDS response is rejected, so l keeps routing to a.
	cp.set("v2", resources{listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("b")), hcmListener("http")}, clusters: clusters}.snapshot())
	msg := lastNACK(t, cp, resourcev3.ListenerType, "v1")
	for _, want := range []string{`listener "http"`, "HttpConnectionManager", "tcp_proxy"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("NACK error_detail %q lacks %q", msg, want)
		}
	}
	wantCounts(t, "after NACK", countNames(t, addr, 5), map[string]int{"a": 5})
	if metric(t, g, "meshgate_gateway_xds_nacks_total", "type", "lds") < 1 {
		t.Fatalf("NACK not counted")
	}
	dump, err := g.ConfigDump()
	if err != nil {
		t.Fatal(err)
	}
	compact := strings.Join(strings.Fields(string(dump)), "") // protojson spacing is deliberately unstable
	for _, want := range []string{`"versionInfo":"v1"`, `"errorState"`, `listener\"http\"`} {
		if !strings.Contains(compact, want) {
			t.Fatalf("config dump lacks %s:\n%s", want, dump)
		}
	}

	// A CDS response with an unsupported lb_policy is rejected as a whole too.
	bad := edsCluster("maglev", func(c *clusterv3.Cluster) { c.LbPolicy = clusterv3.Cluster_MAGLEV })
	cp.set("v3", resources{listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("a"))},
		clusters: append([]*clusterv3.Cluster{staticCluster("a", b.addr), bad}, clusters[1])}.snapshot())
	msg = lastNACK(t, cp, resourcev3.ClusterType, "v2") // CDS v2 was accepted (only LDS v2 was bad)
	if !strings.Contains(msg, `cluster "maglev"`) || !strings.Contains(msg, "lb_policy MAGLEV") {
		t.Fatalf("CDS NACK error_detail %q", msg)
	}
	eventually(t, "v3 listeners applied", func() bool { return ackedVersion(cp, resourcev3.ListenerType) == "v3" })
	wantCounts(t, "cluster a unchanged after CDS NACK", countNames(t, addr, 3), map[string]int{"a": 3})

	// A good version is applied.
	cp.set("v4", resources{listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("b"))}, clusters: clusters}.snapshot())
	eventually(t, "v4 applied", func() bool {
		n, err := dialName(addr, nil)
		return err == nil && n == "b"
	})
	if metric(t, g, "meshgate_gateway_xds_config_version_info", "type", "lds", "version", "v4") != 1 {
		t.Fatalf("version gauge not updated")
	}
}

func TestTrafficFlowsWhileControlPlaneDown(t *testing.T) {
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	clusters := []*clusterv3.Cluster{staticCluster("a", a.addr), staticCluster("b", b.addr)}
	cp := newControlPlane(t)
	cp.set("v1", resources{listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("a"))}, clusters: clusters}.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	addr := g.ListenerAddr("l").String()
	eventually(t, "stream up", func() bool { return metric(t, g, "meshgate_gateway_xds_connected") == 1 })

	cp.stop()
	eventually(t, "stream down", func() bool { return metric(t, g, "meshgate_gateway_xds_connected") == 0 })
	wantCounts(t, "control plane down", countNames(t, addr, 10), map[string]int{"a": 10})

	// The control plane comes back (same address) with new config.
	cp.set("v2", resources{listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("b"))}, clusters: clusters}.snapshot())
	cp.start(cp.addr)
	eventually(t, "reconnected and applied v2", func() bool {
		n, err := dialName(addr, nil)
		return err == nil && n == "b"
	})
	if got := metric(t, g, "meshgate_gateway_xds_streams_total"); got < 2 {
		t.Fatalf("xds_streams_total = %v, want a reconnect", got)
	}
}

func TestIdleTimeoutClosesConnection(t *testing.T) {
	a := startBackend(t, "a", nil)
	tp := &tcpproxyv3.TcpProxy{StatPrefix: "idle", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "a"},
		IdleTimeout: durationpb.New(100 * time.Millisecond)}
	cp := newControlPlane(t)
	cp.set("v1", resources{
		listeners: []*listenerv3.Listener{plainListener("l", &listenerv3.Filter{Name: tcpProxyName,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAnyT(tp)}})},
		clusters: []*clusterv3.Cluster{staticCluster("a", a.addr)},
	}.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	c, err := dial(g.ListenerAddr("l").String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The greeting went through; then nothing moves either way.
	if err := c.waitClosed(); err != nil {
		t.Fatalf("idle connection: %v", err)
	}
}

// TestListenerAddressChangeAndHandover: a listener moving to another port
// binds the new one and drains on the old; a listener replaced by another
// name on the same address takes over the socket (no bind conflict).
func TestListenerAddressChangeAndHandover(t *testing.T) {
	a := startBackend(t, "a", nil)
	clusters := []*clusterv3.Cluster{staticCluster("a", a.addr)}
	first, second, shared := deadAddr(t), deadAddr(t), deadAddr(t)
	mk := func(movingAddr, sharedName string) resources {
		return resources{clusters: clusters, listeners: []*listenerv3.Listener{
			listenerWith("moving", movingAddr, false, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{tcpProxyTo("a")}}),
			listenerWith(sharedName, shared, false, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{tcpProxyTo("a")}}),
		}}
	}
	cp := newControlPlane(t)
	cp.set("v1", mk(first, "old-name").snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	c, err := dial(first, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cp.set("v2", mk(second, "new-name").snapshot())
	eventually(t, "v2 applied", func() bool { return ackedVersion(cp, resourcev3.ListenerType) == "v2" })
	if g.ListenerAddr("moving").String() != second || g.ListenerAddr("new-name").String() != shared || g.ListenerAddr("old-name") != nil {
		t.Fatalf("listeners after v2: moving %v, new-name %v, old-name %v", g.ListenerAddr("moving"), g.ListenerAddr("new-name"), g.ListenerAddr("old-name"))
	}
	if nc, err := net.Dial("tcp", first); err == nil {
		nc.Close()
		t.Fatalf("old address still accepts")
	}
	for _, addr := range []string{second, shared} {
		if n, err := dialName(addr, nil); err != nil || n != "a" {
			t.Fatalf("%s: %q %v", addr, n, err)
		}
	}
	if err := c.roundTrip("still connected"); err != nil {
		t.Fatalf("connection on the moved listener cut: %v", err)
	}
}

// TestBindFailureRejectsWholeResponse: a listener whose address is taken
// makes the LDS response a NACK, and the sockets bound for the other new
// listeners of that response are released.
func TestBindFailureRejectsWholeResponse(t *testing.T) {
	a := startBackend(t, "a", nil)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := deadAddr(t)
	chain := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{tcpProxyTo("a")}}
	clusters := []*clusterv3.Cluster{staticCluster("a", a.addr)}
	cp := newControlPlane(t)
	cp.set("v1", resources{clusters: clusters, listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("a"))}}.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)

	cp.set("v2", resources{clusters: clusters, listeners: []*listenerv3.Listener{
		plainListener("l", tcpProxyTo("a")),
		listenerWith("a-fresh", free, false, chain), // bound first (names sort), then released
		listenerWith("z-clash", taken.Addr().String(), false, chain),
	}}.snapshot())
	msg := lastNACK(t, cp, resourcev3.ListenerType, "v1")
	if !strings.Contains(msg, `listener "z-clash"`) || !strings.Contains(msg, "address already in use") {
		t.Fatalf("NACK error_detail %q", msg)
	}
	if g.ListenerAddr("a-fresh") != nil {
		t.Fatalf("listener of a rejected response is active")
	}
	ln, err := net.Listen("tcp", free)
	if err != nil {
		t.Fatalf("socket bound for the rejected response not released: %v", err)
	}
	ln.Close()
}
