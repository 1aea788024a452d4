package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/xds"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

// chanSource publishes what the test sends it.
type chanSource struct{ ch chan func(discovery.Publish) }

func (s chanSource) Run(ctx context.Context, publish discovery.Publish) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-s.ch:
			f(publish)
		}
	}
}

func testConfig(t *testing.T) Config {
	c := DefaultConfig()
	c.ConfigDir = t.TempDir()
	c.XDSAddress, c.MonitoringAddress, c.AdminAddress = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.DebounceHoldoff, c.DebounceMaxDelay = Duration(5*time.Millisecond), Duration(50*time.Millisecond)
	// The examples' gateways are documentation addresses (198.51.100.x):
	// never probed from a test; tests that probe turn it on with loopback.
	c.GatewayProbeInterval = 0
	return c
}

func startBackend(t *testing.T) uint32 {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return uint32(lis.Addr().(*net.TCPAddr).Port)
}

func echo(port uint32) *model.MeshState {
	c := &model.ClusterState{ID: "Kubernetes", Services: []model.Service{{
		Meta: model.Meta{Name: "echo", Namespace: "default"}, Hostname: "echo.default.svc.cluster.local",
		Ports:     []model.ServicePort{{Name: "grpc", Port: 8080}},
		Endpoints: []model.Endpoint{{Address: "127.0.0.1", Ready: true, Ports: []model.EndpointPort{{Name: "grpc", Port: port}}}},
	}}}
	return &model.MeshState{LocalCluster: "Kubernetes", Clusters: []*model.ClusterState{c}}
}

// grpcClient dials xds:///echo.default.svc.cluster.local:8080 with gRPC-Go's
// xDS client through the daemon at addr.
func grpcClient(t *testing.T, addr string) healthpb.HealthClient {
	t.Helper()
	bs, err := bootstrap.GRPC(bootstrap.Options{NodeID: "sidecar~127.0.0.1~client.default~default.svc.cluster.local", XDSAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	b, err := xds.NewXDSResolverWithConfigForTesting(bs)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///echo.default.svc.cluster.local:8080", grpc.WithResolvers(b), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return healthpb.NewHealthClient(cc)
}

// reaches calls until an RPC is answered by port, then requires the next 10
// to be too (a bounded loop on a condition; ctx is only a hang guard).
func reaches(ctx context.Context, t *testing.T, hc healthpb.HealthClient, port uint32) {
	t.Helper()
	for {
		var p peer.Peer
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true))
		if ctx.Err() != nil {
			t.Fatalf("RPCs never reached port %d: %v", port, err)
		}
		if err == nil && p.Addr.(*net.TCPAddr).Port == int(port) {
			break
		}
	}
	for range 10 {
		var p peer.Peer
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil || p.Addr.(*net.TCPAddr).Port != int(port) {
			t.Fatalf("after the move: %v, peer %v, want port %d", err, p.Addr, port)
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("never happened: %s", what)
		case <-tick.C:
		}
	}
}

// The daemon serves a real gRPC xDS client from its source, keeps the last
// good state when a load fails, follows endpoint edits, and shuts down
// cleanly, closing the client's stream.
func TestDaemonServesAndStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := startBackend(t), startBackend(t)
	logs := &logtest.Buffer{}
	src := chanSource{ch: make(chan func(discovery.Publish))}
	d, err := New(testConfig(t), NewLogger(testConfig(t), logs), src)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	mon := "http://" + d.MonitoringAddr()

	if code, _ := httpGet(t, mon+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before the first load = %d", code)
	}
	src.ch <- func(p discovery.Publish) { p(echo(a), nil, nil) }
	hc := grpcClient(t, d.XDSAddr())
	reaches(ctx, t, hc, a)
	if code, _ := httpGet(t, mon+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the first load = %d", code)
	}

	src.ch <- func(p discovery.Publish) { p(nil, nil, errors.New("open /cfg/broken.yaml: permission denied")) }
	objErr := &model.FieldError{Object: model.Ref{Kind: model.KindGateway, Namespace: "ns", Name: "gw"}, Field: "spec.servers[0].port", Msg: "missing"}
	for range 2 { // the same object error in two loads
		src.ch <- func(p discovery.Publish) { p(echo(a), []error{objErr}, nil) }
	}
	poll(ctx, t, "source errors in metrics", func() bool {
		_, m := httpGet(t, mon+"/metrics")
		return strings.Contains(m, "meshgate_source_load_failures_total 1") && strings.Contains(m, "meshgate_source_object_errors 1")
	})
	for _, want := range []string{"configuration load failed; keeping the last good configuration", "broken.yaml"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q", want)
		}
	}
	// A rejected object is logged once while it stays rejected, by the
	// daemon (the sources log only their reload summaries).
	poll(ctx, t, "the second load", func() bool { return debugSources(t, d).Loads == 3 })
	if n := strings.Count(logs.String(), "Gateway ns/gw: spec.servers[0].port: missing"); n != 1 {
		t.Errorf("the object error is logged %d times, want once:\n%s", n, logs.String())
	}
	reaches(ctx, t, hc, a)

	src.ch <- func(p discovery.Publish) { p(echo(b), nil, nil) }
	reaches(ctx, t, hc, b)

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
	if n := len(d.Server().Proxies()); n != 0 {
		t.Errorf("%d proxies still connected after shutdown", n)
	}
	if _, err := net.DialTimeout("tcp", d.XDSAddr(), time.Second); err == nil {
		t.Error("xDS address still accepts connections after shutdown")
	}
	if !strings.Contains(logs.String(), "shutdown complete") {
		t.Error("no shutdown log line")
	}
}

