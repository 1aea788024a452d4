//go:build integration

package envoytest

import (
	"encoding/json"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func ads() *corev3.ConfigSource {
	return &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// world is one HTTPS listener (SDS certificate "kubernetes://cred" with
// placeholder material, client CA "ROOTCA" that nobody supplies) whose HCM
// names route configuration rc over RDS, routing to EDS cluster c.
func world(t *testing.T, rc string) Resources {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: "in",
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: ads(), RouteConfigName: rc}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router",
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &routerv3.Router{})}}},
	}
	tls := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "kubernetes://cred", SdsConfig: ads()}},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: "ROOTCA", SdsConfig: ads()}},
	}}
	l := &listenerv3.Listener{
		Name: "0.0.0.0_8443",
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8443}}}},
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager",
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(t, hcm)}}},
			TransportSocket: &corev3.TransportSocket{Name: "envoy.transport_sockets.tls",
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(t, tls)}},
		}},
	}
	route := &routev3.RouteConfiguration{Name: "http.8443", VirtualHosts: []*routev3.VirtualHost{{
		Name: "*:8443", Domains: []string{"*"},
		Routes: []*routev3.Route{{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "c"}}}}},
	}}}
	c := &clusterv3.Cluster{Name: "c", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: ads()}}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 1}}}}}}}}}}}
	cred := &tlsv3.Secret{Name: "kubernetes://cred", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "foo"}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "bar"}},
	}}}
	return Resources{Listeners: []*listenerv3.Listener{l}, Routes: []*routev3.RouteConfiguration{route},
		Clusters: []*clusterv3.Cluster{c}, Endpoints: []*endpointv3.ClusterLoadAssignment{cla},
		Secrets: []*tlsv3.Secret{cred}}
}

func TestStaticBootstrap(t *testing.T) {
	envoy := Path(t)
	m, err := NewMaterial(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	boot, rep, err := StaticBootstrap("router~1.1.1.1~x.ns~ns.svc.cluster.local", world(t, "http.8443"), m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(boot), `"ads"`) {
		t.Errorf("the static bootstrap still refers to ADS:\n%s", boot)
	}
	if rep.InlinedRoutes != 1 || rep.StaticEDS != 1 || len(rep.EmptyEDS) != 0 ||
		strings.Join(rep.GeneratedSecrets, ",") != "ROOTCA" || strings.Join(rep.PlaceholderSecrets, ",") != "kubernetes://cred" {
		t.Errorf("report = %+v", rep)
	}
	var doc struct {
		StaticResources struct {
			Clusters []struct {
				Type           string `json:"type"`
				LoadAssignment struct {
					ClusterName string `json:"clusterName"`
				} `json:"loadAssignment"`
			} `json:"clusters"`
			Secrets []struct {
				Name string `json:"name"`
			} `json:"secrets"`
		} `json:"staticResources"`
	}
	if err := json.Unmarshal(boot, &doc); err != nil {
		t.Fatal(err)
	}
	if cs := doc.StaticResources.Clusters; len(cs) != 1 || cs[0].Type != "STATIC" || cs[0].LoadAssignment.ClusterName != "c" {
		t.Errorf("clusters = %+v, want one STATIC cluster with the load assignment of c", cs)
	}
	if ss := doc.StaticResources.Secrets; len(ss) != 2 || ss[0].Name != "ROOTCA" || ss[1].Name != "kubernetes://cred" {
		t.Errorf("secrets = %+v, want ROOTCA and kubernetes://cred", ss)
	}
	if _, err := Validate(envoy, boot, t.TempDir()); err != nil {
		t.Fatalf("Envoy rejects the static bootstrap: %v", err)
	}

	// A route configuration the proxy does not get is an error, not a
	// silently empty route table.
	if _, _, err := StaticBootstrap("n", world(t, "http.9999"), m); err == nil || !strings.Contains(err.Error(), `"http.9999"`) {
		t.Errorf("rds naming a missing route configuration: err = %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	envoy := Path(t)
	boot := []byte(`{"staticResources": {"clusters": [{"name": "c", "type": "STATIC", "connectTimeout": "-1s"}]}}`)
	_, err := Validate(envoy, boot, t.TempDir())
	if err == nil {
		t.Fatal("Envoy accepted a negative connect timeout")
	}
	if !strings.Contains(err.Error(), "Expected positive duration") {
		t.Errorf("the error does not carry Envoy's message: %v", err)
	}
}
