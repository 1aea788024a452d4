package file

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery/lastgood"
	"github.com/meshgate/meshgate/test/bench/world"
)

// writeServices writes n services, each with a Pod and an EndpointSlice, 100
// services per file, plus a Gateway and one VirtualService per service.
func writeServices(b *testing.B, dir string, n int) {
	b.Helper()
	for f := 0; f*100 < n; f++ {
		var sb strings.Builder
		for i := f * 100; i < min(n, (f+1)*100); i++ {
			ns := fmt.Sprintf("ns%d", i%50)
			ip := fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256)
			fmt.Fprintf(&sb, `apiVersion: v1
kind: Service
metadata: {name: svc%[1]d, namespace: %[2]s, labels: {app: svc%[1]d}}
spec:
  clusterIP: 10.96.%[4]d.%[5]d
  selector: {app: svc%[1]d}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: grpc, port: 9090}]
---
apiVersion: v1
kind: Pod
metadata: {name: svc%[1]d-pod, namespace: %[2]s, labels: {app: svc%[1]d, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: svc%[1]d, containers: [{name: app, image: app}]}
status: {phase: Running, podIP: %[3]s, podIPs: [{ip: %[3]s}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc%[1]d-1, namespace: %[2]s, labels: {kubernetes.io/service-name: svc%[1]d}}
addressType: IPv4
endpoints:
- addresses: [%[3]s]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: svc%[1]d-pod, namespace: %[2]s}
ports: [{name: http, port: 8080, protocol: TCP}, {name: grpc, port: 9090, protocol: TCP}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc%[1]d, namespace: %[2]s}
spec:
  hosts: [svc%[1]d.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: svc%[1]d.%[2]s.svc.cluster.local, port: {number: 80}}}]
    timeout: 5s
---
`, i, ns, ip, (i/256)%256, i%256)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d.yaml", f)), []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	gw := "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [\"*/*.example.com\"]}]\n"
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(gw), 0o644); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			writeServices(b, dir, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res, err := Load(Config{Paths: []string{dir}})
				if err != nil || len(res.ObjErrs) > 0 {
					b.Fatal(err, res.ObjErrs)
				}
				if got := len(res.Mesh.Local().Services); got != n {
					b.Fatalf("%d services, want %d", got, n)
				}
			}
		})
	}
}

// BenchmarkReload is Watch's reload after an edit: the documents that did not
// change come from the watcher's cache (here: all but one), and the objects
// go through the last-good keeper.
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			writeServices(b, dir, n)
			cache := newJSONCache()
			opts := Config{Paths: []string{dir}, cache: cache, keepers: map[string]*lastgood.Keeper{}} // as Watch
			if _, err := Load(opts); err != nil {
				b.Fatal(err)
			}
			cache.rotate()
			extra := filepath.Join(dir, "edited.yaml")
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				doc := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: edited-%d}\n", i)
				if err := os.WriteFile(extra, []byte(doc), 0o644); err != nil {
					b.Fatal(err)
				}
				res, err := Load(opts)
				cache.rotate()
				if err != nil || len(res.Mesh.Local().Services) != n {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadWorld reads the worlds of the performance table (issue 16,
// test/bench/world: per service a Service, 5 Pods, an EndpointSlice and a
// VirtualService) and reports objects read per second and the heap the
// result keeps (live-MB, after a GC).
func BenchmarkLoadWorld(b *testing.B) {
	for _, n := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprintf("ingress-%dk", n/1000), func(b *testing.B) {
			dir := b.TempDir()
			objs, err := world.Write(dir, world.Shape{Services: n})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var res *Result
			for b.Loop() {
				res, err = Load(Config{Paths: []string{dir}})
				if err != nil || len(res.ObjErrs) > 0 {
					b.Fatal(err, res.ObjErrs)
				}
			}
			if got := len(res.Mesh.Local().Services); got != n+1 {
				b.Fatalf("%d services, want %d", got, n+1)
			}
			b.ReportMetric(float64(objs)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
			b.StopTimer()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc)/1e6, "live-MB")
			runtime.KeepAlive(res)
		})
	}
}
