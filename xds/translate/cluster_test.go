package translate

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
)

// policyMesh is a gateway routing everything to svc.default:8080 with the DestinationRule dr.
func policyMesh(dr *model.DestinationRule, se *model.ServiceEntry) *model.MeshState {
	c := &model.ClusterState{ID: "c",
		Gateways: []model.Gateway{{Meta: model.Meta{Name: "gw", Namespace: "istio-system"}, Selector: map[string]string{"istio": "ingressgateway"},
			Servers: []model.Server{{Port: model.Port{Number: 80, Name: "http", Protocol: model.ProtocolHTTP}, Hosts: []string{"*"}}}}},
		Services: []model.Service{{Meta: model.Meta{Name: "svc", Namespace: "default"}, Hostname: "svc.default.svc.cluster.local",
			Ports: []model.ServicePort{{Name: "http", Port: 8080}},
			Endpoints: []model.Endpoint{{Address: "10.0.0.1", Ready: true, ServiceAccount: "svc", TLSMode: "istio", Labels: map[string]string{"v": "1"},
				Ports: []model.EndpointPort{{Name: "http", Port: 8080}}}}}},
	}
	host := "svc.default.svc.cluster.local"
	if se != nil {
		c.ServiceEntries = []model.ServiceEntry{*se}
		host = se.Hosts[0]
	}
	c.VirtualServices = []model.VirtualService{{Meta: model.Meta{Name: "vs", Namespace: "default"}, Hosts: []string{"*"}, Gateways: []string{"istio-system/gw"},
		HTTP: []model.HTTPRoute{{Route: []model.HTTPRouteDestination{{Destination: model.Destination{Host: host, Port: 8080}}}}}}}
	if dr != nil {
		c.DestinationRules = []model.DestinationRule{*dr}
	}
	c.Normalize()
	return &model.MeshState{LocalCluster: "c", Clusters: []*model.ClusterState{c}}
}

func onlyCluster(t *testing.T, mesh *model.MeshState) *clusterv3.Cluster {
	t.Helper()
	r, err := Translate(mesh, Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}, DefaultOptions())
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("err=%v errors=%v", err, r.Errors)
	}
	if len(r.Clusters) != 1 {
		t.Fatalf("want 1 cluster, got %d", len(r.Clusters))
	}
	return r.Clusters[0]
}

func upstreamCtx(t *testing.T, c *clusterv3.Cluster) *tlsv3.UpstreamTlsContext {
	t.Helper()
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
		t.Fatalf("transport socket: %v", err)
	}
	return ctx
}

