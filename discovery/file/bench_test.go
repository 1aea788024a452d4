package file

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

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

// BenchmarkReload is Watch's reload after an edit of one file: files that
// did not change are neither read nor decoded (their stat is the one
// recorded, and older than racyWindow), the documents of
// the edited file that did not change come from the document cache, and
// the objects go through the last-good keeper. edit=small-file rewrites a
// file of one Namespace, edit=service-file one document (a timeout) of a
// file of 100 services (400 documents). files-read/op and files-decoded/op
// count the files read and decoded.
func BenchmarkReload(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, edit := range []string{"small-file", "service-file"} {
			b.Run(fmt.Sprintf("services=%d/edit=%s", n, edit), func(b *testing.B) {
				dir := b.TempDir()
				writeServices(b, dir, n)
				cache, files := newJSONCache(), newFileCache()
				opts := Config{Paths: []string{dir}, cache: cache, files: files, keepers: map[string]*lastgood.Keeper{}} // as Watch
				load := func() *Result {
					res, err := Load(opts)
					cache.rotate()
					files.rotate(err == nil)
					if err != nil || len(res.ObjErrs) > 0 || len(res.Mesh.Local().Services) != n {
						b.Fatal(err, res.ObjErrs)
					}
					return res
				}
				load()
				time.Sleep(racyWindow) // the files are no longer racy: the next load hashes them once and trusts their stat after
				load()
				edited := filepath.Join(dir, "edited.yaml")
				var orig []byte
				if edit == "service-file" {
					edited = filepath.Join(dir, fmt.Sprintf("f%04d.yaml", n/200))
					var err error
					if orig, err = os.ReadFile(edited); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				i, read, decoded := 0, 0, 0
				for b.Loop() {
					i++
					doc := []byte(fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: edited-%d}\n", i))
					if edit == "service-file" {
						doc = bytes.Replace(orig, []byte("timeout: 5s"), []byte(fmt.Sprintf("timeout: %ds", 5+i%2)), 1)
					}
					if err := os.WriteFile(edited, doc, 0o644); err != nil {
						b.Fatal(err)
					}
					res := load()
					read, decoded = read+res.filesRead, decoded+res.filesDecoded
				}
				b.ReportMetric(float64(read)/float64(i), "files-read/op")
				b.ReportMetric(float64(decoded)/float64(i), "files-decoded/op")
			})
		}
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
