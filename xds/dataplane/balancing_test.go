package dataplane

import (
	"net"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// plainListener is a TCP listener with one catch-all chain.
func plainListener(name string, proxy *listenerv3.Filter) *listenerv3.Listener {
	return listenerWith(name, "127.0.0.1:0", false, &listenerv3.FilterChain{Filters: []*listenerv3.Filter{proxy}})
}

// countNames makes n sequential connections and counts the backends reached.
func countNames(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		name, err := dialName(addr, nil)
		if err != nil {
			t.Fatalf("connection through gateway: %v", err)
		}
		got[name]++
	}
	return got
}

func wantCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	bs := map[string]*backend{}
	for _, n := range []string{"w1", "w2", "w3", "z1-a", "z2-b", "z2-c", "s1", "s2"} {
		bs[n] = startBackend(t, n, nil)
	}
	res := resources{
		listeners: []*listenerv3.Listener{
			plainListener("wrr", tcpProxyTo("wrr")),
			plainListener("loc", tcpProxyTo("loc")),
			plainListener("split", weightedTCPProxy(map[string]uint32{"s1": 1, "s2": 3})),
		},
		clusters: []*clusterv3.Cluster{
			edsCluster("wrr"), edsCluster("loc"),
			staticCluster("s1", bs["s1"].addr), staticCluster("s2", bs["s2"].addr),
		},
	}
	res.endpoints = append(res.endpoints,
		cla("wrr", ep{addr: bs["w1"].addr, weight: 1}, ep{addr: bs["w2"].addr, weight: 2}, ep{addr: bs["w3"].addr, weight: 3}),
		// Localities weigh 1:1; z2 has two endpoints: z1-a gets half.
		claWithLocalities("loc", map[string]uint32{"z1": 1, "z2": 1},
			ep{addr: bs["z1-a"].addr, locality: "z1"}, ep{addr: bs["z2-b"].addr, locality: "z2"}, ep{addr: bs["z2-c"].addr, locality: "z2"}),
	)
	cp := newControlPlane(t)
	cp.set("v1", res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	eventually(t, "endpoints applied", func() bool {
		return metric(t, g, "meshgate_gateway_xds_config_applied_total", "type", "eds") >= 1
	})

	wantCounts(t, "endpoint weights 1:2:3", countNames(t, g.ListenerAddr("wrr").String(), 600),
		map[string]int{"w1": 100, "w2": 200, "w3": 300})
	wantCounts(t, "locality weights 1:1", countNames(t, g.ListenerAddr("loc").String(), 400),
		map[string]int{"z1-a": 200, "z2-b": 100, "z2-c": 100})
	wantCounts(t, "weighted_clusters 1:3", countNames(t, g.ListenerAddr("split").String(), 400),
		map[string]int{"s1": 100, "s2": 300})
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func withOutlier(od *clusterv3.OutlierDetection) func(*clusterv3.Cluster) {
	return func(c *clusterv3.Cluster) { c.OutlierDetection = od }
}

func TestConnectRetriedOnAnotherEndpoint(t *testing.T) {
	live := startBackend(t, "live", nil)
	dead := deadAddr(t)
	noEjection := withOutlier(&clusterv3.OutlierDetection{Consecutive_5Xx: wrapperspb.UInt32(0)})
	once := &tcpproxyv3.TcpProxy{StatPrefix: "once", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "once"},
		MaxConnectAttempts: wrapperspb.UInt32(1)}
	res := resources{
		listeners: []*listenerv3.Listener{
			plainListener("retry", tcpProxyTo("retry")),
			plainListener("once", &listenerv3.Filter{Name: tcpProxyName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAnyT(once)}}),
		},
		clusters:  []*clusterv3.Cluster{edsCluster("retry", noEjection), edsCluster("once", noEjection)},
		endpoints: []*endpointv3.ClusterLoadAssignment{cla("retry", ep{addr: dead}, ep{addr: live.addr}), cla("once", ep{addr: dead}, ep{addr: live.addr})},
	}
	cp := newControlPlane(t)
	cp.set("v1", res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	eventually(t, "endpoints applied", func() bool {
		return metric(t, g, "meshgate_gateway_xds_config_applied_total", "type", "eds") >= 1
	})

	// Default: 3 attempts, each on an endpoint not tried yet: every connection succeeds.
	wantCounts(t, "with retries", countNames(t, g.ListenerAddr("retry").String(), 20), map[string]int{"live": 20})
	fails := metric(t, g, "meshgate_gateway_upstream_cx_connect_fail_total", "cluster", "retry")
	retries := metric(t, g, "meshgate_gateway_upstream_cx_retries_total", "cluster", "retry")
	if fails != 10 || retries != 10 {
		t.Fatalf("round robin over dead+live: connect failures %v, retries %v; want 10 and 10", fails, retries)
	}
	// max_connect_attempts 1: connections that drew the dead endpoint are closed.
	ok, closed := 0, 0
	for range 20 {
		if _, err := dialName(g.ListenerAddr("once").String(), nil); err != nil {
			closed++
		} else {
			ok++
		}
	}
	if ok != 10 || closed != 10 || metric(t, g, "meshgate_gateway_upstream_cx_retries_total", "cluster", "once") != 0 {
		t.Fatalf("max_connect_attempts 1: %d ok, %d closed, want 10/10 and no retry", ok, closed)
	}
}

