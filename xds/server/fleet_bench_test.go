package server

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/translate"
)

// BenchmarkGatewayFleet: n gateways of one shape (1, 100, 1000), each on its
// own gRPC connection with one state-of-the-world ADS stream, served a world
// of MESHGATE_BENCH_SERVICES services (default 1000; the real translator
// and its endpoint fast path). One full adstest.Client learns what Envoy
// subscribes to; the fleet is adstest.Mirror streams that ask for the same
// names and ACK without decoding. Reports, per op (one op is one round of
// the three changes below, and the fleet is connected once):
//
//   - heap-KB/gateway: heap in use after GC with the fleet connected minus
//     before, per gateway (the mirrors live in this process: their share,
//     about one gRPC client connection each, is included, so this bounds
//     the server's from above); MESHGATE_BENCH_HEAPPROFILE=FILE writes the
//     heap profile at that point (and FILE.base before the fleet);
//   - client-heap-KB/gateway: the mirrors' share of it, estimated from the
//     heap profile (sampled every 16 KB for this benchmark): what stacks
//     through package adstest or gRPC's client side hold;
//   - server-heap-KB/gateway: heap-KB/gateway less client-heap-KB/gateway,
//     the daemon's share;
//   - eds-fanout-ms, eds-fanout-allocs: one endpoint change until every
//     gateway has received (and ACKed) it, and the process's allocations
//     meanwhile (server and mirrors);
//   - lds-fanout-ms: the same for a listener change (make-before-break
//     steps included);
//   - eds-acks-observed: endpoint ACKs in the ack-latency histogram per
//     gateway and change (1 when every ACK is counted once).
//
// Never fails on time or memory.
func BenchmarkGatewayFleet(b *testing.B) {
	services := 1000
	if v, err := strconv.Atoi(os.Getenv("MESHGATE_BENCH_SERVICES")); err == nil && v > 0 {
		services = v
	}
	counts := []int{1, 100, 1000}
	if v, err := strconv.Atoi(os.Getenv("MESHGATE_BENCH_GATEWAYS")); err == nil && v > 0 {
		counts = []int{v}
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("services=%d/gateways=%d", services, n), func(b *testing.B) {
			benchGatewayFleet(b, services, n)
		})
	}
}

