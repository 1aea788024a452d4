package server

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/translate"
)

// Benchmarks. Run e.g.
//
//	go test ./xds/server -run '^$' -bench . -benchtime 5x
//
// They print figures and never fail on time.

// benchCluster is n services with two endpoints each, one gateway on port 80
// and one VirtualService per service binding svcNNNNN.example.com to it (the
// fake translator gives one virtual host, cluster and CLA per service; the
// real one the same through the VirtualServices).
func benchCluster(n int) model.ClusterState {
	c := model.ClusterState{Gateways: []model.Gateway{gateway("gw", ingressLabels, 80)}}
	for i := range n {
		ip := fmt.Sprintf("10.%d.%d.", i/256%256, i%256)
		name, ns := fmt.Sprintf("svc%05d", i), "ns"+strconv.Itoa(i%50)
		c.Services = append(c.Services, service(name, ns, 8080, ip+"1:8080", ip+"2:8080"))
		c.VirtualServices = append(c.VirtualServices, model.VirtualService{
			Meta: model.Meta{Name: name, Namespace: ns}, Hosts: []string{name + ".example.com"}, Gateways: []string{"istio-system/gw"},
			HTTP: []model.HTTPRoute{{Route: []model.HTTPRouteDestination{{Destination: model.Destination{Host: name + "." + ns + ".svc.cluster.local", Port: 8080}}}}},
		})
	}
	return c
}

func benchServer(b *testing.B, envoy TranslateFunc) *Server {
	b.Helper()
	s, err := New(Config{}, Options{Envoy: envoy, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// attachGateways registers n gateway nodes of one group without streams.
func attachGateways(b testing.TB, s *Server, n int) {
	b.Helper()
	for i := range n {
		node, err := ParseNode(gatewayNode(fmt.Sprintf("gw-%d", i)), "Kubernetes")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.attach(node); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFullRebuild: a configuration change (a gateway port flips) over n
// services: translation, hashing, snapshot, publication to one gateway.
func BenchmarkFullRebuild(b *testing.B) {
	for _, tr := range []struct {
		name string
		fn   TranslateFunc
	}{{"fake", fakeTranslate}, {"real", translate.Translate}} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("translate=%s/services=%d", tr.name, n), func(b *testing.B) {
				s := benchServer(b, tr.fn)
				attachGateways(b, s, 1)
				c := benchCluster(n)
				meshes := [2]*model.MeshState{mesh(c), nil}
				c.Gateways[0].Servers[0].Port.Number = 81
				meshes[1] = mesh(c)
				s.Update(meshes[1])
				s.rebuild()
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for b.Loop() {
					s.Update(meshes[i%2])
					s.rebuild()
					i++
				}
			})
		}
	}
}

// BenchmarkEndpointChange: the server-side cost of an endpoint-only change
// (one endpoint of one of 1000 services moves), from Update to the group's
// endpoint cache holding the new resource, with 1, 100 and 1000 gateways of
// one shape attached (no streams: BenchmarkEndpointChangeFleet and
// BenchmarkFanout add them). shared: each state shares what did not change
// with the one before (a source that copies only what it changes); fresh:
// every state is a deep copy (the file source today), so the server compares
// by value. real-fast-path is translate's endpoint translator, fake-full the
// test translator without a fast path (every endpoint resource again).
func BenchmarkEndpointChange(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"real-fast-path", Options{Envoy: translate.Translate, EnvoyEndpoints: EnvoyEndpoints}},
		{"fake-full", Options{Envoy: fakeTranslate}},
	} {
		for _, states := range []string{"shared", "fresh"} {
			for _, gws := range []int{1, 100, 1000} {
				if tc.name == "fake-full" && (states == "fresh" || gws != 100) {
					continue
				}
				b.Run(fmt.Sprintf("%s/%s/gateways=%d", tc.name, states, gws), func(b *testing.B) {
					benchEndpointChange(b, tc.opts, gws, states == "shared")
				})
			}
		}
	}
}

