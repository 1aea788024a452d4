//go:build integration

package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/kubetest"
)

// addrWatch reports when a published state first has an address for host.
type addrWatch struct {
	mu   sync.Mutex
	host string
	want string
	seen chan time.Time
}

func (w *addrWatch) publish(mesh *model.MeshState, _ []error, _ error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.want == "" {
		return
	}
	if s := mesh.Clusters[0].Service(w.host); s != nil && slices.ContainsFunc(s.Endpoints, func(e model.Endpoint) bool { return e.Address == w.want }) {
		w.want = ""
		w.seen <- now
	}
}

func (w *addrWatch) expect(addr string) {
	w.mu.Lock()
	w.want = addr
	w.mu.Unlock()
}

// BenchmarkEndpointSliceToState: time from an EndpointSlice write (the
// Update call) to the published ClusterState holding the new address, over
// 100 sequential changes per iteration; p50/p99/max in ms. holdoff is the
// debounce quiet time (100ms is the daemon's default).
//
//	go test -tags integration ./discovery/kube -run '^$' -bench EndpointSliceToState -benchtime 1x
func BenchmarkEndpointSliceToState(b *testing.B) {
	c := kubetest.New(b, kubetest.Options{Name: "bench-eps"})
	kc := clientset(b, c.RESTConfig())
	ctx := context.Background()
	must[any](b)(kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lat"}}, metav1.CreateOptions{}))
	must[any](b)(kc.CoreV1().Services("lat").Create(ctx, service("lat", "echo", 80), metav1.CreateOptions{}))
	es := must[*discoveryv1.EndpointSlice](b)(kc.DiscoveryV1().EndpointSlices("lat").Create(ctx, slice("lat", "echo", "echo-1", 80, "10.9.0.0"), metav1.CreateOptions{}))
	for _, holdoff := range []time.Duration{100 * time.Millisecond, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("holdoff=%v", holdoff), func(b *testing.B) {
			w := &addrWatch{host: "echo.lat.svc.cluster.local", seen: make(chan time.Time, 1)}
			s, err := New(Config{ClusterID: "bench", Holdoff: holdoff, MaxDelay: 10 * holdoff}, Options{REST: c.RESTConfig(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = s.Run(rctx, w.publish) }()
			defer func() { cancel(); <-done }()
			var lat []time.Duration
			b.ResetTimer()
			for i := range b.N * 100 {
				addr := fmt.Sprintf("10.9.%d.%d", (i/250)%250, i%250+1)
				es.Endpoints[0].Addresses = []string{addr}
				w.expect(addr)
				start := time.Now()
				es = updateSlice(b, kc, es)
				select {
				case at := <-w.seen:
					lat = append(lat, at.Sub(start))
				case <-time.After(time.Minute):
					b.Fatalf("change %d never published", i)
				}
			}
			b.StopTimer()
			reportLatency(b, lat)
		})
	}
}

func updateSlice(b *testing.B, kc kubernetes.Interface, es *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	out, err := kc.DiscoveryV1().EndpointSlices(es.Namespace).Update(context.Background(), es, metav1.UpdateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(lat)), "changes")
	b.Logf("%d changes: p50 %.1f ms, p99 %.1f ms, max %.1f ms", len(lat), pct(0.5), pct(0.99), pct(1))
}

// BenchmarkSourceMemory: the live heap a Source holds for N services, each
// with an EndpointSlice (2 endpoints) and 2 Pods, in one API server: the
// heap after GC once the first state is published, minus the heap before
// the source started. Also the time to the first (fully synced) state.
//
//	go test -tags integration ./discovery/kube -run '^$' -bench SourceMemory -benchtime 1x -timeout 30m
func BenchmarkSourceMemory(b *testing.B) {
	c := kubetest.New(b, kubetest.Options{Name: "bench-mem", SkipIstioCRDs: false})
	kc := clientset(b, c.RESTConfig())
	have := 0
	for _, n := range []int{1000, 10000} {
		populate(b, kc, have, n)
		have = n
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			for range b.N {
				measureSource(b, c, n)
			}
		})
	}
}

// populate creates services from..to-1 in 10 namespaces, 8 writers at once.
func populate(b *testing.B, kc kubernetes.Interface, from, to int) {
	ctx := context.Background()
	for i := range 10 {
		_, _ = kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("mem-%d", i)}}, metav1.CreateOptions{})
		_, _ = kc.CoreV1().ServiceAccounts(fmt.Sprintf("mem-%d", i)).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	}
	start := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				createService(b, kc, i)
			}
		})
	}
	for i := from; i < to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	b.Logf("created services %d..%d (with slices and pods) in %v", from, to-1, time.Since(start).Round(time.Millisecond))
}

func createService(b *testing.B, kc kubernetes.Interface, i int) {
	ctx := context.Background()
	ns, name := fmt.Sprintf("mem-%d", i%10), fmt.Sprintf("svc-%05d", i)
	svc := service(ns, name, 8080)
	svc.Spec.ClusterIP = "None" // headless: no IP allocation limits
	if _, err := kc.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	var addrs []string
	for j := range 2 {
		ip := fmt.Sprintf("10.%d.%d.%d", 100+j, i/250, i%250+1)
		addrs = append(addrs, ip)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, j), Namespace: ns,
				Labels: map[string]string{"app": name, "version": "v1", model.LabelTLSMode: "istio"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
		}
		p, err := kc.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
		if _, err := kc.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := kc.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice(ns, name, name+"-1", 8080, addrs...), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
}

func measureSource(b *testing.B, c *kubetest.Cluster, n int) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := New(Config{ClusterID: "bench"}, Options{REST: c.RESTConfig(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	first := make(chan *model.ClusterState, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		_ = s.Run(ctx, func(m *model.MeshState, _ []error, _ error) {
			select {
			case first <- m.Clusters[0]:
			default:
			}
		})
	}()
	var cs *model.ClusterState
	select {
	case cs = <-first:
	case <-time.After(10 * time.Minute):
		b.Fatal("no state")
	}
	synced := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	svcs := 0
	for _, sv := range cs.Services {
		if len(sv.Endpoints) == 2 {
			svcs++
		}
	}
	if svcs < n {
		b.Fatalf("first state has %d services with their endpoints, want %d", svcs, n)
	}
	heap := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	b.ReportMetric(heap, "heap-MiB")
	b.ReportMetric(float64(synced.Milliseconds()), "sync-ms")
	b.Logf("%d services (+%d pods, %d slices): live heap +%.1f MiB, first state after %v", n, 2*n, n, heap, synced.Round(time.Millisecond))
	runtime.KeepAlive(cs)
	cancel()
	<-done
}
