package bootstrap

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// XDSCluster is the name of the static cluster that reaches the daemon;
// SDSCluster the one that reaches meshgate agent's SDS socket.
const (
	XDSCluster = "xds-grpc"
	SDSCluster = "sds-grpc"
)

// XDSRetryBase and XDSRetryMax bound Envoy's reconnect backoff to the
// daemon (Envoy's own default grows to 30s): a gateway takes new
// configuration from a restarted daemon within about XDSRetryMax of its
// return, instead of up to half a minute later. It keeps serving its last
// configuration meanwhile either way.
const (
	XDSRetryBase = 500 * time.Millisecond
	XDSRetryMax  = 5 * time.Second
)

// Options describe the node and where the daemon listens.
type Options struct {
	// NodeID is an Istio node id (package xds/node):
	// router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local.
	NodeID string
	// XDSAddress is the daemon's xDS address, host:port (default
	// 127.0.0.1:15010). For Envoy, several comma-separated (replicas of the
	// daemon where no Service is in front of them; all IP addresses or all
	// names) become the endpoints of xds-grpc: Envoy's ADS stream goes to
	// one, and a lost stream reconnects through the cluster's balancer.
	XDSAddress string
	// Labels become node metadata LABELS: the daemon selects Gateways with them.
	Labels map[string]string
	// Namespace (default: the node id's), Network and ClusterID (default
	// Kubernetes) become NAMESPACE, NETWORK and CLUSTER_ID.
	Namespace string
	Network   string
	ClusterID string
	// Locality is node.locality (Envoy bootstraps): where the gateway runs,
	// what locality load balancing (failover, distribute) is relative to.
	Locality model.Locality
	// ServiceCluster is node.cluster (default "<namespace>.meshgate-gateway").
	ServiceCluster string
	// AdminAddress is Envoy's admin listener (default 127.0.0.1:15000).
	AdminAddress string
	// ConnectTimeout bounds connecting to the daemon (default 1s).
	ConnectTimeout time.Duration
	// SDSSocket (Envoy bootstraps only) is meshgate agent's SDS Unix
	// socket. When set, the xds-grpc cluster speaks TLS to the daemon's
	// secure port: the client certificate is SDS "default" (the pod's SVID)
	// and the daemon's certificate is verified against SDS "ROOTCA" and must
	// name XDSServerName (a DNS SAN, also sent as SNI).
	SDSSocket string
	// XDSCertDir (Envoy bootstraps; instead of SDSSocket) holds the files
	// `meshgate cert issue` writes (cert-chain.pem, key.pem, root-cert.pem):
	// xds-grpc speaks TLS with them, read once when Envoy starts (no
	// rotation: for tests and development; pods use SDSSocket).
	XDSCertDir string
	// XDSServerName is the daemon's name in its serving certificate
	// (default: the host of XDSAddress), e.g. meshgate.istio-system.svc.
	XDSServerName string
	// CertDir (gRPC bootstraps only) holds the files `meshgate cert issue`
	// writes (cert-chain.pem, key.pem, root-cert.pem); a file_watcher
	// certificate provider serves them for mesh mTLS (DestinationRule ISTIO_MUTUAL).
	CertDir string
}

func (o *Options) complete() (node.ID, error) {
	id, err := node.ParseID(o.NodeID)
	if err != nil {
		return id, err
	}
	if o.XDSAddress == "" {
		o.XDSAddress = "127.0.0.1:15010"
	}
	if o.Namespace == "" {
		o.Namespace = id.Namespace
	}
	if o.ClusterID == "" {
		o.ClusterID = model.DefaultClusterID
	}
	if o.ServiceCluster == "" {
		o.ServiceCluster = o.Namespace + ".meshgate-gateway"
	}
	if o.AdminAddress == "" {
		o.AdminAddress = "127.0.0.1:15000"
	}
	if (o.SDSSocket != "" || o.XDSCertDir != "") && o.XDSServerName == "" {
		first, _, _ := strings.Cut(o.XDSAddress, ",")
		if h, _, err := net.SplitHostPort(first); err == nil {
			o.XDSServerName = h
		}
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = time.Second
	}
	return id, nil
}