func benchEndpointChange(b *testing.B, o Options, gateways int, shared bool) {
	o.Logger = discardLogger()
	s, err := New(Config{}, o)
	if err != nil {
		b.Fatal(err)
	}
	attachGateways(b, s, gateways)
	c := benchCluster(1000)
	base := mesh(c)
	s.Update(base)
	s.rebuild()
	meshes := make([]*model.MeshState, 16)
	for i := range meshes {
		addr := fmt.Sprintf("10.200.0.%d", i+1)
		if !shared {
			c.Services[0].Endpoints[0].Address = addr
			meshes[i] = mesh(c)
			continue
		}
		meshes[i] = withEndpointAddress(base, 0, 0, addr)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		s.Update(meshes[i%len(meshes)])
		s.rebuild()
		i++
	}
}

// withEndpointAddress is m with the address of endpoint e of service svc of
// the local cluster changed, sharing everything else with m (copy on write,
// as an incremental source publishes).
func withEndpointAddress(m *model.MeshState, svc, e int, addr string) *model.MeshState {
	c := *m.Local()
	c.Services = slices.Clone(c.Services)
	eps := slices.Clone(c.Services[svc].Endpoints)
	eps[e].Address = addr
	c.Services[svc].Endpoints = eps
	return m.WithCluster(&c)
}

// fleet is n ADS clients (state of the world) of one gateway group over
// real gRPC connections (100 streams per connection).
type fleet struct {
	h       *harness
	clients []*adstest.Client
}

func newFleet(b *testing.B, n int, c model.ClusterState) *fleet {
	b.Helper()
	h := newHarnessConfig(b, Config{Holdoff: time.Millisecond, MaxDelay: 5 * time.Millisecond}, Options{Envoy: fakeTranslate})
	h.srv.Update(mesh(c))
	f := &fleet{h: h}
	var cc *grpc.ClientConn
	for i := range n {
		if i%100 == 0 {
			conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = conn.Close() })
			cc = conn
		}
		cl, err := adstest.Dial(h.ctx, cc, gatewayNode(fmt.Sprintf("gw-%d", i)), false)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		f.clients = append(f.clients, cl)
	}
	f.waitAll(b, func(s adstest.State) bool {
		return s.Count(resource.ListenerType) > 0 && len(s.Resources[resource.EndpointType]) == len(c.Services)
	})
	return f
}

func (f *fleet) waitAll(b *testing.B, cond func(adstest.State) bool) {
	b.Helper()
	for _, c := range f.clients {
		if _, err := c.WaitFor(f.h.ctx, cond); err != nil {
			b.Fatalf("client never reached the state: %v", err)
		}
	}
}

func hasEndpoint(s adstest.State, cluster, addr string) bool {
	cla, _ := s.Resources[resource.EndpointType][cluster].(*endpointv3.ClusterLoadAssignment)
	for _, loc := range cla.GetEndpoints() {
		for _, lb := range loc.GetLbEndpoints() {
			if lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress() == addr {
				return true
			}
		}
	}
	return false
}

// BenchmarkEndpointChangeFleet: an endpoint-only change with 100 connected
// gateways; one op is the time from Update until every gateway holds (and
// has ACKed) the new endpoints. Allocations include the 100 in-process
// clients.
func BenchmarkEndpointChangeFleet(b *testing.B) {
	c := benchCluster(100)
	f := newFleet(b, 100, c)
	const cluster = "outbound|8080||svc00000.ns0.svc.cluster.local"
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		addr := fmt.Sprintf("10.201.%d.%d", i/250, i%250+1)
		c.Services[0].Endpoints[0].Address = addr
		f.h.srv.Update(mesh(c))
		f.waitAll(b, func(s adstest.State) bool { return hasEndpoint(s, cluster, addr) })
	}
	b.StopTimer()
	reportAckLatency(b, f.h, "endpoint")
	reportNoListenerPushes(b, f)
}

