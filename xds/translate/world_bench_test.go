package translate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/bench/world"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// BenchmarkWorld is the generation column of test/bench/perf.sh's table
// (issue 16) as a Go benchmark: the world of test/bench/world read once
// through the file source as `meshgate translate` reads it, then translated
// (index included, as translate.Translate does) for its gateway each
// iteration. Profile it with -cpuprofile to see the generation alone.
func BenchmarkWorld(b *testing.B) {
	for _, kind := range []world.Kind{world.Ingress, world.EastWest} {
		for _, n := range []int{5000} {
			b.Run(fmt.Sprintf("%s-%dk", kind, n/1000), func(b *testing.B) {
				dir := b.TempDir()
				shape := world.Shape{Services: n, Gateway: kind}
				if _, err := world.Write(dir, shape); err != nil {
					b.Fatal(err)
				}
				labels, network := shape.Proxy()
				res, err := file.Load(file.Config{Paths: []string{dir}, Network: network})
				if err != nil || len(res.ObjErrs) > 0 {
					b.Fatal(err, res.ObjErrs)
				}
				k, v, _ := strings.Cut(labels, "=")
				sel := map[string]string{k: v}
				proxy := translate.Proxy{Type: node.TypeRouter, Namespace: model.IstioSystemNamespace, Labels: sel,
					Network: network, ClusterID: res.Mesh.LocalCluster}
				proxy.IP = translate.InferProxyIP(res.Mesh, proxy.Namespace, proxy.Labels)
				b.ReportAllocs()
				var r *translate.Result
				cpu0 := translate.CPUTime()
				for b.Loop() {
					if r, err = translate.Translate(res.Mesh, proxy, translate.DefaultOptions()); err != nil {
						b.Fatal(err)
					}
				}
				if len(r.Errors) > 0 || len(r.Clusters) == 0 {
					b.Fatalf("errors %v, %d clusters", r.Errors, len(r.Clusters))
				}
				// CPU time of the process (every goroutine and the GC) per
				// translation: on a shared machine, wall time grows with the
				// load and this much less.
				b.ReportMetric(float64((translate.CPUTime()-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(len(r.Clusters)), "clusters")
			})
		}
	}
}
