package bootstrap

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

const gwID = "router~10.0.0.5~ingress-1.istio-system~istio-system.svc.cluster.local"

// The printed bootstrap (JSON and YAML) parses back into a Bootstrap that
// passes go-control-plane's ValidateAll and connects over ADS.
func TestEnvoyBootstrap(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			b, err := Envoy(Options{NodeID: gwID, XDSAddress: "meshgate.istio-system.svc:15010",
				Labels: map[string]string{"istio": "ingressgateway"}, Network: "net1"})
			if err != nil {
				t.Fatal(err)
			}
			out, err := Marshal(b, format)
			if err != nil {
				t.Fatal(err)
			}
			if format == "yaml" {
				if out, err = yaml.YAMLToJSON(out); err != nil {
					t.Fatal(err)
				}
			}
			var got bootstrapv3.Bootstrap
			if err := protojson.Unmarshal(out, &got); err != nil {
				t.Fatalf("printed bootstrap does not parse: %v\n%s", err, out)
			}
			if err := got.ValidateAll(); err != nil {
				t.Fatalf("ValidateAll: %v", err)
			}
			md := got.GetNode().GetMetadata().GetFields()
			if got.GetNode().GetId() != gwID || md["LABELS"].GetStructValue().GetFields()["istio"].GetStringValue() != "ingressgateway" ||
				md["NAMESPACE"].GetStringValue() != "istio-system" || md["NETWORK"].GetStringValue() != "net1" || md["CLUSTER_ID"].GetStringValue() != "Kubernetes" {
				t.Errorf("node: %v", got.GetNode())
			}
			ads := got.GetDynamicResources()
			if ads.GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != XDSCluster ||
				ads.GetLdsConfig().GetAds() == nil || ads.GetCdsConfig().GetAds() == nil {
				t.Errorf("dynamic resources: %v", ads)
			}
			if bo := ads.GetAdsConfig().GetGrpcServices()[0].GetEnvoyGrpc().GetRetryPolicy().GetRetryBackOff(); bo.GetBaseInterval().AsDuration() != XDSRetryBase ||
				bo.GetMaxInterval().AsDuration() != XDSRetryMax {
				t.Errorf("ADS reconnect backoff %v, want %v..%v", bo, XDSRetryBase, XDSRetryMax)
			}
			c := got.GetStaticResources().GetClusters()[0]
			var opts httpv3.HttpProtocolOptions
			if err := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].UnmarshalTo(&opts); err != nil ||
				opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
				t.Errorf("xds cluster must speak HTTP/2: %v", c)
			}
			if c.GetType() != clusterv3.Cluster_STRICT_DNS {
				t.Errorf("a DNS name must give a STRICT_DNS cluster, got %v", c.GetType())
			}
			if got.GetAdmin().GetAddress().GetSocketAddress().GetPortValue() != 15000 {
				t.Errorf("admin: %v", got.GetAdmin())
			}
		})
	}
}

