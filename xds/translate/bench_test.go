package translate

import (
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
)

// benchMesh builds n services (2 endpoints each, 2 subsets via a
// DestinationRule), one VirtualService per service routing host
// svc-i.example.com with a prefix match and a 90/10 split, and one Gateway per
// 10 services with an HTTP server and a credentialName HTTPS server, all
// selecting the same ingress proxy: the worst case for one gateway.
func benchMesh(n int) *model.MeshState { return benchMeshEndpoints(n, 2) }

// benchMeshEndpoints is benchMesh with eps endpoints per service (versions
// v1 and v2 alternating).
func benchMeshEndpoints(n, eps int) *model.MeshState {
	c := &model.ClusterState{ID: "Kubernetes", Network: "n1"}
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		ns := fmt.Sprintf("ns-%d", i%20)
		s := model.Service{Meta: model.Meta{Name: name, Namespace: ns}, Hostname: name + "." + ns + ".svc.cluster.local",
			Ports: []model.ServicePort{{Name: "http", Port: 8080}}}
		for j := range eps {
			k := i*eps + j
			s.Endpoints = append(s.Endpoints, model.Endpoint{
				Address: fmt.Sprintf("10.%d.%d.%d", k>>16, (k>>8)&255, k&255), Ready: true, TLSMode: "istio",
				Ports: []model.EndpointPort{{Name: "http", Port: 8080}}, ServiceAccount: name,
				Labels: map[string]string{"version": fmt.Sprintf("v%d", j%2+1)},
			})
		}
		c.Services = append(c.Services, s)
		c.DestinationRules = append(c.DestinationRules, model.DestinationRule{Meta: model.Meta{Name: name, Namespace: ns},
			Host: s.Hostname, Subsets: []model.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}}})
		gwName := fmt.Sprintf("gw-%d", i/10)
		c.VirtualServices = append(c.VirtualServices, model.VirtualService{
			Meta: model.Meta{Name: name, Namespace: "istio-system"}, Hosts: []string{name + ".example.com"}, Gateways: []string{gwName},
			HTTP: []model.HTTPRoute{{
				Match: []model.HTTPMatch{{URI: &model.StringMatch{Kind: "prefix", Prefix: "/api"}}},
				Route: []model.HTTPRouteDestination{
					{Destination: model.Destination{Host: s.Hostname, Subset: "v1"}, Weight: 90},
					{Destination: model.Destination{Host: s.Hostname, Subset: "v2"}, Weight: 10},
				},
			}},
		})
		if i%10 == 0 {
			var hosts []string
			for k := i; k < i+10 && k < n; k++ {
				hosts = append(hosts, fmt.Sprintf("svc-%d.example.com", k))
			}
			c.Gateways = append(c.Gateways, model.Gateway{
				Meta: model.Meta{Name: gwName, Namespace: "istio-system"}, Selector: map[string]string{"istio": "ingressgateway"},
				Servers: []model.Server{
					{Port: model.Port{Number: 80, Name: "http", Protocol: model.ProtocolHTTP}, Hosts: hosts},
					{Port: model.Port{Number: 443, Name: "https", Protocol: model.ProtocolHTTPS}, Hosts: hosts,
						TLS: &model.ServerTLS{Mode: model.TLSSimple, CredentialName: gwName + "-cred"}},
				},
			})
			c.Secrets = append(c.Secrets, model.Secret{Meta: model.Meta{Name: gwName + "-cred", Namespace: "istio-system"},
				Data: map[string][]byte{"tls.crt": []byte("crt"), "tls.key": []byte("key")}})
		}
	}
	c.Normalize()
	return &model.MeshState{LocalCluster: "Kubernetes", Clusters: []*model.ClusterState{c}}
}

var benchProxy = Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}, ClusterID: "Kubernetes"}

func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		mesh := benchMesh(n)
		b.Run(fmt.Sprintf("services=%d/full", n), func(b *testing.B) {
			b.ReportAllocs()
			var r *Result
			for b.Loop() {
				r, _ = Translate(mesh, benchProxy, DefaultOptions())
			}
			reportSize(b, r)
		})
		ix := BuildIndex(mesh, DefaultOptions())
		b.Run(fmt.Sprintf("services=%d/prebuilt-index", n), func(b *testing.B) {
			b.ReportAllocs()
			var r *Result
			for b.Loop() {
				r = ix.Translate(benchProxy)
			}
			reportSize(b, r)
		})
	}
}

