package dataplane

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/xds/dataplane/tlsinspect"
)

// TestFilterChainMatchingThroughGateway drives real TLS clients with
// various SNI/ALPN through the gateway to real TLS backends.
func TestFilterChainMatchingThroughGateway(t *testing.T) {
	ca := newTestCA(t, "root")
	cert := ca.issue(t, []string{"*.example.com", "*.b.example.com", "*.b.c.example.com", "example.com", "other.org"})
	chains := map[string]*listenerv3.FilterChainMatch{
		"exact-a":    {ServerNames: []string{"a.example.com"}},
		"wild":       {ServerNames: []string{"*.example.com"}},
		"wild-b":     {ServerNames: []string{"*.b.example.com"}},
		"exact-b":    {ServerNames: []string{"exact.b.example.com"}},
		"alpn-h2":    {ServerNames: []string{"alpn.example.com"}, ApplicationProtocols: []string{"h2"}},
		"alpn-istio": {ServerNames: []string{"alpn.example.com"}, ApplicationProtocols: []string{"istio", "istio-peer-exchange"}},
		"alpn-none":  {ServerNames: []string{"alpn.example.com"}},
	}
	var res resources
	var fcs []*listenerv3.FilterChain
	for _, name := range sortedKeys(chains) {
		b := startBackend(t, name, tlsBackendConfig(cert.tls, nil, "h2", "istio", "foo"))
		fcs = append(fcs, chainTo(name, chains[name]))
		res.clusters = append(res.clusters, staticCluster(name, b.addr))
	}
	res.listeners = append(res.listeners, listenerWith("tls", "127.0.0.1:0", true, fcs...))
	cp := newControlPlane(t)
	cp.set("v1", res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	addr := g.ListenerAddr("tls").String()

	tests := []struct {
		sni  string
		alpn []string
		want string // backend name; "" = the gateway closes the connection
	}{
		{sni: "a.example.com", want: "exact-a"},
		{sni: "x.example.com", want: "wild"},
		{sni: "a.b.c.example.com", want: "wild"},
		{sni: "y.b.example.com", want: "wild-b"},
		{sni: "exact.b.example.com", want: "exact-b"},
		{sni: "EXACT.b.example.com", want: "exact-b"},
		{sni: "alpn.example.com", alpn: []string{"h2"}, want: "alpn-h2"},
		{sni: "alpn.example.com", alpn: []string{"istio", "h2"}, want: "alpn-istio"},
		{sni: "alpn.example.com", alpn: []string{"h2", "istio"}, want: "alpn-h2"},
		{sni: "alpn.example.com", alpn: []string{"foo"}, want: "alpn-none"},
		{sni: "alpn.example.com", want: "alpn-none"},
		{sni: "example.com"},
		{sni: "other.org"},
		{sni: ""},
	}
	closed := 0
	for _, tt := range tests {
		cfg := clientTLS(ca, tt.sni, tt.alpn...)
		if tt.sni == "" {
			cfg.InsecureSkipVerify = true
		}
		got, err := dialName(addr, cfg)
		if tt.want == "" {
			if err == nil {
				t.Errorf("SNI %q ALPN %v: reached %q, want connection closed", tt.sni, tt.alpn, got)
			}
			closed++
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("SNI %q ALPN %v: got %q (%v), want %q", tt.sni, tt.alpn, got, err, tt.want)
		}
	}
	// A plain-text client: no TLS, no chain for raw_buffer.
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		if n, _ := c.Read(make([]byte, 1)); n != 0 {
			t.Errorf("plain-text client got data")
		}
		c.Close()
		closed++
	}
	eventually(t, "no-match closes counted", func() bool {
		return metric(t, g, "meshgate_gateway_downstream_cx_no_filter_chain_match_total", "listener", "tls") == float64(closed)
	})
}

