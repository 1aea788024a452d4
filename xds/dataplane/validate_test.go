package dataplane

import (
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func eastWestListener() *listenerv3.Listener {
	l := listenerWith("0.0.0.0_15443", "0.0.0.0:15443", true,
		sniChain(sniName(8080, "", "echo.ns1.svc.cluster.local")),
		sniChain(sniName(9080, "v2", "reviews.default.svc.cluster.local")))
	l.MaxConnectionsToAcceptPerSocketEvent = wrapperspb.UInt32(1) // as istiod and meshgate translate set it
	return l
}

func modListener(f func(l *listenerv3.Listener)) *listenerv3.Listener {
	l := eastWestListener()
	f(l)
	return l
}

func upstreamCtxSocket(ctx *tlsv3.UpstreamTlsContext) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAnyT(ctx)}}
}

func TestValidateListener(t *testing.T) {
	tests := []struct {
		name string
		l    *listenerv3.Listener
		want []string // substrings of the error; nil = valid
	}{
		{name: "istio east-west listener", l: eastWestListener()},
		{name: "http connection manager", l: hcmListener("http"),
			want: []string{"filters[0]", "unsupported network filter type envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"}},
		{name: "proxy protocol listener filter", l: modListener(func(l *listenerv3.Listener) {
			l.ListenerFilters = append(l.ListenerFilters, &listenerv3.ListenerFilter{Name: "envoy.filters.listener.proxy_protocol",
				ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAnyT(&proxyprotocolv3.ProxyProtocol{})}})
		}), want: []string{"listener_filters[1] (envoy.filters.listener.proxy_protocol)", "unsupported listener filter type"}},
		{name: "UDP", l: modListener(func(l *listenerv3.Listener) {
			l.Address.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
		}), want: []string{"protocol: UDP is not supported"}},
		{name: "udp_listener_config", l: modListener(func(l *listenerv3.Listener) {
			l.UdpListenerConfig = &listenerv3.UdpListenerConfig{}
		}), want: []string{"unsupported field udp_listener_config"}},
		{name: "use_original_dst", l: modListener(func(l *listenerv3.Listener) { l.UseOriginalDst = wrapperspb.Bool(true) }),
			want: []string{"use_original_dst: true is not supported"}},
		{name: "pipe address", l: modListener(func(l *listenerv3.Listener) {
			l.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/tmp/x"}}}
		}), want: []string{"only socket_address"}},
		{name: "server_names without tls_inspector", l: modListener(func(l *listenerv3.Listener) { l.ListenerFilters = nil }),
			want: []string{"filter_chains[0]", "need listener filter envoy.filters.listener.tls_inspector"}},
		{name: "same match twice", l: modListener(func(l *listenerv3.Listener) {
			l.FilterChains = append(l.FilterChains, proto.Clone(l.FilterChains[0]).(*listenerv3.FilterChain))
		}), want: []string{"filter chains 0 and 2 have the same matching rules"}},
		{name: "bad wildcard", l: modListener(func(l *listenerv3.Listener) {
			l.FilterChains[0].FilterChainMatch.ServerNames = []string{"bookinfo.*.com"}
		}), want: []string{"server_names[0]", `"bookinfo.*.com"`}},
		{name: "tcp_proxy tunneling", l: modListener(func(l *listenerv3.Listener) {
			tp := &tcpproxyv3.TcpProxy{StatPrefix: "x", ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: "c"},
				TunnelingConfig: &tcpproxyv3.TcpProxy_TunnelingConfig{Hostname: "h"}}
			l.FilterChains[1].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAnyT(tp)}
		}), want: []string{"filter_chains[1]", "unsupported field tunneling_config"}},
		{name: "two filters", l: modListener(func(l *listenerv3.Listener) {
			l.FilterChains[0].Filters = append(l.FilterChains[0].Filters, tcpProxyTo("other"))
		}), want: []string{"want exactly one envoy.filters.network.tcp_proxy, got 2"}},
		{name: "unknown transport socket", l: modListener(func(l *listenerv3.Listener) {
			l.FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.alts",
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAnyT(&structpb.Struct{})}}
		}), want: []string{"transport_socket", "unsupported transport socket envoy.transport_sockets.alts"}},
		{name: "require client cert without CA", l: modListener(func(l *listenerv3.Listener) {
			l.FilterChains[0].TransportSocket = &corev3.TransportSocket{Name: "tls", ConfigType: &corev3.TransportSocket_TypedConfig{
				TypedConfig: mustAnyT(&tlsv3.DownstreamTlsContext{RequireClientCertificate: wrapperspb.Bool(true),
					CommonTlsContext: &tlsv3.CommonTlsContext{TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsRef("default")}}}),
			}}
		}), want: []string{"require_client_certificate without a validation context"}},
		{name: "pgv: empty name", l: modListener(func(l *listenerv3.Listener) { l.FilterChains = nil; l.ListenerFilters = nil }),
			want: []string{"no filter chain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validateListener(tt.l)
			checkErr(t, err, tt.want)
		})
	}
}

