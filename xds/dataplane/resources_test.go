package dataplane

import (
	"fmt"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Hand-built Envoy resources shaped like istiod's (and meshgate's) east-west
// gateway output. SNI and cluster names use outbound_.<port>_.<subset>_.<host>.

// istioALPN are the application_protocols of Istio's east-west filter chains.
var istioALPN = []string{"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"}

func sniName(port int, subset, host string) string {
	return fmt.Sprintf("outbound_.%d_.%s_.%s", port, subset, host)
}

func mustAnyT(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func sockAddr(hostport string) *corev3.Address {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		panic(err)
	}
	p, _ := strconv.Atoi(port)
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(p)},
	}}}
}

func tcpProxyTo(cluster string) *listenerv3.Filter {
	return &listenerv3.Filter{Name: tcpProxyName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAnyT(&tcpproxyv3.TcpProxy{
		StatPrefix: cluster, ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: cluster},
	})}}
}

func weightedTCPProxy(clusters map[string]uint32) *listenerv3.Filter {
	wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
	for _, name := range sortedKeys(clusters) {
		wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: name, Weight: clusters[name]})
	}
	return &listenerv3.Filter{Name: tcpProxyName, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAnyT(&tcpproxyv3.TcpProxy{
		StatPrefix: "weighted", ClusterSpecifier: &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc},
	})}}
}

// sniChain is an east-west chain: server_names = sni, Istio's ALPNs, tcp_proxy to the cluster named sni.
func sniChain(sni string) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{
		Name:             sni,
		FilterChainMatch: &listenerv3.FilterChainMatch{ServerNames: []string{sni}, ApplicationProtocols: istioALPN},
		Filters:          []*listenerv3.Filter{tcpProxyTo(sni)},
	}
}

func chainTo(cluster string, m *listenerv3.FilterChainMatch) *listenerv3.FilterChain {
	return &listenerv3.FilterChain{Name: cluster, FilterChainMatch: m, Filters: []*listenerv3.Filter{tcpProxyTo(cluster)}}
}

// listenerWith builds a listener; with inspect it has the tls_inspector.
func listenerWith(name, addr string, inspect bool, chains ...*listenerv3.FilterChain) *listenerv3.Listener {
	l := &listenerv3.Listener{Name: name, Address: sockAddr(addr), FilterChains: chains, TrafficDirection: corev3.TrafficDirection_OUTBOUND}
	if inspect {
		l.ListenerFilters = []*listenerv3.ListenerFilter{{
			Name:       tlsInspectorName,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAnyT(&tlsinspectorv3.TlsInspector{})},
		}}
	}
	return l
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

func edsCluster(name string, mods ...func(*clusterv3.Cluster)) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: name},
		ConnectTimeout:       durationpb.New(2 * time.Second),
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func staticCluster(name string, addrs ...string) *clusterv3.Cluster {
	var eps []ep
	for _, a := range addrs {
		eps = append(eps, ep{addr: a})
	}
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(2 * time.Second),
		LoadAssignment:       cla(name, eps...),
	}
}

// ep is an endpoint for cla: address, weight (0 = unset), tlsMode metadata.
type ep struct {
	addr     string
	weight   uint32
	tlsMode  string
	locality string
}

// cla groups endpoints by locality, in order; locWeights (optional) are
// the localities' load_balancing_weight.
func cla(name string, eps ...ep) *endpointv3.ClusterLoadAssignment {
	return claWithLocalities(name, nil, eps...)
}

func claWithLocalities(name string, locWeights map[string]uint32, eps ...ep) *endpointv3.ClusterLoadAssignment {
	out := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	byLoc := map[string]*endpointv3.LocalityLbEndpoints{}
	for _, e := range eps {
		loc := byLoc[e.locality]
		if loc == nil {
			loc = &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Region: "r1", Zone: e.locality}}
			if w, ok := locWeights[e.locality]; ok {
				loc.LoadBalancingWeight = wrapperspb.UInt32(w)
			}
			byLoc[e.locality] = loc
			out.Endpoints = append(out.Endpoints, loc)
		}
		lep := &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sockAddr(e.addr)}}}
		if e.weight > 0 {
			lep.LoadBalancingWeight = wrapperspb.UInt32(e.weight)
		}
		if e.tlsMode != "" {
			lep.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				transportSocketMatchMetadataKey: {Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue(e.tlsMode)}},
			}}
		}
		loc.LbEndpoints = append(loc.LbEndpoints, lep)
	}
	return out
}

func sdsRef(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsSource()}
}

// istioMutualSocket is Istio's auto-mTLS upstream socket: SDS default +
// ROOTCA, SNI, ALPN istio-peer-exchange/istio and a SPIFFE SAN check.
func istioMutualSocket(sni, san string) *corev3.TransportSocket {
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols:                  []string{"istio-peer-exchange", "istio"},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsRef("default")},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext: &tlsv3.CertificateValidationContext{
						MatchSubjectAltNames: []*matcherv3.StringMatcher{{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}}},
						MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
							SanType: tlsv3.SubjectAltNameMatcher_URI,
							Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: san}},
						}},
					},
					ValidationContextSdsSecretConfig: sdsRef("ROOTCA"),
				},
			},
		},
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAnyT(ctx)}}
}

// withIstioAutoMTLS adds Istio's transport_socket_matches: tlsMode istio →
// mTLS, anything else → plain text.
func withIstioAutoMTLS(sni, san string) func(*clusterv3.Cluster) {
	return func(c *clusterv3.Cluster) {
		c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{
			{
				Name:            "tlsMode-istio",
				Match:           &structpb.Struct{Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue("istio")}},
				TransportSocket: istioMutualSocket(sni, san),
			},
			{
				Name:  "tlsMode-disabled",
				Match: &structpb.Struct{},
				TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.raw_buffer", ConfigType: &corev3.TransportSocket_TypedConfig{
					TypedConfig: mustAnyT(&rawbufferv3.RawBuffer{}),
				}},
			},
		}
	}
}

func certSecret(name string, l leaf) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: l.certPEM}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: l.keyPEM}},
	}}}
}

func caSecret(name string, ca *testCA) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: ca.pem}},
	}}}
}

// resources assembles a snapshot's resource map.
type resources struct {
	listeners []*listenerv3.Listener
	clusters  []*clusterv3.Cluster
	endpoints []*endpointv3.ClusterLoadAssignment
	secrets   []*tlsv3.Secret
}

func (r resources) snapshot() map[resourcev3.Type][]types.Resource {
	out := map[resourcev3.Type][]types.Resource{}
	for _, l := range r.listeners {
		out[resourcev3.ListenerType] = append(out[resourcev3.ListenerType], l)
	}
	for _, c := range r.clusters {
		out[resourcev3.ClusterType] = append(out[resourcev3.ClusterType], c)
	}
	for _, e := range r.endpoints {
		out[resourcev3.EndpointType] = append(out[resourcev3.EndpointType], e)
	}
	for _, s := range r.secrets {
		out[resourcev3.SecretType] = append(out[resourcev3.SecretType], s)
	}
	return out
}