func TestTrafficPolicy(t *testing.T) {
	u32 := func(v uint32) *uint32 { return &v }
	d := func(v time.Duration) *time.Duration { return &v }
	top := func(portLevel []model.PortTrafficPolicy) *model.DestinationRule {
		return &model.DestinationRule{Meta: model.Meta{Name: "svc", Namespace: "default"}, Host: "svc",
			TrafficPolicy: &model.TrafficPolicy{
				LoadBalancer:      &model.LoadBalancer{Simple: "RANDOM"},
				ConnectionPool:    &model.ConnectionPool{TCP: &model.TCPPool{MaxConnections: 7, ConnectTimeout: d(3 * time.Second)}, HTTP: &model.HTTPPool{HTTP1MaxPendingRequests: 9}},
				OutlierDetection:  &model.OutlierDetection{Consecutive5xxErrors: u32(4), Interval: d(time.Second), BaseEjectionTime: d(30 * time.Second), MaxEjectionPercent: 50},
				PortLevelSettings: portLevel,
			}}
	}
	t.Run("top level applies to ports without port-level settings", func(t *testing.T) {
		c := onlyCluster(t, policyMesh(top([]model.PortTrafficPolicy{{Port: 9090, LoadBalancer: &model.LoadBalancer{Simple: "ROUND_ROBIN"}}}), nil))
		if c.LbPolicy != clusterv3.Cluster_RANDOM {
			t.Errorf("lb %v, want the top-level RANDOM", c.LbPolicy)
		}
		th := c.CircuitBreakers.Thresholds[0]
		if th.MaxConnections.GetValue() != 7 || th.MaxPendingRequests.GetValue() != 9 || c.ConnectTimeout.AsDuration() != 3*time.Second {
			t.Errorf("pool not applied: %v %v %v", th.MaxConnections, th.MaxPendingRequests, c.ConnectTimeout)
		}
		od := c.OutlierDetection
		if od.GetConsecutive_5Xx().GetValue() != 4 || od.GetBaseEjectionTime().AsDuration() != 30*time.Second || od.GetMaxEjectionPercent().GetValue() != 50 {
			t.Errorf("outlier detection: %v", od)
		}
		if len(c.TransportSocketMatches) != 2 {
			t.Errorf("no tls policy: auto mTLS matches expected, got %d", len(c.TransportSocketMatches))
		}
	})
	t.Run("port-level settings replace the top level and do not inherit", func(t *testing.T) {
		// istiod (GetPortLevelTrafficPolicy): "port level policies do not inherit";
		// fields the port-level entry leaves out get Envoy/istiod defaults.
		c := onlyCluster(t, policyMesh(top([]model.PortTrafficPolicy{{Port: 8080, LoadBalancer: &model.LoadBalancer{Simple: "ROUND_ROBIN"}}}), nil))
		if c.LbPolicy != clusterv3.Cluster_ROUND_ROBIN {
			t.Errorf("lb %v, want the port-level ROUND_ROBIN", c.LbPolicy)
		}
		th := c.CircuitBreakers.Thresholds[0]
		if th.MaxConnections.GetValue() != math.MaxUint32 || th.MaxPendingRequests.GetValue() != math.MaxUint32 || c.ConnectTimeout.AsDuration() != defaultConnectTimeout {
			t.Errorf("top-level pool inherited: %v %v %v", th.MaxConnections, th.MaxPendingRequests, c.ConnectTimeout)
		}
		if c.OutlierDetection != nil {
			t.Errorf("top-level outlier detection inherited: %v", c.OutlierDetection)
		}
	})
	t.Run("subset port-level settings replace every field", func(t *testing.T) {
		dr := top(nil)
		dr.Subsets = []model.Subset{{Name: "v1", Labels: map[string]string{"v": "1"}, TrafficPolicy: &model.TrafficPolicy{
			PortLevelSettings: []model.PortTrafficPolicy{{Port: 8080, OutlierDetection: &model.OutlierDetection{Consecutive5xxErrors: u32(2)}}},
		}}}
		p := effectivePolicy(dr, &dr.Subsets[0], 8080)
		if p.LB != nil || p.Pool != nil || p.Outlier == nil || *p.Outlier.Consecutive5xxErrors != 2 {
			t.Errorf("subset port level: lb %v pool %v outlier %v", p.LB, p.Pool, p.Outlier)
		}
		p = effectivePolicy(dr, &dr.Subsets[0], 9090)
		if p.LB == nil || p.LB.Simple != "RANDOM" || p.Pool == nil || p.Outlier == nil || *p.Outlier.Consecutive5xxErrors != 4 {
			t.Errorf("other port: lb %v pool %v outlier %v", p.LB, p.Pool, p.Outlier)
		}
	})
}