func TestBootstrapErrors(t *testing.T) {
	for _, o := range []Options{
		{NodeID: "gateway-1"},
		{NodeID: gwID, XDSAddress: "no-port"},
		{NodeID: gwID, AdminAddress: "127.0.0.1:0"},
		{NodeID: gwID, XDSAddress: "10.0.0.2:15012,meshgate.istio-system.svc:15012"},
		{NodeID: gwID, XDSAddress: "10.0.0.2:15012,"},
	} {
		if _, err := Envoy(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := Marshal(&bootstrapv3.Bootstrap{}, "toml"); err == nil {
		t.Error("unknown format accepted")
	}
}

// Several xDS addresses (replicas of the daemon without a Service in
// front): each an endpoint of xds-grpc, which Envoy's ADS reconnects
// through.
func TestEnvoyBootstrapReplicas(t *testing.T) {
	b, err := Envoy(Options{NodeID: gwID, XDSAddress: "10.0.0.2:15012,10.0.0.2:15112"})
	if err != nil {
		t.Fatal(err)
	}
	c := b.GetStaticResources().GetClusters()[0]
	if c.GetType() != clusterv3.Cluster_STATIC {
		t.Errorf("IP addresses must give a STATIC cluster, got %v", c.GetType())
	}
	var got []string
	for _, e := range c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints() {
		sa := e.GetEndpoint().GetAddress().GetSocketAddress()
		got = append(got, fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
	}
	if strings.Join(got, ",") != "10.0.0.2:15012,10.0.0.2:15112" {
		t.Errorf("xds-grpc endpoints %v", got)
	}
}

func TestGRPCBootstrap(t *testing.T) {
	out, err := GRPC(Options{NodeID: "sidecar~10.0.0.9~client.default~default.svc.cluster.local", XDSAddress: "127.0.0.1:15010"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct {
			URI string `json:"server_uri"`
		} `json:"xds_servers"`
		Node struct {
			ID       string         `json:"id"`
			Metadata map[string]any `json:"metadata"`
		} `json:"node"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Servers[0].URI != "127.0.0.1:15010" || doc.Node.Metadata["GENERATOR"] != "grpc" || doc.Node.Metadata["NAMESPACE"] != "default" ||
		!strings.HasPrefix(doc.Node.ID, "sidecar~") {
		t.Errorf("gRPC bootstrap: %s", out)
	}
}

// With the agent's socket, xds-grpc is TLS with SDS default as client
// certificate and SDS ROOTCA + the daemon's DNS name as validation; the
// sds-grpc cluster is the socket. (The real Envoy connects with it in
// cmd/internal/daemon's TestKubeAgentEnvoySecure.)
func TestEnvoyBootstrapSecure(t *testing.T) {
	b, err := Envoy(Options{NodeID: gwID, XDSAddress: "meshgate.istio-system.svc:15012", SDSSocket: "/var/run/meshgate/sds.sock"})
	if err != nil {
		t.Fatal(err)
	}
	cs := b.GetStaticResources().GetClusters()
	if len(cs) != 2 || cs[1].GetName() != SDSCluster ||
		cs[1].GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetPipe().GetPath() != "/var/run/meshgate/sds.sock" {
		t.Fatalf("clusters: %v", cs)
	}
	var tc tlsv3.UpstreamTlsContext
	if err := cs[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(&tc); err != nil {
		t.Fatalf("xds-grpc transport socket: %v", err)
	}
	ctx := tc.GetCommonTlsContext()
	cv := ctx.GetCombinedValidationContext()
	if tc.GetSni() != "meshgate.istio-system.svc" ||
		ctx.GetTlsCertificateSdsSecretConfigs()[0].GetName() != "default" ||
		ctx.GetTlsCertificateSdsSecretConfigs()[0].GetSdsConfig().GetApiConfigSource().GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName() != SDSCluster ||
		cv.GetValidationContextSdsSecretConfig().GetName() != "ROOTCA" ||
		cv.GetDefaultValidationContext().GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != "meshgate.istio-system.svc" {
		t.Fatalf("xds-grpc TLS: %v", &tc)
	}
	for _, o := range []Options{
		{NodeID: gwID, XDSAddress: "10.0.0.1:15012", SDSSocket: "/s.sock"},                            // no DNS name to check
		{NodeID: gwID, XDSAddress: "meshgate.istio-system.svc:15012", SDSSocket: "sds.sock"},          // relative
		{NodeID: gwID, XDSAddress: "10.0.0.1:15012", SDSSocket: "/s.sock", XDSServerName: "10.0.0.1"}, // IP as name
	} {
		if _, err := Envoy(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := Envoy(Options{NodeID: gwID, XDSAddress: "10.0.0.1:15012", SDSSocket: "/s.sock", XDSServerName: "meshgate.istio-system.svc"}); err != nil {
		t.Errorf("an IP address with --xds-server-name: %v", err)
	}
}

// With certificate files instead of the agent: the same TLS, files named.
func TestEnvoyBootstrapSecureFiles(t *testing.T) {
	b, err := Envoy(Options{NodeID: gwID, XDSAddress: "10.0.0.1:15012", XDSCertDir: "/etc/svid", XDSServerName: "meshgate.istio-system.svc"})
	if err != nil {
		t.Fatal(err)
	}
	cs := b.GetStaticResources().GetClusters()
	var tc tlsv3.UpstreamTlsContext
	if err := cs[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(&tc); err != nil || len(cs) != 1 {
		t.Fatalf("clusters %d, xds-grpc transport socket: %v", len(cs), err)
	}
	ctx := tc.GetCommonTlsContext()
	vc := ctx.GetValidationContext()
	if ctx.GetTlsCertificates()[0].GetCertificateChain().GetFilename() != "/etc/svid/cert-chain.pem" ||
		ctx.GetTlsCertificates()[0].GetPrivateKey().GetFilename() != "/etc/svid/key.pem" ||
		vc.GetTrustedCa().GetFilename() != "/etc/svid/root-cert.pem" ||
		vc.GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != "meshgate.istio-system.svc" || tc.GetSni() != "meshgate.istio-system.svc" {
		t.Fatalf("xds-grpc TLS: %v", &tc)
	}
	for _, o := range []Options{
		{NodeID: gwID, XDSAddress: "meshgate.istio-system.svc:15012", XDSCertDir: "svid"},
		{NodeID: gwID, XDSAddress: "meshgate.istio-system.svc:15012", XDSCertDir: "/svid", SDSSocket: "/s.sock"},
	} {
		if _, err := Envoy(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