func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q lacks %q", err, w)
		}
	}
}

func TestValidateCluster(t *testing.T) {
	sni := sniName(8080, "", "echo.ns1.svc.cluster.local")
	grpcSDS := &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
		ApiType:      corev3.ApiConfigSource_GRPC,
		GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: "sds-grpc"}}}},
	}}}
	tests := []struct {
		name string
		c    *clusterv3.Cluster
		want []string
	}{
		{name: "istio auto mTLS", c: edsCluster("outbound|8080||echo", withIstioAutoMTLS(sni, echoID), func(c *clusterv3.Cluster) {
			c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
			c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{MaxConnections: wrapperspb.UInt32(4294967295)}}}
			c.OutlierDetection = &clusterv3.OutlierDetection{EnforcingSuccessRate: wrapperspb.UInt32(0)}
		})},
		{name: "maglev", c: edsCluster("c", func(c *clusterv3.Cluster) { c.LbPolicy = clusterv3.Cluster_MAGLEV }),
			want: []string{"lb_policy MAGLEV is not supported"}},
		{name: "original dst", c: edsCluster("c", func(c *clusterv3.Cluster) {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
			c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
		}), want: []string{"type ORIGINAL_DST is not supported"}},
		{name: "health checks", c: edsCluster("c", func(c *clusterv3.Cluster) {
			c.HealthChecks = []*corev3.HealthCheck{{
				Timeout: durationpb.New(time.Second), Interval: durationpb.New(time.Second),
				UnhealthyThreshold: wrapperspb.UInt32(1), HealthyThreshold: wrapperspb.UInt32(1),
				HealthChecker: &corev3.HealthCheck_TcpHealthCheck_{TcpHealthCheck: &corev3.HealthCheck_TcpHealthCheck{}},
			}}
		}), want: []string{"unsupported field health_checks"}},
		{name: "eds over a separate grpc source", c: edsCluster("c", func(c *clusterv3.Cluster) { c.EdsClusterConfig.EdsConfig = grpcSDS }),
			want: []string{"eds_cluster_config.eds_config", "only ads"}},
		{name: "istio agent sds-grpc", c: edsCluster("c", func(c *clusterv3.Cluster) {
			c.TransportSocket = upstreamCtxSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "default", SdsConfig: grpcSDS}}}})
		}), want: []string{"transport_socket", "tls_certificate_sds_secret_configs[0]", "sds_config", "api_config_source"}},
		{name: "unknown cipher", c: edsCluster("c", func(c *clusterv3.Cluster) {
			c.TransportSocket = upstreamCtxSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
				TlsParams: &tlsv3.TlsParameters{CipherSuites: []string{"[ECDHE-ECDSA-AES128-GCM-SHA256|NOPE]"}}}})
		}), want: []string{"tls_params", `unknown cipher suite "NOPE"`}},
		{name: "SAN matcher without CA", c: edsCluster("c", func(c *clusterv3.Cluster) {
			c.TransportSocket = upstreamCtxSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
					MatchSubjectAltNames: []*matcherv3.StringMatcher{{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "spiffe://"}}},
				}}}})
		}), want: []string{"without trusted_ca"}},
		{name: "OTHER_NAME SAN", c: edsCluster("c", func(c *clusterv3.Cluster) {
			c.TransportSocket = upstreamCtxSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
				ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{ValidationContextSdsSecretConfig: sdsRef("ROOTCA")}}})
			c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{{Name: "m", TransportSocket: upstreamCtxSocket(&tlsv3.UpstreamTlsContext{
				CommonTlsContext: &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
					CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
						ValidationContextSdsSecretConfig: sdsRef("ROOTCA"),
						DefaultValidationContext: &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
							SanType: tlsv3.SubjectAltNameMatcher_OTHER_NAME, Oid: "1.2.3",
							Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "x"}}}}}}}}})}}
		}), want: []string{"transport_socket_matches[0] (m)", "san_type: OTHER_NAME is not supported"}},
		{name: "subset lb", c: edsCluster("c", func(c *clusterv3.Cluster) { c.LbSubsetConfig = &clusterv3.Cluster_LbSubsetConfig{} }),
			want: []string{"unsupported field lb_subset_config"}},
		{name: "static without endpoints", c: &clusterv3.Cluster{Name: "s", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}},
			want: []string{"load_assignment is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validateCluster(tt.c)
			checkErr(t, err, tt.want)
		})
	}
}