func TestUpstreamTLSModes(t *testing.T) {
	withTLS := func(tls *model.ClientTLS) *model.DestinationRule {
		return &model.DestinationRule{Meta: model.Meta{Name: "svc", Namespace: "default"}, Host: "svc", TrafficPolicy: &model.TrafficPolicy{TLS: tls}}
	}
	t.Run("ISTIO_MUTUAL", func(t *testing.T) {
		ctx := upstreamCtx(t, onlyCluster(t, policyMesh(withTLS(&model.ClientTLS{Mode: model.ClientTLSIstioMutual}), nil)))
		if ctx.Sni != "outbound_.8080_._.svc.default.svc.cluster.local" {
			t.Errorf("sni %q", ctx.Sni)
		}
		vc := ctx.CommonTlsContext.GetCombinedValidationContext()
		if vc.GetValidationContextSdsSecretConfig().GetName() != SecretRootCA || ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs[0].Name != SecretDefault {
			t.Errorf("sds names: %v", ctx.CommonTlsContext)
		}
		// As istiod: match_subject_alt_names only (any SAN type); typed
		// matchers would narrow the check to one type.
		want := "spiffe://cluster.local/ns/default/sa/svc"
		if got := vc.GetDefaultValidationContext().GetMatchSubjectAltNames(); len(got) != 1 || got[0].GetExact() != want {
			t.Errorf("deprecated SANs %v", got)
		}
		if got := vc.GetDefaultValidationContext().GetMatchTypedSubjectAltNames(); len(got) != 0 {
			t.Errorf("typed SANs %v", got)
		}
	})
	t.Run("SIMPLE without CA uses the system roots", func(t *testing.T) {
		ctx := upstreamCtx(t, onlyCluster(t, policyMesh(withTLS(&model.ClientTLS{Mode: model.ClientTLSSimple, SNI: "api.example.com"}), nil)))
		if ctx.Sni != "api.example.com" || ctx.CommonTlsContext.GetValidationContext().GetTrustedCa().GetFilename() != systemRootsFile {
			t.Errorf("%v", ctx)
		}
		if len(ctx.CommonTlsContext.TlsCertificates) != 0 {
			t.Error("SIMPLE must not present a client certificate")
		}
	})
	t.Run("SIMPLE without SNI: auto SNI and SAN validation", func(t *testing.T) {
		hpo := func(tls *model.ClientTLS) *httpv3.HttpProtocolOptions {
			c := onlyCluster(t, policyMesh(withTLS(tls), nil))
			o := &httpv3.HttpProtocolOptions{}
			if err := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsName].UnmarshalTo(o); err != nil {
				t.Fatalf("no HttpProtocolOptions: %v", err)
			}
			if c.GetMetadata().GetFilterMetadata()["istio"].GetFields()["alpn_override"].GetStringValue() != "false" {
				t.Errorf("istio.alpn_override metadata missing: %v", c.GetMetadata())
			}
			return o
		}
		o := hpo(&model.ClientTLS{Mode: model.ClientTLSSimple})
		if u := o.GetUpstreamHttpProtocolOptions(); !u.GetAutoSni() || !u.GetAutoSanValidation() || o.GetExplicitHttpConfig().GetHttpProtocolOptions() == nil {
			t.Errorf("want auto_sni, auto_san_validation and HTTP/1.1: %v", o)
		}
		o = hpo(&model.ClientTLS{Mode: model.ClientTLSSimple, SubjectAltNames: []string{"api.example.com"}})
		if u := o.GetUpstreamHttpProtocolOptions(); !u.GetAutoSni() || u.GetAutoSanValidation() {
			t.Errorf("configured SANs: want auto_sni only: %v", o)
		}
	})
	t.Run("MUTUAL with files", func(t *testing.T) {
		ctx := upstreamCtx(t, onlyCluster(t, policyMesh(withTLS(&model.ClientTLS{Mode: model.ClientTLSMutual,
			ClientCertificate: "/c.pem", PrivateKey: "/k.pem", CACertificates: "/ca.pem"}), nil)))
		tc := ctx.CommonTlsContext.TlsCertificates[0]
		if tc.GetCertificateChain().GetFilename() != "/c.pem" || tc.GetPrivateKey().GetFilename() != "/k.pem" ||
			ctx.CommonTlsContext.GetValidationContext().GetTrustedCa().GetFilename() != "/ca.pem" {
			t.Errorf("%v", ctx)
		}
	})
	t.Run("MUTUAL with credentialName", func(t *testing.T) {
		ctx := upstreamCtx(t, onlyCluster(t, policyMesh(withTLS(&model.ClientTLS{Mode: model.ClientTLSMutual, CredentialName: "client"}), nil)))
		if ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs[0].Name != "kubernetes://client" ||
			ctx.CommonTlsContext.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName() != "kubernetes://client-cacert" {
			t.Errorf("%v", ctx)
		}
	})
	t.Run("DISABLE is plaintext", func(t *testing.T) {
		c := onlyCluster(t, policyMesh(withTLS(&model.ClientTLS{Mode: model.ClientTLSDisable}), nil))
		if c.TransportSocket != nil || len(c.TransportSocketMatches) != 0 {
			t.Errorf("want plaintext, got %v %v", c.TransportSocket, c.TransportSocketMatches)
		}
	})
}

