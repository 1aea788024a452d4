//go:build integration

package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/translate"
)

// gatewayAPIWorld is a Gateway API ingress next to envoyWorld's Istio one:
// Gateway api (class istio, manual deployment: its addresses name the
// gateway Service) with an HTTP listener for api.example.com, and an
// HTTPRoute that sends /b to backend-b, redirects /old/... to /new/...
// (ReplacePrefixMatch, 301) and everything else to backend-a.
const gatewayAPIWorld = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http-api, port: %[1]d, targetPort: %[1]d}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: istio-system}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: istio-ingressgateway}]
  listeners:
  - {name: http, hostname: api.example.com, port: %[1]d, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: default}
spec:
  parentRefs: [{name: api, namespace: istio-system}]
  hostnames: [api.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /b}}]
    backendRefs: [{name: backend-b, port: 8000}]
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {statusCode: 301, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
  - backendRefs: [{name: backend-a, port: 8000}]
`

// TestRealEnvoyGatewayAPI: a Gateway API Gateway and HTTPRoute, read by
// the file source and translated as istiod does, served to a real Envoy
// over ADS (state of the world and delta): requests for api.example.com
// reach the backend their rule names, and the ReplacePrefixMatch redirect
// answers 301 with the prefix replaced.
func TestRealEnvoyGatewayAPI(t *testing.T) {
	envoy := envoytest.Path(t)
	for _, api := range []corev3.ApiConfigSource_ApiType{corev3.ApiConfigSource_GRPC, corev3.ApiConfigSource_DELTA_GRPC} {
		t.Run(api.String(), func(t *testing.T) {
			w, mat := newEnvoyEnv(t)
			port := freePorts(t, 1)[0]
			srv, addr := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate)
			srv.Update(w.mesh("backend-a", fmt.Sprintf(gatewayAPIWorld, port)))
			e := startEnvoy(t, envoy, addr, api)
			waitACKed(t, srv, e, 30*time.Second, nil)

			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			base := fmt.Sprintf("http://127.0.0.1:%d", port)
			for path, want := range map[string]string{"/b/x": "backend-b", "/": "backend-a", "/bee": "backend-a"} {
				if got := get(t, client, base+path, "api.example.com"); got != want {
					t.Errorf("GET api.example.com%s = %q, want %q", path, got, want)
				}
			}
			req, err := http.NewRequest(http.MethodGet, base+"/old/page?q=1", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "api.example.com"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != fmt.Sprintf("http://api.example.com:%d/new/page?q=1", port) {
				t.Errorf("GET /old/page = %d, Location %q: want 301 to /new/page", resp.StatusCode, loc)
			}
		})
	}
}