// metadata is the node metadata of a completed o; generator is "" (Envoy)
// or node.GeneratorGRPC.
func (o *Options) metadata(generator string) (*structpb.Struct, error) {
	m := node.Metadata{Namespace: o.Namespace, Network: o.Network, ClusterID: o.ClusterID, Generator: generator}
	if len(o.Labels) > 0 {
		m.Labels = o.Labels
	}
	return m.Struct()
}

func hostPort(addr, what string) (string, uint32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", what, addr, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("%s %q: bad port", what, addr)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%s %q: empty host", what, addr)
	}
	return host, uint32(p), nil
}

func socket(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

// Envoy builds an Envoy v3 bootstrap: node id and metadata, an admin
// listener, the static cluster xds-grpc (HTTP/2) to the daemon, ADS over it,
// and listeners and clusters from ADS. The result passes ValidateAll.
func Envoy(o Options) (*bootstrapv3.Bootstrap, error) {
	if _, err := o.complete(); err != nil {
		return nil, err
	}
	var xdsEndpoints []*endpointv3.LbEndpoint
	ips := 0
	for _, a := range strings.Split(o.XDSAddress, ",") {
		host, port, err := hostPort(a, "xds address")
		if err != nil {
			return nil, err
		}
		if net.ParseIP(host) != nil {
			ips++
		}
		xdsEndpoints = append(xdsEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socket(host, port)}}})
	}
	if ips != 0 && ips != len(xdsEndpoints) {
		return nil, fmt.Errorf("xds address %q: all IP addresses or all names", o.XDSAddress)
	}
	adminHost, adminPort, err := hostPort(o.AdminAddress, "admin address")
	if err != nil {
		return nil, err
	}
	md, err := o.metadata("")
	if err != nil {
		return nil, err
	}
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}}})
	if err != nil {
		return nil, err
	}
	discovery := clusterv3.Cluster_STRICT_DNS
	if ips > 0 {
		discovery = clusterv3.Cluster_STATIC
	}
	b := &bootstrapv3.Bootstrap{
		Node:  &corev3.Node{Id: o.NodeID, Cluster: o.ServiceCluster, Metadata: md, Locality: locality(o.Locality)},
		Admin: &bootstrapv3.Admin{Address: socket(adminHost, adminPort)},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{{
			Name:                 XDSCluster,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: discovery},
			ConnectTimeout:       durationpb.New(o.ConnectTimeout),
			TypedExtensionProtocolOptions: map[string]*anypb.Any{
				"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2,
			},
			LoadAssignment: &endpointv3.ClusterLoadAssignment{
				ClusterName: XDSCluster,
				Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: xdsEndpoints}},
			},
		}}},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:                   corev3.ApiConfigSource_GRPC,
				TransportApiVersion:       corev3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSCluster, RetryPolicy: &corev3.RetryPolicy{
						RetryBackOff: &corev3.BackoffStrategy{BaseInterval: durationpb.New(XDSRetryBase), MaxInterval: durationpb.New(XDSRetryMax)}}}}}},
			},
			LdsConfig: ads(),
			CdsConfig: ads(),
		},
	}
	if o.SDSSocket != "" || o.XDSCertDir != "" {
		if err := secureXDS(b, o, h2); err != nil {
			return nil, err
		}
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return b, nil
}