// reportAckLatency reports the server's own change-to-ACK histogram: mean
// over every proxy and change.
func reportAckLatency(b *testing.B, h *harness, typ string) {
	for _, m := range metrictest.Find(b, h.reg, "meshgate_xds_config_ack_latency_seconds", map[string]string{"type": typ}) {
		if hist := m.GetHistogram(); hist.GetSampleCount() > 0 {
			b.ReportMetric(hist.GetSampleSum()/float64(hist.GetSampleCount())*1000, "ack-ms-mean")
		}
	}
}

func reportNoListenerPushes(b *testing.B, f *fleet) {
	for _, c := range f.clients {
		if n := c.State().Count(resource.ListenerType); n != 1 {
			b.Errorf("a gateway got %d listener responses during endpoint-only changes, want 1", n)
			return
		}
	}
}

// BenchmarkFanout: 1000 concurrent ADS streams of one gateway group; one op
// is the time from a listener change to the last gateway holding it. Also
// reports the process's heap and RSS with the streams open (clients are in
// the same process, so these bound the daemon's share from above).
func BenchmarkFanout(b *testing.B) {
	c := benchCluster(10)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f := newFleet(b, 1000, c)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	heapMB, rss := float64(after.HeapInuse-before.HeapInuse)/(1<<20), rssMB()
	b.ReportAllocs()
	b.ResetTimer()
	port := uint32(80)
	for b.Loop() {
		port++
		gw(&c, "gw").Servers[0].Port.Number = port
		f.h.srv.Update(mesh(c))
		want := "0.0.0.0_" + strconv.Itoa(int(port))
		f.waitAll(b, func(s adstest.State) bool { _, ok := s.Resources[resource.ListenerType][want]; return ok })
	}
	b.StopTimer()
	reportAckLatency(b, f.h, "listener")
	// Reported after the loop: ResetTimer drops earlier metrics.
	b.ReportMetric(heapMB, "heap-MB-streams")
	b.ReportMetric(rss, "RSS-MB")
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// BenchmarkVirtualServiceChange: the server-side cost of a change of one
// VirtualService (its route's timeout flips; the clusters stay) over n
// services, one gateway: "full" translates everything again (no
// EnvoyRoutes), "routes" only the route configuration it touches (here the
// only one: every VirtualService binds to the port-80 server). shared: the
// new state shares what did not change with the old one; fresh: it is a
// deep copy (the file source), so the differ hashes.
func BenchmarkVirtualServiceChange(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, mode := range []string{"full/shared", "routes/shared", "routes/fresh"} {
			b.Run(fmt.Sprintf("%s/services=%d", mode, n), func(b *testing.B) {
				o := Options{Envoy: translate.Translate, EnvoyEndpoints: EnvoyEndpoints, Logger: discardLogger()}
				if strings.HasPrefix(mode, "routes") {
					o.EnvoyRoutes = EnvoyRoutes
				}
				s, err := New(Config{}, o)
				if err != nil {
					b.Fatal(err)
				}
				attachGateways(b, s, 1)
				base := mesh(benchCluster(n))
				meshes := [2]*model.MeshState{base, withTimeout(base, 0, 5*time.Second)}
				if strings.HasSuffix(mode, "fresh") {
					meshes[1] = base.WithCluster(meshes[1].Local().Clone())
				}
				s.Update(base)
				s.rebuild()
				b.ReportAllocs()
				b.ResetTimer()
				i := 1
				for b.Loop() {
					s.Update(meshes[i%2])
					s.rebuild()
					i++
				}
			})
		}
	}
}

// withTimeout is m with the timeout of the first route of VirtualService
// vs of the local cluster set, sharing everything else with m.
func withTimeout(m *model.MeshState, vs int, d time.Duration) *model.MeshState {
	c := *m.Local()
	c.VirtualServices = slices.Clone(c.VirtualServices)
	v := &c.VirtualServices[vs]
	v.HTTP = slices.Clone(v.HTTP)
	v.HTTP[0].Timeout = &d
	return m.WithCluster(&c)
}