// A source that fails makes Run return its error.
func TestDaemonSourceFailure(t *testing.T) {
	d, err := New(testConfig(t), NewLogger(testConfig(t), io.Discard), failingSource{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Run = %v, want the source's error", err)
	}
}

type failingSource struct{}

// A part that cannot start (gossip on a taken port) makes Run return its
// error, after releasing the daemon's listeners.
func TestDaemonPartFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	cfg.GossipConfig = GossipConfig{BindAddress: taken.Addr().String(), Insecure: true, MeshID: "mesh1"}
	d, err := New(cfg, NewLogger(cfg, io.Discard), staticSource{echo(1)})
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "federation") || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("Run = %v, want federation's bind error", err)
	}
	for _, a := range []string{d.XDSAddr(), d.MonitoringAddr(), d.AdminAddr()} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s still held after Run returned: %v", a, err)
			continue
		}
		ln.Close()
	}
}

func (failingSource) Run(context.Context, discovery.Publish) error { return errors.New("disk on fire") }

// SIGTERM: the process stops accepting, closes streams and exits 0. The test
// binary runs itself as the daemon (see TestDaemonChild).
func TestSIGTERMExitsCleanly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDaemonChild$")
	cmd.Env = append(os.Environ(), "MESHGATE_DAEMON_CHILD=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr logtest.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var admin string
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADMIN "); ok {
			admin = a
			break
		}
	}
	if admin == "" {
		_ = cmd.Wait()
		t.Fatalf("child printed no admin address; stderr:\n%s", stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	poll(ctx, t, "child ready", func() bool { code, _ := httpGet(t, "http://"+admin+"/readyz"); return code == 200 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child exit: %v; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutdown complete") {
		t.Errorf("child logs lack the shutdown line:\n%s", stderr.String())
	}
}

// TestDaemonChild is the daemon process of TestSIGTERMExitsCleanly; it does
// nothing in a normal test run.
func TestDaemonChild(t *testing.T) {
	if os.Getenv("MESHGATE_DAEMON_CHILD") == "" {
		return
	}
	cfg := testConfig(t)
	src := staticSource{echo(1)}
	d, err := New(cfg, NewLogger(cfg, os.Stderr), src)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADMIN " + d.MonitoringAddr())
	ctx, stop := SignalContext()
	defer stop()
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

type staticSource struct{ m *model.MeshState }

func (s staticSource) Run(ctx context.Context, publish discovery.Publish) error {
	publish(s.m, nil, nil)
	<-ctx.Done()
	return nil
}

// With the real file source: edits of the watched directory reach a gRPC
// client, invalid files keep the last good configuration.
func TestFileSourceEndToEnd(t *testing.T) {
	dir := t.TempDir()
	a, b := startBackend(t), startBackend(t)
	write := func(name, body string) {
		t.Helper()
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil { // atomic save
			t.Fatal(err)
		}
	}
	write("echo.yaml", echoYAML)
	write("endpoints.yaml", fmt.Sprintf(sliceYAML, a))
	if _, _, err := file.LoadMesh(file.Config{Paths: []string{dir}}); err != nil {
		t.Fatalf("load: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t)
	cfg.ConfigDir = dir
	logs := &logtest.Buffer{}
	d, err := New(cfg, NewLogger(cfg, logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	hc := grpcClient(t, d.XDSAddr())
	reaches(ctx, t, hc, a)

	write("endpoints.yaml", fmt.Sprintf(sliceYAML, b))
	reaches(ctx, t, hc, b)

	write("broken.yaml", "kind: Service\nmetadata: [\n")
	poll(ctx, t, "broken file reported", func() bool { return strings.Contains(logs.String(), "broken.yaml") })
	reaches(ctx, t, hc, b)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

const echoYAML = `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 8080, targetPort: 9090, appProtocol: grpc}]
`

const sliceYAML = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, namespace: default, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
ports: [{name: grpc, port: %d, protocol: TCP}]
`