// fakeClock is the outlier-detection clock of a test gateway.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestOutlierEjectionAndReturn(t *testing.T) {
	live := startBackend(t, "live", nil)
	dead := deadAddr(t)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	res := resources{
		listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("c"))},
		clusters: []*clusterv3.Cluster{edsCluster("c", withOutlier(&clusterv3.OutlierDetection{
			Consecutive_5Xx: wrapperspb.UInt32(2), BaseEjectionTime: durationpb.New(30 * time.Second),
			Interval: durationpb.New(10 * time.Second), MaxEjectionPercent: wrapperspb.UInt32(50),
		}))},
		endpoints: []*endpointv3.ClusterLoadAssignment{cla("c", ep{addr: dead}, ep{addr: live.addr})},
	}
	cp := newControlPlane(t)
	cp.set("v1", res.snapshot())
	g := startGateway(t, cp, func(c *Config) { c.Now = clk.now })
	waitReady(t, g)
	eventually(t, "endpoints applied", func() bool {
		return metric(t, g, "meshgate_gateway_xds_config_applied_total", "type", "eds") >= 1
	})
	addr := g.ListenerAddr("l").String()
	ejections := func() float64 { return metric(t, g, "meshgate_gateway_outlier_ejections_total", "cluster", "c") }
	fails := func() float64 { return metric(t, g, "meshgate_gateway_upstream_cx_connect_fail_total", "cluster", "c") }

	for i := 0; ejections() == 0; i++ {
		if i == 10 {
			t.Fatalf("dead endpoint not ejected after %d connections (%v connect failures)", i, fails())
		}
		countNames(t, addr, 1)
	}
	if fails() != 2 || metric(t, g, "meshgate_gateway_outlier_ejections_active", "cluster", "c") != 1 {
		t.Fatalf("ejected after %v failures (want 2), active %v", fails(), metric(t, g, "meshgate_gateway_outlier_ejections_active", "cluster", "c"))
	}
	// While ejected the dead endpoint is not tried at all.
	wantCounts(t, "while ejected", countNames(t, addr, 10), map[string]int{"live": 10})
	if fails() != 2 {
		t.Fatalf("ejected endpoint was tried: %v connect failures", fails())
	}
	// After the base ejection time it is tried again; failing again ejects
	// it for twice as long (Envoy's multiplier).
	clk.advance(30 * time.Second)
	for i := 0; ejections() < 2; i++ {
		if i == 10 {
			t.Fatalf("endpoint not tried and re-ejected after its ejection time (%v failures)", fails())
		}
		countNames(t, addr, 1)
	}
	f := fails()
	clk.advance(30 * time.Second)
	countNames(t, addr, 4)
	if fails() != f {
		t.Fatalf("second ejection shorter than 2x base: endpoint tried after 30s")
	}
	clk.advance(30 * time.Second)
	countNames(t, addr, 4)
	if fails() == f {
		t.Fatalf("endpoint not back after 2x base ejection time")
	}
}

// TestDNSClusterAndCircuitBreaker: a STRICT_DNS cluster resolves its host
// name at connect; max_connections refuses connections beyond the limit.
func TestDNSClusterAndCircuitBreaker(t *testing.T) {
	b := startBackend(t, "dns-backend", nil)
	_, port, _ := net.SplitHostPort(b.addr)
	dns := staticCluster("dns", "127.0.0.1:"+port)
	dns.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
	dns.LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().Address = "localhost"
	dns.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxConnections: wrapperspb.UInt32(1)}}}
	cp := newControlPlane(t)
	cp.set("v1", resources{listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("dns"))}, clusters: []*clusterv3.Cluster{dns}}.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	addr := g.ListenerAddr("l").String()
	first, err := dial(addr, nil)
	if err != nil || first.name != "dns-backend" {
		t.Fatalf("through a STRICT_DNS cluster: %v %v", first, err)
	}
	if _, err := dialName(addr, nil); err == nil {
		t.Fatalf("second connection accepted beyond max_connections 1")
	}
	if metric(t, g, "meshgate_gateway_upstream_cx_overflow_total", "cluster", "dns") != 1 {
		t.Fatalf("overflow not counted")
	}
	first.Close()
	eventually(t, "a slot frees when the first connection closes", func() bool {
		n, err := dialName(addr, nil)
		return err == nil && n == "dns-backend"
	})
}