func TestServiceEntryClusters(t *testing.T) {
	for _, c := range []struct {
		resolution string
		want       clusterv3.Cluster_DiscoveryType
		endpoints  []model.WorkloadEntry
		addrs      []string
	}{
		{"DNS", clusterv3.Cluster_STRICT_DNS, nil, []string{"api.example.com:8080"}},
		{"DNS_ROUND_ROBIN", clusterv3.Cluster_LOGICAL_DNS, nil, []string{"api.example.com:8080"}},
		{"DNS", clusterv3.Cluster_STRICT_DNS, []model.WorkloadEntry{{Address: "a.example.com"}, {Address: "b.example.com", Ports: map[string]uint32{"http": 9090}}},
			[]string{"a.example.com:8080", "b.example.com:9090"}},
		{"STATIC", clusterv3.Cluster_EDS, nil, nil},
		{"NONE", clusterv3.Cluster_EDS, nil, nil}, // istiod: a gateway has no original destination (case 104)
	} {
		t.Run(c.resolution, func(t *testing.T) {
			se := &model.ServiceEntry{Meta: model.Meta{Name: "ext", Namespace: "default"}, Hosts: []string{"api.example.com"}, Resolution: c.resolution,
				Ports: []model.SEPort{{Number: 8080, Name: "http", Protocol: model.ProtocolHTTP}}, Endpoints: c.endpoints}
			cl := onlyCluster(t, policyMesh(nil, se))
			if cl.GetType() != c.want {
				t.Fatalf("type %v, want %v", cl.GetType(), c.want)
			}
			var got []string
			for _, l := range cl.GetLoadAssignment().GetEndpoints() {
				for _, e := range l.GetLbEndpoints() {
					sa := e.GetEndpoint().GetAddress().GetSocketAddress()
					got = append(got, sa.GetAddress()+":"+u32s(sa.GetPortValue()))
				}
			}
			if len(got) != len(c.addrs) {
				t.Fatalf("endpoints %v, want %v", got, c.addrs)
			}
			for i := range got {
				if got[i] != c.addrs[i] {
					t.Errorf("endpoints %v, want %v", got, c.addrs)
				}
			}
			if cl.TransportSocketMatches != nil {
				t.Error("external services get no auto mTLS")
			}
		})
	}
}

// istiod's applyConnectionPool and setUpstreamProtocol: requests per
// connection and idle timeout go to the HTTP protocol options (HTTP/1.1 unless
// said otherwise); h2UpgradePolicy UPGRADE makes the upstream HTTP/2.
func TestConnectionPoolProtocolOptions(t *testing.T) {
	idle := 30 * time.Second
	pool := func(h *model.HTTPPool) *model.DestinationRule {
		return &model.DestinationRule{Meta: model.Meta{Name: "svc", Namespace: "default"}, Host: "svc",
			TrafficPolicy: &model.TrafficPolicy{ConnectionPool: &model.ConnectionPool{HTTP: h}}}
	}
	opts := func(t *testing.T, dr *model.DestinationRule) *httpv3.HttpProtocolOptions {
		t.Helper()
		o := &httpv3.HttpProtocolOptions{}
		if err := onlyCluster(t, policyMesh(dr, nil)).GetTypedExtensionProtocolOptions()[httpProtocolOptionsName].UnmarshalTo(o); err != nil {
			t.Fatalf("no HttpProtocolOptions: %v", err)
		}
		return o
	}
	o := opts(t, pool(&model.HTTPPool{MaxRequestsPerConnection: 1, IdleTimeout: &idle}))
	if c := o.GetCommonHttpProtocolOptions(); c.GetMaxRequestsPerConnection().GetValue() != 1 || c.GetIdleTimeout().AsDuration() != idle ||
		o.GetExplicitHttpConfig().GetHttpProtocolOptions() == nil {
		t.Errorf("want max 1 request per connection, idle 30s, HTTP/1.1: %v", o)
	}
	if o := opts(t, pool(&model.HTTPPool{H2UpgradePolicy: "UPGRADE"})); o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Errorf("h2UpgradePolicy UPGRADE: want HTTP/2: %v", o)
	}
	if c := onlyCluster(t, policyMesh(pool(&model.HTTPPool{HTTP1MaxPendingRequests: 5}), nil)); c.GetTypedExtensionProtocolOptions() != nil {
		t.Errorf("a pool without protocol settings sets no protocol options: %v", c.GetTypedExtensionProtocolOptions())
	}
}