func TestValidateLoadAssignment(t *testing.T) {
	drop := cla("c", ep{addr: "10.0.0.1:80"})
	drop.Policy = &endpointv3.ClusterLoadAssignment_Policy{DropOverloads: []*endpointv3.ClusterLoadAssignment_Policy_DropOverload{{
		Category: "x", DropPercentage: &typev3.FractionalPercent{Numerator: 1}}}}
	host := cla("c", ep{addr: "10.0.0.1:80"})
	host.Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().Address = "echo.example.com"
	unhealthy := cla("c", ep{addr: "10.0.0.1:80"}, ep{addr: "10.0.0.2:80"})
	unhealthy.Endpoints[0].LbEndpoints[1].HealthStatus = corev3.HealthStatus_UNHEALTHY

	if _, err := validateLoadAssignment(drop, true); err == nil || !strings.Contains(err.Error(), "policy: unsupported field drop_overloads") {
		t.Fatalf("drop_overloads: %v", err)
	}
	if _, err := validateLoadAssignment(host, true); err == nil || !strings.Contains(err.Error(), `endpoints[0].lb_endpoints[0]`) {
		t.Fatalf("host name in EDS: %v", err)
	}
	if _, err := validateLoadAssignment(host, false); err != nil {
		t.Fatalf("host name in a DNS cluster: %v", err)
	}
	set, err := validateLoadAssignment(unhealthy, true)
	if err != nil || len(set.eps) != 1 || set.eps[0].Address != "10.0.0.1:80" {
		t.Fatalf("unhealthy endpoint not left out: %v %v", set, err)
	}
}

func TestValidateSecret(t *testing.T) {
	ca := newTestCA(t, "root")
	good := ca.issue(t, []string{"x"})
	other := ca.issue(t, []string{"y"})
	mismatched := certSecret("default", leaf{certPEM: good.certPEM, keyPEM: other.keyPEM})
	tests := []struct {
		name string
		s    *tlsv3.Secret
		want []string
	}{
		{name: "certificate", s: certSecret("default", good)},
		{name: "root", s: caSecret("ROOTCA", ca)},
		{name: "key does not match", s: mismatched, want: []string{"tls_certificate", "certificate_chain/private_key"}},
		{name: "no PEM in CA", s: &tlsv3.Secret{Name: "ROOTCA", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "nope"}}}}},
			want: []string{"trusted_ca: no PEM certificate found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := validateSecret(tt.s)
			checkErr(t, err, tt.want)
			if err != nil && (strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), string(other.keyPEM[40:80]))) {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
}