func mustMatch(t *testing.T, m *listenerv3.FilterChainMatch) chainMatch {
	t.Helper()
	cm, err := compileMatch(m)
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// TestMatchChainCriteria covers the criteria beyond SNI/ALPN, in Envoy's
// order of precedence, without sockets.
func TestMatchChainCriteria(t *testing.T) {
	cidr := func(p string, n uint32) []*corev3.CidrRange {
		return []*corev3.CidrRange{{AddressPrefix: p, PrefixLen: wrapperspb.UInt32(n)}}
	}
	defs := []struct {
		name string
		m    *listenerv3.FilterChainMatch
	}{
		{"port-15443", &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(15443)}},
		{"port-15443-tls", &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(15443), TransportProtocol: "tls"}},
		{"dst-10/8", &listenerv3.FilterChainMatch{PrefixRanges: cidr("10.0.0.0", 8)}},
		{"dst-10.1/16", &listenerv3.FilterChainMatch{PrefixRanges: cidr("10.1.0.0", 16)}},
		{"src-192.168/16", &listenerv3.FilterChainMatch{PrefixRanges: cidr("10.2.0.0", 16), SourcePrefixRanges: cidr("192.168.0.0", 16)}},
		{"src-any", &listenerv3.FilterChainMatch{PrefixRanges: cidr("10.2.0.0", 16)}},
		{"srcport", &listenerv3.FilterChainMatch{PrefixRanges: cidr("10.3.0.0", 16), SourcePorts: []uint32{4000}}},
		{"local", &listenerv3.FilterChainMatch{PrefixRanges: cidr("10.4.0.0", 16), SourceType: listenerv3.FilterChainMatch_SAME_IP_OR_LOOPBACK}},
		{"external", &listenerv3.FilterChainMatch{PrefixRanges: cidr("10.4.0.0", 16), SourceType: listenerv3.FilterChainMatch_EXTERNAL}},
	}
	var chains []*filterChain
	for _, d := range defs {
		chains = append(chains, &filterChain{name: d.name, match: mustMatch(t, d.m)})
	}
	if err := checkOverlaps(chains); err != nil {
		t.Fatalf("checkOverlaps: %v", err)
	}
	def := &filterChain{name: "default"}
	ap := netip.MustParseAddrPort
	tests := []struct {
		dst, src string
		tls      bool
		want     string
	}{
		{"10.9.9.9:15443", "1.1.1.1:1", false, "port-15443"},
		{"10.9.9.9:15443", "1.1.1.1:1", true, "port-15443-tls"},
		{"10.9.9.9:80", "1.1.1.1:1", false, "dst-10/8"},
		{"10.1.2.3:80", "1.1.1.1:1", false, "dst-10.1/16"},
		{"10.2.2.3:80", "192.168.1.1:1", false, "src-192.168/16"},
		{"10.2.2.3:80", "172.16.1.1:1", false, "src-any"},
		{"10.3.0.1:80", "1.1.1.1:4000", false, "srcport"},
		{"10.3.0.1:80", "1.1.1.1:4001", false, "default"},
		{"10.4.0.1:80", "127.0.0.1:5", false, "local"},
		{"10.4.0.1:80", "10.4.0.1:5", false, "local"},
		{"10.4.0.1:80", "8.8.8.8:5", false, "external"},
		{"192.0.2.1:80", "1.1.1.1:1", false, "default"},
	}
	for _, tt := range tests {
		ci := &connInfo{dst: ap(tt.dst), src: ap(tt.src), hello: tlsinspect.Hello{TLS: tt.tls}}
		if got := matchChain(chains, def, ci); got.name != tt.want {
			t.Errorf("dst %s src %s tls %v: got %s, want %s", tt.dst, tt.src, tt.tls, got.name, tt.want)
		}
	}
}

func TestCheckOverlaps(t *testing.T) {
	a := &filterChain{match: mustMatch(t, &listenerv3.FilterChainMatch{ServerNames: []string{"a", "b"}, ApplicationProtocols: []string{"istio"}})}
	b := &filterChain{match: mustMatch(t, &listenerv3.FilterChainMatch{ServerNames: []string{"b"}, ApplicationProtocols: []string{"h2", "istio"}})}
	c := &filterChain{match: mustMatch(t, &listenerv3.FilterChainMatch{ServerNames: []string{"b"}})}
	if err := checkOverlaps([]*filterChain{a, c}); err != nil {
		t.Fatalf("a and c do not overlap: %v", err)
	}
	if err := checkOverlaps([]*filterChain{a, b}); err == nil {
		t.Fatalf("a and b both match SNI b + ALPN istio: want an error")
	}
}

func TestServerNameScore(t *testing.T) {
	names := []string{"*.example.com", "*.b.example.com", "x.b.example.com"}
	for _, tt := range []struct {
		sni  string
		want []string // the names that win
	}{
		{"x.b.example.com", []string{"x.b.example.com"}},
		{"y.b.example.com", []string{"*.b.example.com"}},
		{"z.example.com", []string{"*.example.com"}},
		{"example.com", nil},
	} {
		best, bestScore := []string(nil), -1
		for _, n := range names {
			s, ok := serverNameScore([]string{n}, tt.sni)
			switch {
			case !ok:
			case s > bestScore:
				best, bestScore = []string{n}, s
			case s == bestScore:
				best = append(best, n)
			}
		}
		if !slices.Equal(best, tt.want) {
			t.Errorf("%s: winners %v, want %v", tt.sni, best, tt.want)
		}
	}
}