// BenchmarkFullSnapshot is issue 16's full snapshot: 30k services with 10
// endpoints each (300k endpoints), everything of one ingress gateway built
// from the mesh state (index included), with the cost per service.
func BenchmarkFullSnapshot(b *testing.B) {
	const n, eps = 30000, 10
	mesh := benchMeshEndpoints(n, eps)
	b.ReportAllocs()
	var r *Result
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	for b.Loop() {
		r, _ = Translate(mesh, benchProxy, DefaultOptions())
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	reportSize(b, r)
	// the process's CPU time per snapshot, steadier than wall time on a
	// shared machine (as BenchmarkWorld's)
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
	ops := float64(b.N) * n
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/ops, "allocs/service")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/ops, "B/service")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/ops, "µs/service")
}

func reportSize(b *testing.B, r *Result) {
	if len(r.Errors) > 0 {
		b.Fatalf("benchmark input has errors: %v", r.Errors[0])
	}
	b.ReportMetric(float64(len(r.Clusters)), "clusters")
	b.ReportMetric(float64(len(r.Routes)), "routes")
}

func TestBenchMeshTranslates(t *testing.T) {
	r, err := Translate(benchMesh(100), benchProxy, DefaultOptions())
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("err=%v errors=%v", err, r.Errors)
	}
	// 2 listeners (8080? no gateway Service: 80 and 443), 1 http route + 10 https routes,
	// 200 subset clusters, 10 credential secrets.
	if len(r.Listeners) != 2 || len(r.Routes) != 11 || len(r.Clusters) != 200 || len(r.Endpoints) != 200 || len(r.Secrets) != 10 {
		t.Fatalf("listeners=%d routes=%d clusters=%d endpoints=%d secrets=%d",
			len(r.Listeners), len(r.Routes), len(r.Clusters), len(r.Endpoints), len(r.Secrets))
	}
}

// BenchmarkEastWest builds the east-west gateway of a cluster with n services
// (one port, two DestinationRule subsets each: 3n SNI filter chains and
// clusters) and reports the listener's encoded size.
func BenchmarkEastWest(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		mesh := benchMesh(n)
		c := mesh.Clusters[0]
		c.Gateways = append(c.Gateways, model.Gateway{Meta: model.Meta{Name: "cross-network-gateway", Namespace: "istio-system"},
			Selector: map[string]string{"istio": "eastwestgateway"},
			Servers: []model.Server{{Port: model.Port{Number: 15443, Name: "tls", Protocol: model.ProtocolTLS},
				Hosts: []string{"*.local"}, TLS: &model.ServerTLS{Mode: model.TLSAutoPassthrough}}}})
		c.Normalize()
		proxy := Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "eastwestgateway"}, ClusterID: "Kubernetes", Network: "n1"}
		ix := BuildIndex(mesh, DefaultOptions())
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var r *Result
			for b.Loop() {
				r = ix.Translate(proxy)
			}
			if len(r.Listeners) != 1 || len(r.Listeners[0].FilterChains) != 3*n {
				b.Fatalf("want one listener with %d chains, got %d listeners", 3*n, len(r.Listeners))
			}
			b.ReportMetric(float64(proto.Size(r.Listeners[0])), "listener-bytes")
			total := 0
			for _, cl := range r.Clusters {
				total += proto.Size(cl)
			}
			for _, e := range r.Endpoints {
				total += proto.Size(e)
			}
			b.ReportMetric(float64(total), "cds+eds-bytes")
		})
	}
}

// BenchmarkOutput is translate's output phase for 5k services: the document
// encoded whole then written (NewDocument, WriteIndent: -o yaml's way)
// against WriteResult's chunks (-o json), the same bytes. held-MB is the
// heap after the write and a GC with the result still referenced (the mesh
// included): WriteResult has dropped the resources as it wrote them.
func BenchmarkOutput(b *testing.B) {
	mesh := benchMesh(5000)
	run := func(b *testing.B, write func(*Result) error) {
		b.ReportAllocs()
		var held uint64
		for b.Loop() {
			b.StopTimer()
			r, err := Translate(mesh, benchProxy, DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := write(r); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			held = ms.HeapAlloc
			runtime.KeepAlive(r)
			b.StartTimer()
		}
		b.ReportMetric(float64(held)/1e6, "held-MB")
	}
	b.Run("document", func(b *testing.B) {
		run(b, func(r *Result) error {
			d, err := NewDocument(r)
			if err != nil {
				return err
			}
			return d.WriteIndent(io.Discard)
		})
	})
	b.Run("streamed", func(b *testing.B) {
		run(b, func(r *Result) error { return WriteResult(io.Discard, r) })
	})
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
