package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	grpcwebv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_web/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	quicv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/quic/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	alpnv2alpha1 "istio.io/api/envoy/config/filter/http/alpn/v2alpha1"

	"github.com/meshgate/meshgate/discovery/model"
)

// mustAny wraps m in an Any. Marshalling a well-formed generated message
// cannot fail; a failure is a programming error.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic("translate: anypb.New: " + err.Error())
	}
	return a
}

func typedFilter(name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(m)}}
}

// quicSocket wraps a TLS context for a QUIC (HTTP/3) listener.
func quicSocket(tls *tlsv3.DownstreamTlsContext) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: wellknown.TransportSocketQuic, ConfigType: &corev3.TransportSocket_TypedConfig{
		TypedConfig: mustAny(&quicv3.QuicDownstreamTransport{DownstreamTlsContext: tls}),
	}}
}

func transportSocket(m proto.Message) *corev3.TransportSocket {
	return &corev3.TransportSocket{Name: wellknown.TransportSocketTLS, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(m)}}
}

// adsConfig is a ConfigSource pointing at the ADS stream.
func adsConfig() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		InitialFetchTimeout:   durationpb.New(0),
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

// sdsConfig points at an SDS secret on the ADS stream. Like istiod, the
// workload identity (default, ROOTCA) is waited for however long it takes
// (initial_fetch_timeout 0) instead of Envoy's default 15s, after which a
// listener or cluster would go live without it; credentialName secrets keep
// Envoy's default.
func sdsConfig(name string) *tlsv3.SdsSecretConfig {
	cs := &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
	if name == SecretDefault || name == SecretRootCA {
		cs.InitialFetchTimeout = durationpb.New(0)
	}
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: cs}
}

func httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(m)}}
}

// istioALPNFilter is Istio's istio.alpn HTTP filter (istio-proxy only): on
// upstream mesh mTLS it offers istio-http/1.0, istio-http/1.1 or istio-h2 by
// the upstream HTTP version, which tells a sidecar on a protocol-sniffed port
// that the connection carries HTTP. Clusters whose TLS the user configures opt
// out with metadata istio.alpn_override "false". The envoy flavour has no such
// filter; it sets the same ALPN per cluster instead (meshALPN).
var istioALPNFilter = httpFilter(istioALPNFilterName, &alpnv2alpha1.FilterConfig{AlpnOverride: []*alpnv2alpha1.FilterConfig_AlpnOverride{
	{UpstreamProtocol: alpnv2alpha1.FilterConfig_HTTP10, AlpnOverride: meshALPNHTTP10},
	{UpstreamProtocol: alpnv2alpha1.FilterConfig_HTTP11, AlpnOverride: meshALPNHTTP11},
	{UpstreamProtocol: alpnv2alpha1.FilterConfig_HTTP2, AlpnOverride: meshALPNH2},
}})

const istioALPNFilterName = "istio.alpn"

// The ALPN istio.alpn offers on mesh mTLS, per upstream HTTP version.
var (
	meshALPNHTTP10 = []string{"istio-http/1.0", "istio", "http/1.0"}
	meshALPNHTTP11 = []string{"istio-http/1.1", "istio", "http/1.1"}
	meshALPNH2     = []string{"istio-h2", "istio", "h2"}
)

// hcm builds a gateway HTTP connection manager the way istiod configures one
// (remote address, XFCC sanitize-set, websocket upgrades, path normalisation),
// with the fault and CORS filters always installed so per-route configs work.
func (b *builder) hcm(rds, statPrefix string, p model.Protocol) *hcmv3.HttpConnectionManager {
	var filters []*hcmv3.HttpFilter
	if p == model.ProtocolGRPCWeb {
		filters = append(filters, httpFilter(wellknown.GRPCWeb, &grpcwebv3.GrpcWeb{}))
	}
	if b.proxy.istioFilters() {
		filters = append(filters, istioALPNFilter)
	}
	filters = append(filters,
		httpFilter(wellknown.Fault, &faultv3.HTTPFault{}),
		httpFilter(wellknown.CORS, &corsv3.Cors{}),
		httpFilter(wellknown.Router, &routerv3.Router{}),
	)
	h := &hcmv3.HttpConnectionManager{
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: adsConfig(), RouteConfigName: rds,
		}},
		HttpFilters:              filters,
		UseRemoteAddress:         wrapperspb.Bool(true),
		ForwardClientCertDetails: hcmv3.HttpConnectionManager_SANITIZE_SET,
		SetCurrentClientCertDetails: &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
			Subject: wrapperspb.Bool(true), Cert: true, Dns: true, Uri: true,
		},
		HttpProtocolOptions:          &corev3.Http1ProtocolOptions{},
		ServerName:                   "istio-envoy", // istiod's default server header
		StreamIdleTimeout:            durationpb.New(0),
		Proxy_100Continue:            true,
		NormalizePath:                wrapperspb.Bool(true),
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_KEEP_UNCHANGED,
		UpgradeConfigs:               []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}},
	}
	// HTTP2 and GRPC servers keep codec AUTO like every other HTTP server
	// (istiod's buildHTTPConnectionManager): Envoy then serves h2c with prior
	// knowledge and HTTP/1.1 on the same port, where codec HTTP2 would refuse
	// HTTP/1.1 clients.
	return h
}

// tcpProxyFilters routes a tcp/tls rule's destinations with tcp_proxy.
func (b *builder) tcpProxyFilters(routes []model.RouteDestination, vsNamespace string, port model.Port) []*listenerv3.Filter {
	var weighted []*tcpv3.TcpProxy_WeightedCluster_ClusterWeight
	var single string
	if len(routes) == 1 {
		single = b.destinationCluster(routes[0].Destination, vsNamespace, port.Number)
	} else {
		for _, r := range routes {
			if r.Weight == 0 {
				continue
			}
			weighted = append(weighted, &tcpv3.TcpProxy_WeightedCluster_ClusterWeight{
				Name: b.destinationCluster(r.Destination, vsNamespace, port.Number), Weight: uint32(r.Weight),
			})
		}
	}
	if single != "" && port.Protocol == model.ProtocolRedis && b.ix.opts.EnableRedisFilter {
		return []*listenerv3.Filter{redisProxy(single)}
	}
	tp := &tcpv3.TcpProxy{}
	if single != "" {
		b.tcpClusters[single] = true
	}
	for _, w := range weighted {
		b.tcpClusters[w.Name] = true
	}
	if single != "" {
		tp.StatPrefix = single
		tp.ClusterSpecifier = &tcpv3.TcpProxy_Cluster{Cluster: single}
	} else {
		tp.StatPrefix = "weighted_" + port.Name
		tp.ClusterSpecifier = &tcpv3.TcpProxy_WeightedClusters{WeightedClusters: &tcpv3.TcpProxy_WeightedCluster{Clusters: weighted}}
	}
	return append(b.protocolFilters(port, tp.StatPrefix), typedFilter(wellknown.TCPProxy, tp))
}

// tcpProxyTo is a tcp_proxy to one cluster (east-west chains).
func tcpProxyTo(cluster string) []*listenerv3.Filter {
	return []*listenerv3.Filter{typedFilter(wellknown.TCPProxy, &tcpv3.TcpProxy{
		StatPrefix: cluster, ClusterSpecifier: &tcpv3.TcpProxy_Cluster{Cluster: cluster},
	})}
}
