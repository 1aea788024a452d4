//go:build integration

package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/translate"
)

// keepBothClusters are VirtualServices on other hosts that keep both
// backends' clusters referenced, so that moving the "*" route from one
// backend to the other changes routes only.
const keepBothClusters = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: keep-a, namespace: default}
spec:
  hosts: [a.example.com]
  gateways: [istio-system/gw]
  http:
  - route:
    - destination: {host: backend-a, port: {number: 8000}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: keep-b, namespace: default}
spec:
  hosts: [b.example.com]
  gateways: [istio-system/gw]
  http:
  - route:
    - destination: {host: backend-b, port: {number: 8000}}
`

// TestRealEnvoyRouteOnlyChange: a VirtualService edit that keeps every
// cluster is rebuilt as routes only (meshgate_xds_rebuild_duration_seconds
// {kind="routes"}), and the real Envoy, state of the world and delta, ACKs
// the new route configuration (cluster and listener versions unchanged)
// and serves it.
func TestRealEnvoyRouteOnlyChange(t *testing.T) {
	envoy := envoytest.Path(t)
	for _, api := range []corev3.ApiConfigSource_ApiType{corev3.ApiConfigSource_GRPC, corev3.ApiConfigSource_DELTA_GRPC} {
		t.Run(api.String(), func(t *testing.T) {
			w, mat := newEnvoyEnv(t)
			reg := prometheus.NewRegistry()
			srv, addr := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate, func(o *server.Options) {
				o.EnvoyRoutes, o.Registerer = server.EnvoyRoutes, reg
			})
			srv.Update(w.mesh("backend-a", keepBothClusters))
			e := startEnvoy(t, envoy, addr, api)
			first := waitACKed(t, srv, e, 30*time.Second, nil)
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			url := fmt.Sprintf("http://127.0.0.1:%d/", w.httpPort)
			if body := get(t, client, url, ""); body != "backend-a" {
				t.Fatalf("GET %s = %q, want backend-a", url, body)
			}

			srv.Update(w.mesh("backend-b", keepBothClusters))
			second := waitACKed(t, srv, e, 30*time.Second, first, "route")
			for _, typ := range []string{"cluster", "listener"} {
				if second[typ] != first[typ] {
					t.Errorf("%s version changed by a route-only edit: %s → %s", typ, first[typ], second[typ])
				}
			}
			if body := get(t, client, url, ""); body != "backend-b" {
				t.Errorf("GET %s after the edit = %q, want backend-b", url, body)
			}
			if body := get(t, client, url, "a.example.com"); body != "backend-a" {
				t.Errorf("GET %s (a.example.com) after the edit = %q, want backend-a", url, body)
			}
			ms := metrictest.Find(t, reg, "meshgate_xds_rebuild_duration_seconds", map[string]string{"kind": "routes"})
			if len(ms) != 1 || ms[0].GetHistogram().GetSampleCount() != 1 {
				t.Errorf("route-only rebuilds: %v, want one", ms)
			}
			st, _ := srv.Proxy(envoyNodeID)
			for typ, ts := range st.Types {
				if ts.NACKs > 0 {
					t.Errorf("%s: %d NACKs, last: %+v", typ, ts.NACKs, ts.LastNACK)
				}
			}
		})
	}
}