// secureXDS makes xds-grpc speak TLS to the daemon's secure port, as
// Istio's bootstrap does to istiod: the client certificate and the mesh
// root from the agent's SDS socket (the sds-grpc cluster), or from files.
func secureXDS(b *bootstrapv3.Bootstrap, o Options, h2 *anypb.Any) error {
	if o.SDSSocket != "" && o.XDSCertDir != "" {
		return errors.New("sds socket and xds cert dir: give one (the agent's socket, or files)")
	}
	if net.ParseIP(o.XDSServerName) != nil || o.XDSServerName == "" {
		return fmt.Errorf("xds server name %q: want the DNS name of the daemon's certificate (e.g. meshgate.istio-system.svc)", o.XDSServerName)
	}
	san := []*tlsv3.SubjectAltNameMatcher{{
		SanType: tlsv3.SubjectAltNameMatcher_DNS,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o.XDSServerName}},
	}}
	common := &tlsv3.CommonTlsContext{}
	if o.XDSCertDir != "" {
		if !filepath.IsAbs(o.XDSCertDir) {
			return fmt.Errorf("xds cert dir %q: want an absolute path", o.XDSCertDir)
		}
		file := func(name string) *corev3.DataSource {
			return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: filepath.Join(o.XDSCertDir, name)}}
		}
		common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: file(identity.SVIDFileCertChain), PrivateKey: file(identity.SVIDFileKey)}}
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: file(identity.SVIDFileRoots), MatchTypedSubjectAltNames: san}}
	} else {
		if !filepath.IsAbs(o.SDSSocket) {
			return fmt.Errorf("sds socket %q: want an absolute path", o.SDSSocket)
		}
		sds := &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3,
			ConfigSourceSpecifier: &corev3.ConfigSource_ApiConfigSource{ApiConfigSource: &corev3.ApiConfigSource{
				ApiType: corev3.ApiConfigSource_GRPC, TransportApiVersion: corev3.ApiVersion_V3, SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: SDSCluster}}}},
			}}}
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: identity.SecretDefault, SdsConfig: sds}}
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
			DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: san},
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: identity.SecretRootCA, SdsConfig: sds},
		}}
		b.StaticResources.Clusters = append(b.StaticResources.Clusters, &clusterv3.Cluster{
			Name:                 SDSCluster,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
			ConnectTimeout:       durationpb.New(o.ConnectTimeout),
			TypedExtensionProtocolOptions: map[string]*anypb.Any{
				"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2,
			},
			LoadAssignment: &endpointv3.ClusterLoadAssignment{
				ClusterName: SDSCluster,
				Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
					HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
						Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: o.SDSSocket}}}}},
				}}}},
			},
		})
	}
	tlsCtx, err := anypb.New(&tlsv3.UpstreamTlsContext{Sni: o.XDSServerName, CommonTlsContext: common})
	if err != nil {
		return err
	}
	b.StaticResources.Clusters[0].TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsCtx}}
	return nil
}

// Marshal renders a bootstrap as "json" or "yaml".
func Marshal(b *bootstrapv3.Bootstrap, format string) ([]byte, error) {
	j, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
	if err != nil {
		return nil, err
	}
	switch format {
	case "json", "":
		return append(j, '\n'), nil
	case "yaml":
		return yaml.JSONToYAML(j)
	}
	return nil, fmt.Errorf("output format %q: want json or yaml", format)
}

// GRPC builds the gRPC-Go xDS bootstrap (JSON) of a proxyless client: the
// daemon as xDS server (plaintext) and the node with GENERATOR=grpc. Point
// GRPC_XDS_BOOTSTRAP at it and dial xds:///<host>:<port>.
func GRPC(o Options) ([]byte, error) {
	if _, err := o.complete(); err != nil {
		return nil, err
	}
	if _, _, err := hostPort(o.XDSAddress, "xds address"); err != nil {
		return nil, err
	}
	md, err := o.metadata(node.GeneratorGRPC)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      o.XDSAddress,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []any{"xds_v3"},
		}},
		"node": map[string]any{"id": o.NodeID, "cluster": o.ServiceCluster, "metadata": md.AsMap()},
	}
	if o.CertDir != "" {
		doc["certificate_providers"] = map[string]any{
			translate.GRPCCertProviderInstance: map[string]any{
				"plugin_name": "file_watcher",
				"config": map[string]any{
					"certificate_file":    filepath.Join(o.CertDir, "cert-chain.pem"),
					"private_key_file":    filepath.Join(o.CertDir, "key.pem"),
					"ca_certificate_file": filepath.Join(o.CertDir, "root-cert.pem"),
					"refresh_interval":    "60s",
				},
			},
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// locality is l as Envoy's node locality (nil when unknown).
func locality(l model.Locality) *corev3.Locality {
	if l.IsZero() {
		return nil
	}
	return &corev3.Locality{Region: l.Region, Zone: l.Zone, SubZone: l.Subzone}
}
