//go:build integration

package daemon

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/test/kubetest"
)

// ingressYAML routes the ingress gateway to echo, so that its EDS cluster
// is served to the gateway.
const ingressYAML = `apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route:
    - destination: {host: echo.default.svc.cluster.local, port: {number: 8080}}
`

// BenchmarkEndpointSliceToADS: time from an EndpointSlice write to an ADS
// client (the ingress gateway's EDS stream) receiving the new endpoint,
// through meshgate run --kubeconfig; 100 sequential changes per iteration.
// holdoff is the daemon's debounce-holdoff (source and xDS server; 100ms is
// the default).
//
//	go test -tags integration ./cmd/internal/daemon -run '^$' -bench EndpointSliceToADS -benchtime 1x
func BenchmarkEndpointSliceToADS(b *testing.B) {
	c := kubetest.New(b, kubetest.Options{Name: "bench-ads"})
	ctx := context.Background()
	a := mustApplier(b, c)
	if err := a.ApplyYAML(ctx, []byte(ingressYAML+"---\n"+echoYAML+"---\n"+fmt.Sprintf(hostSliceYAML, "10.9.0.0", 9090))); err != nil {
		b.Fatal(err)
	}
	kcfg := c.RESTConfig()
	kcfg.QPS, kcfg.Burst = 1000, 1000 // the writer must not be throttled client-side
	kc, err := kubernetes.NewForConfig(kcfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, holdoff := range []time.Duration{100 * time.Millisecond, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("holdoff=%v", holdoff), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Kubeconfig, cfg.ClusterID, cfg.Network = c.KubeconfigPath(), "cluster1", "network1"
			cfg.XDSAddress, cfg.MonitoringAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			cfg.DebounceHoldoff, cfg.DebounceMaxDelay = Duration(holdoff), Duration(10*holdoff)
			d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
			if err != nil {
				b.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- d.Run(rctx) }()
			defer func() { cancel(); <-done }()
			updates := edsAddresses(rctx, b, d.XDSAddr(), "outbound|8080||echo.default.svc.cluster.local")
			var lat []time.Duration
			b.ResetTimer()
			for i := range b.N * 100 {
				addr := fmt.Sprintf("10.9.%d.%d", (i/250)%250, i%250+1)
				es, err := kc.DiscoveryV1().EndpointSlices("default").Get(ctx, "echo-1", metav1.GetOptions{})
				if err != nil {
					b.Fatal(err)
				}
				es.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)}}}
				start := time.Now()
				if _, err := kc.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, waitEDS(b, updates, addr+":9090", start))
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1), "max-ms")
			b.Logf("%d changes: p50 %.1f ms, p99 %.1f ms, max %.1f ms", len(lat), pct(0.5), pct(0.99), pct(1))
		})
	}
}

func waitEDS(b *testing.B, updates <-chan []string, want string, start time.Time) time.Duration {
	timeout := time.After(time.Minute)
	for {
		select {
		case got, ok := <-updates:
			if !ok {
				b.Fatal("ADS stream ended")
			}
			if slices.Contains(got, want) {
				return time.Since(start)
			}
		case <-timeout:
			b.Fatalf("the gateway never got %s", want)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