func benchGatewayFleet(b *testing.B, services, n int) {
	if runtime.MemProfileRate == 512*1024 { // the default: too coarse for clientHeap
		runtime.MemProfileRate = 16 * 1024
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard only
	defer cancel()
	h := newHarnessConfig(b, Config{Holdoff: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		Options{Envoy: translate.Translate, EnvoyEndpoints: EnvoyEndpoints})
	c := benchCluster(services)
	base := mesh(c)
	h.srv.Update(base)
	full, err := adstest.Dial(ctx, h.cc, gatewayNode("gw-full"), false)
	if err != nil {
		b.Fatal(err)
	}
	st, err := full.WaitFor(ctx, func(s adstest.State) bool {
		return s.Count(resource.ListenerType) > 0 && len(s.Resources[resource.RouteType]) > 0 && len(s.Resources[resource.EndpointType]) == services
	})
	if err != nil {
		b.Fatal(err)
	}
	names := st.Subscriptions()
	// full stays connected: the group (its build, its endpoint cache) is
	// there before the fleet, whose heap is measured alone.
	b.Cleanup(full.Close)

	heapBefore, clientBefore := heapInuse(), clientHeap()
	if path := os.Getenv("MESHGATE_BENCH_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, path+".base") // before the fleet (pprof -diff_base)
	}
	mirrors := make([]*adstest.Mirror, n)
	for i := range mirrors {
		cc, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cc.Close() })
		if mirrors[i], err = adstest.DialMirror(ctx, cc, gatewayNode(fmt.Sprintf("gw-%d", i)), names); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(mirrors[i].Close)
	}
	waitFleet := func(typ string, counts []int) {
		for i, m := range mirrors {
			if err := m.WaitCount(ctx, typ, counts[i]+1); err != nil {
				b.Fatalf("gateway %d never got a %s response: %v", i, shortType(typ), err)
			}
		}
	}
	countsOf := func(typ string) []int {
		out := make([]int, n)
		for i, m := range mirrors {
			out[i] = m.Count(typ)
		}
		return out
	}
	for _, t := range []string{resource.ClusterType, resource.ListenerType, resource.RouteType, resource.EndpointType} {
		waitFleet(t, make([]int, n))
	}
	heapKB := float64(heapInuse()-heapBefore) / 1024 / float64(n)
	clientKB := (clientHeap() - clientBefore) / 1024 / float64(n)
	if path := os.Getenv("MESHGATE_BENCH_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, path) // what the connected fleet holds
	}
	edsAcks := func() float64 {
		return metrictest.Sum(b, h.reg, "meshgate_xds_config_ack_latency_seconds", map[string]string{"type": "endpoint"})
	}
	acksBefore := edsAcks()

	var edsNanos, ldsNanos, edsAllocs float64
	port, round := uint32(80), 0
	cur := base
	for b.Loop() {
		round++
		counts := countsOf(resource.EndpointType)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mallocs := ms.Mallocs
		start := time.Now()
		cur = withEndpointAddress(cur, round%services, 0, fmt.Sprintf("10.201.%d.%d", round/250%250, round%250+1))
		h.srv.Update(cur)
		waitFleet(resource.EndpointType, counts)
		edsNanos += float64(time.Since(start))
		runtime.ReadMemStats(&ms)
		edsAllocs += float64(ms.Mallocs - mallocs)

		counts = countsOf(resource.ListenerType)
		start = time.Now()
		port++
		gc := *cur.Local()
		gc.Gateways = []model.Gateway{gateway("gw", ingressLabels, port)}
		cur = cur.WithCluster(&gc)
		h.srv.Update(cur)
		waitFleet(resource.ListenerType, counts)
		ldsNanos += float64(time.Since(start))
	}
	ops := float64(b.N)
	b.ReportMetric(heapKB, "heap-KB/gateway")
	b.ReportMetric(clientKB, "client-heap-KB/gateway")
	b.ReportMetric(heapKB-clientKB, "server-heap-KB/gateway")
	b.ReportMetric(edsNanos/ops/1e6, "eds-fanout-ms")
	b.ReportMetric(edsAllocs/ops, "eds-fanout-allocs")
	b.ReportMetric(ldsNanos/ops/1e6, "lds-fanout-ms")
	// Per member: the fleet and the full client.
	b.ReportMetric((edsAcks()-acksBefore)/ops/float64(n+1), "eds-acks-observed")
	// One op includes waiting for two changes: the metrics above are the figures.
	b.ReportMetric(0, "ns/op")
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// clientHeap estimates the heap in use (bytes) that the client side of
// this process holds: the in-use samples of the heap profile whose stack
// runs through package adstest or gRPC's client (connection, stream,
// transport), scaled as pprof does.
func clientHeap() float64 {
	heapInuse() // the profile is as of the last completed GC cycle but one
	n, _ := runtime.MemProfile(nil, false)
	var recs []runtime.MemProfileRecord
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, false); ok {
			recs = recs[:n]
			break
		}
	}
	rate := float64(runtime.MemProfileRate)
	var total float64
	for _, r := range recs {
		count, size := r.InUseObjects(), r.InUseBytes()
		if count <= 0 || !clientStack(r.Stack()) {
			continue
		}
		avg := float64(size) / float64(count)
		total += float64(size) / (1 - math.Exp(-avg/rate))
	}
	return total
}

// clientSide are the functions whose allocations are the client's.
var clientSide = []string{
	"/test/adstest.",
	"grpc.NewClient", "grpc.(*ClientConn)", "grpc.(*addrConn)", "grpc.newClientStream", "grpc.(*clientStream)", "grpc.(*csAttempt)",
	"transport.newHTTP2Client", "transport.(*http2Client)",
}

func clientStack(pcs []uintptr) bool {
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		for _, c := range clientSide {
			if strings.Contains(f.Function, c) {
				return true
			}
		}
		if !more {
			return false
		}
	}
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
