package dataplane

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/test/metrictest"
)

const testNodeID = "router~10.0.0.7~eastwest-7d4f9.istio-system~istio-system.svc.cluster.local"

// controlPlane is a real go-control-plane ADS server (snapshot cache in ADS
// mode) on 127.0.0.1, recording every DiscoveryRequest it receives.
type controlPlane struct {
	t     testing.TB
	addr  string
	cache cachev3.SnapshotCache
	srv   *grpc.Server

	mu   sync.Mutex
	reqs []*discoveryv3.DiscoveryRequest
}

func newControlPlane(t testing.TB) *controlPlane {
	t.Helper()
	cp := &controlPlane{t: t, cache: cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)}
	cp.start("127.0.0.1:0")
	t.Cleanup(cp.stop)
	return cp
}

// start serves on addr (a fixed address restarts a stopped control plane).
func (cp *controlPlane) start(addr string) {
	cp.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cp.t.Fatalf("control plane listen: %v", err)
	}
	cp.addr = ln.Addr().String()
	cb := serverv3.CallbackFuncs{StreamRequestFunc: func(_ int64, r *discoveryv3.DiscoveryRequest) error {
		cp.mu.Lock()
		cp.reqs = append(cp.reqs, proto.Clone(r).(*discoveryv3.DiscoveryRequest))
		cp.mu.Unlock()
		return nil
	}}
	xds := serverv3.NewServer(context.Background(), cp.cache, cb)
	cp.srv = grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(cp.srv, xds)
	go cp.srv.Serve(ln)
}

// stop kills the server and its streams at once.
func (cp *controlPlane) stop() { cp.srv.Stop() }

// set publishes a snapshot for the test node.
func (cp *controlPlane) set(version string, res map[resourcev3.Type][]types.Resource) {
	cp.t.Helper()
	snap, err := cachev3.NewSnapshot(version, res)
	if err != nil {
		cp.t.Fatalf("snapshot: %v", err)
	}
	if err := cp.cache.SetSnapshot(context.Background(), testNodeID, snap); err != nil {
		cp.t.Fatalf("set snapshot: %v", err)
	}
}

// requests returns the requests received so far.
func (cp *controlPlane) requests() []*discoveryv3.DiscoveryRequest {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([]*discoveryv3.DiscoveryRequest(nil), cp.reqs...)
}

// nacks returns the requests that carry an error_detail.
func (cp *controlPlane) nacks() []*discoveryv3.DiscoveryRequest {
	var out []*discoveryv3.DiscoveryRequest
	for _, r := range cp.requests() {
		if r.GetErrorDetail() != nil {
			out = append(out, r)
		}
	}
	return out
}

// gatewayOpt adjusts a test gateway's config.
type gatewayOpt func(*Config)

// startGateway runs a Gateway against cp until the test ends (then checks
// that Run returned nil) and returns once it has started; waitReady waits
// for its first configuration.
func startGateway(t testing.TB, cp *controlPlane, opts ...gatewayOpt) *Gateway {
	t.Helper()
	cfg := DefaultConfig()
	cfg.XDSAddress = cp.addr
	cfg.NodeID = testNodeID
	cfg.Labels = map[string]string{"istio": "eastwestgateway", "topology.istio.io/network": "net1"}
	cfg.Metadata = map[string]string{"NETWORK": "net1", "CLUSTER_ID": "cluster1"}
	cfg.AdminAddress = "127.0.0.1:0"
	cfg.ReconnectBase, cfg.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.NACKBase, cfg.NACKMax = 50*time.Millisecond, 500*time.Millisecond
	cfg.Registry = prometheus.NewRegistry()
	cfg.Logger = testLogger(t)
	for _, o := range opts {
		o(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	select {
	case <-g.Started():
	case err := <-done:
		cancel()
		t.Fatalf("gateway Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
	})
	return g
}

func waitReady(t testing.TB, g *Gateway) {
	t.Helper()
	eventually(t, "gateway ready", func() bool {
		select {
		case <-g.Ready():
			return true
		default:
			return false
		}
	})
}

// testLogger logs to the test output until the test ends.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() { w.mu.Lock(); w.done = true; w.mu.Unlock() }

var _ io.Writer = (*testWriter)(nil)

// eventually polls cond (a bounded poll loop, not a sleep-then-assert).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition never became true: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// metric returns the value of a counter or gauge with exactly these labels
// (0 when absent).
func metric(t testing.TB, g *Gateway, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	v, _ := metrictest.Get(t, g.cfg.Registry, name, want)
	return v
}

// httpGet returns the status and body of a GET.
func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