// A DestinationRule consistentHash becomes the route's hash policy (istiod's
// consistentHashToHashPolicy), the cluster a ring hash with istiod's default
// minimum ring size, and the retry policy loses previous_hosts (retrying on
// another host would defeat the hashing).
func TestConsistentHash(t *testing.T) {
	ttl := time.Hour
	for _, tc := range []struct {
		ch   model.ConsistentHash
		want string
	}{
		{model.ConsistentHash{HTTPHeaderName: "x-user"}, `{"header":{"headerName":"x-user"}}`},
		{model.ConsistentHash{HTTPCookieName: "session", HTTPCookiePath: "/", HTTPCookieTTL: &ttl}, `{"cookie":{"name":"session","ttl":"3600s","path":"/"}}`},
		{model.ConsistentHash{UseSourceIP: true}, `{"connectionProperties":{"sourceIp":true}}`},
		{model.ConsistentHash{HTTPQueryParameterName: "u"}, `{"queryParameter":{"name":"u"}}`},
	} {
		dr := &model.DestinationRule{Meta: model.Meta{Name: "svc", Namespace: "default"}, Host: "svc",
			TrafficPolicy: &model.TrafficPolicy{LoadBalancer: &model.LoadBalancer{ConsistentHash: &tc.ch}}}
		r, err := Translate(policyMesh(dr, nil), Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}, DefaultOptions())
		if err != nil || len(r.Routes) != 1 || len(r.Clusters) != 1 {
			t.Fatalf("err=%v routes=%d clusters=%d", err, len(r.Routes), len(r.Clusters))
		}
		ra := r.Routes[0].VirtualHosts[0].Routes[0].GetRoute()
		if len(ra.HashPolicy) != 1 {
			t.Fatalf("hash policies %v, want one", ra.HashPolicy)
		}
		if got, _ := ResourceJSON(ra.HashPolicy[0]); string(got) != tc.want {
			t.Errorf("hash policy %s, want %s", got, tc.want)
		}
		if ra.GetRetryPolicy() == nil || len(ra.GetRetryPolicy().RetryHostPredicate) != 0 {
			t.Errorf("retry policy %v: want the default policy without previous_hosts", ra.GetRetryPolicy())
		}
		if c := r.Clusters[0]; c.LbPolicy != clusterv3.Cluster_RING_HASH || c.GetRingHashLbConfig().GetMinimumRingSize().GetValue() != 1024 {
			t.Errorf("cluster lb %v %v, want RING_HASH with minimum ring 1024", c.LbPolicy, c.GetRingHashLbConfig())
		}
	}
}

// TestMTLSContextEncoding: appendMTLSContext gives proto.Marshal's bytes of
// the context mtlsContext builds, for every shape of SNI, ALPN and SANs
// (none, empty ones, long ones whose lengths take two varint bytes), in
// both flavours.
func TestMTLSContextEncoding(t *testing.T) {
	long := strings.Repeat("a", 200)
	snis := []string{"", "outbound_.80_._.svc-0.ns-0.svc.cluster.local", long}
	alpns := [][]string{nil, upstreamMTLSALPNs, append(slices.Clone(upstreamMTLSALPNs), "h2"), meshALPN(false), {""}}
	sanss := [][]string{nil, {"spiffe://cluster.local/ns/a/sa/b"}, {"", "x", long}, {long, long, long}}
	n := 0
	for _, sni := range snis {
		for _, alpn := range alpns {
			for _, sans := range sanss {
				for _, typed := range []bool{false, true} {
					want, err := proto.Marshal(mtlsContext(sni, alpn, sans, typed))
					if err != nil {
						t.Fatal(err)
					}
					if got := appendMTLSContext([]byte("x"), sni, alpn, sans, typed); !bytes.Equal(got[1:], want) || got[0] != 'x' {
						t.Fatalf("sni %q alpn %q sans %q typed %v:\n got %x\nwant %x", sni, alpn, sans, typed, got[1:], want)
					}
					n++
				}
			}
		}
	}
	if n != 120 {
		t.Fatal(n)
	}
}
