package translate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/meshgate/meshgate/xds/node"
)

// walkJSON calls f with the key path and value of every object member.
func walkJSON(v any, path string, f func(path, key string, val any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			f(path, k, c)
			walkJSON(c, path+"."+k, f)
		}
	case []any:
		for _, c := range x {
			walkJSON(c, path+"[]", f)
		}
	}
}

// TestEnvoyFlavorHasNoIstioExtensions reads every envoy-flavour golden output
// (kept current by TestGolden): no Istio type, filter or Istio-only metadata,
// and no deprecated SAN matcher; the istio flavour of the same case has istio.alpn
// wherever there is an HTTP connection manager.
func TestEnvoyFlavorHasNoIstioExtensions(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(casesDir, "*", "golden", "*.envoy.json"))
	if len(files) < 70 {
		t.Fatalf("%d envoy-flavour golden files, want one per case and proxy (run go test -update)", len(files))
	}
	withALPN := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walkJSON(doc, "", func(path, key string, val any) {
			s, _ := val.(string)
			switch {
			case key == "@type" && strings.Contains(s, "/istio."):
				t.Errorf("%s: %s: Istio type %s", f, path, s)
			case key == "name" && strings.HasPrefix(s, "istio."):
				t.Errorf("%s: %s: Istio extension %s", f, path, s)
			case key == "matchSubjectAltNames" || key == "alpn_override":
				t.Errorf("%s: %s.%s present", f, path, key)
			}
		})
		b, err = os.ReadFile(strings.TrimSuffix(f, ".envoy.json") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var istio any
		if err := json.Unmarshal(b, &istio); err != nil {
			t.Fatal(err)
		}
		hcms, alpn := 0, 0
		walkJSON(istio, "", func(_, key string, val any) {
			switch s, _ := val.(string); {
			case key == "@type" && strings.HasSuffix(s, ".HttpConnectionManager"):
				hcms++
			case key == "name" && s == istioALPNFilterName:
				alpn++
			}
		})
		if alpn != hcms {
			t.Errorf("%s: istio flavour has %d istio.alpn filters for %d HTTP connection managers", f, alpn, hcms)
		}
		withALPN += hcms
	}
	if withALPN == 0 {
		t.Error("no case has an HTTP connection manager")
	}
}

// TestMeshALPNPerCluster: upstream Envoy has no istio.alpn, so the envoy
// flavour offers on mesh mTLS what istio.alpn would: istio-http/1.1 or
// istio-h2 on clusters only HTTP routes use; clusters a tcp_proxy uses keep
// istiod's istio-peer-exchange.
func TestMeshALPNPerCluster(t *testing.T) {
	alpnOf := func(t *testing.T, f Flavor) []string {
		r, err := Translate(policyMesh(nil, nil), Proxy{Type: node.TypeRouter, Namespace: "istio-system",
			Labels: map[string]string{"istio": "ingressgateway"}, Flavor: f}, DefaultOptions())
		if err != nil || len(r.Clusters) != 1 {
			t.Fatalf("err=%v clusters=%d", err, len(r.Clusters))
		}
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := r.Clusters[0].GetTransportSocketMatches()[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
			t.Fatal(err)
		}
		return ctx.GetCommonTlsContext().GetAlpnProtocols()
	}
	if got := alpnOf(t, FlavorEnvoy); !slices.Equal(got, []string{"istio-http/1.1", "istio", "http/1.1"}) {
		t.Errorf("envoy flavour, HTTP/1.1 cluster: ALPN %v", got)
	}
	if got := alpnOf(t, FlavorIstio); !slices.Equal(got, []string{"istio-peer-exchange", "istio"}) {
		t.Errorf("istio flavour (istio.alpn rewrites it per request): ALPN %v", got)
	}
	// From the golden cases: a gRPC-Web (HTTP/2) upstream and a TCP upstream.
	for _, c := range []struct{ file, cluster, want string }{
		{"072-s003-5-12-grpc-web-without-targetport/golden/ingressgateway.envoy.json", "outbound|50051||web-grpc.istio.svc.cluster.local", `["istio-h2","istio","h2"]`},
		{"063-s003-5-6-tcp-subset-v1/golden/ingressgateway.envoy.json", "outbound|9000|v1|tcp-echo.istio.svc.cluster.local", `["istio-peer-exchange","istio"]`},
	} {
		b, err := os.ReadFile(filepath.Join(casesDir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Clusters []struct {
				Name                   string `json:"name"`
				TransportSocketMatches []struct {
					TransportSocket struct {
						TypedConfig struct {
							CommonTLSContext struct {
								ALPN []string `json:"alpnProtocols"`
							} `json:"commonTlsContext"`
						} `json:"typedConfig"`
					} `json:"transportSocket"`
				} `json:"transportSocketMatches"`
			} `json:"clusters"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, cl := range doc.Clusters {
			if cl.Name != c.cluster || len(cl.TransportSocketMatches) == 0 {
				continue
			}
			found = true
			got, _ := json.Marshal(cl.TransportSocketMatches[0].TransportSocket.TypedConfig.CommonTLSContext.ALPN)
			if string(got) != c.want {
				t.Errorf("%s: ALPN %s, want %s", c.cluster, got, c.want)
			}
		}
		if !found {
			t.Errorf("%s: no cluster %s with auto mTLS", c.file, c.cluster)
		}
	}
}
