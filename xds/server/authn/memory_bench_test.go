package authn_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/server/authn"
)

// This file has no build tag: the secure port with SVID callers needs no
// API server. Run
//
//	go test ./xds/server/authn -run '^$' -bench BenchmarkSecureStreamsMemory -benchtime 1x
//
// The gateways run in a child process (this test binary re-executed, see
// TestMain), so the heap figures are the server's alone.

// fleetEnv names the child's job file; set, the test binary is a gateway
// fleet instead of running tests.
const fleetEnv = "MESHGATE_TEST_ADS_FLEET"

func TestMain(m *testing.M) {
	if job := os.Getenv(fleetEnv); job != "" {
		if err := runFleet(job); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fleetJob is what the server process hands its gateway fleet.
type fleetJob struct {
	Addr       string
	ServerName string   // empty: plaintext
	Roots      [][]byte // DER
	Gateways   []fleetGateway
}

type fleetGateway struct {
	Namespace string
	Certs     [][]byte // DER chain, leaf first; none on plaintext
	Key       []byte   // PKCS #8
}

// fleetResult is the child's report once every gateway holds its first
// configuration.
type fleetResult struct {
	ConnectNanos   int64
	HeapInuseDelta int64
}

const (
	memBenchGateways = 1000
	memBenchHost     = "meshgate.istio-system.svc"
)

// BenchmarkSecureStreamsMemory: the server-side cost of 1000 connected
// gateways, each on its own gRPC connection with one ADS stream (state of
// the world), over plaintext and over the secure port (TLS with the
// rotating serving certificate, the authn interceptors, every gateway with
// its own SVID: its own key and certificate, identities
// spiffe://cluster.local/ns/{gw-ns,prod}/sa/ingress alternating). One op is
// connecting the whole fleet until every gateway holds the 443 listener
// and its namespace's Secret. Reports the server's heap in use, goroutine
// stacks in use and goroutines per stream (after GC, streams open, vs
// before connecting), the client side's heap per stream (measured in the
// child) and the time to connect all. Never fails on time or memory.
func BenchmarkSecureStreamsMemory(b *testing.B) {
	for _, secure := range []bool{false, true} {
		name := "plaintext"
		if secure {
			name = "secure-svid"
		}
		b.Run(name, func(b *testing.B) {
			var srvHeap, srvStack, srvGoroutines, cliHeap, connect float64
			for b.Loop() {
				r := runMemBench(b, secure, memBenchGateways)
				srvHeap += r.serverHeap
				srvStack += r.serverStack
				srvGoroutines += r.serverGoroutines
				cliHeap += float64(r.client.HeapInuseDelta)
				connect += float64(r.client.ConnectNanos)
			}
			n := float64(b.N)
			b.ReportMetric(srvHeap/n/memBenchGateways, "server-heap-B/stream")
			b.ReportMetric(srvStack/n/memBenchGateways, "server-stack-B/stream")
			b.ReportMetric(srvGoroutines/n/memBenchGateways, "server-goroutines/stream")
			b.ReportMetric(cliHeap/n/memBenchGateways, "client-heap-B/stream")
			b.ReportMetric(connect/n/1e6, "connect-all-ms")
			b.ReportMetric(0, "ns/op") // the round includes setup: connect-all-ms is the figure
		})
	}
}

type memBenchResult struct {
	serverHeap, serverStack, serverGoroutines float64
	client                                    fleetResult
}

// runMemBench starts a server, measures it idle, has a child process
// connect n gateways, measures it again with every stream open, and ends
// the child and the server. The client heap is measured in the child, the
// server's here: neither includes the other end.
func runMemBench(b *testing.B, secure bool, n int) memBenchResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard only
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	xds, err := server.New(server.Config{Holdoff: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, server.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	mesh, objErrs, err := file.LoadMesh(file.Config{Paths: []string{"testdata/gateways.yaml"}})
	if err != nil || len(objErrs) > 0 {
		b.Fatalf("testdata: %v %v", err, objErrs)
	}
	xds.Update(mesh)

	job := fleetJob{}
	var opts []grpc.ServerOption
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	var ca *identity.CA
	if secure {
		if ca, err = identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{}); err != nil {
			b.Fatal(err)
		}
		a, err := authn.New(authn.DefaultConfig("cluster.local"), authn.Options{Bundles: identity.NewBundleSet(ca.Bundle()), Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		serving, err := authn.NewServingCert(ca, spiffeid.RequireFromPath(td, "/ns/istio-system/sa/meshgate"),
			[]string{memBenchHost}, time.Hour, clocktesting.NewFakeClock(time.Now()), log)
		if err != nil {
			b.Fatal(err)
		}
		opts = a.ServerOptions(authn.ServerTLSConfig(serving))
		job.ServerName = memBenchHost
		for _, r := range ca.Roots() {
			job.Roots = append(job.Roots, r.Raw)
		}
	}
	for i := range n {
		g := fleetGateway{Namespace: []string{"gw-ns", "prod"}[i%2]}
		if secure {
			svid, err := ca.IssueX509SVID(spiffeid.RequireFromPath(td, "/ns/"+g.Namespace+"/sa/ingress"), identity.SVIDOptions{TTL: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range svid.Certificates {
				g.Certs = append(g.Certs, c.Raw)
			}
			if g.Key, err = x509.MarshalPKCS8PrivateKey(svid.PrivateKey); err != nil {
				b.Fatal(err)
			}
		}
		job.Gateways = append(job.Gateways, g)
	}

	gs := grpc.NewServer(opts...)
	xds.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	job.Addr = lis.Addr().String()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = gs.Serve(lis); done <- struct{}{} }()
	go func() { _ = xds.Run(runCtx); done <- struct{}{} }()
	defer func() {
		stop()
		gs.Stop()
		<-done
		<-done
	}()

	path := filepath.Join(b.TempDir(), "fleet.json")
	raw, err := json.Marshal(job)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	job, raw = fleetJob{}, nil

	before, goBefore := gcMemStats(), runtime.NumGoroutine()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fleetEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		b.Fatalf("the fleet ended before reporting: %v", err)
	}
	var r memBenchResult
	if err := json.Unmarshal(line, &r.client); err != nil {
		b.Fatalf("fleet report %q: %v", line, err)
	}
	after := gcMemStats()
	r.serverHeap = float64(int64(after.HeapInuse) - int64(before.HeapInuse))
	r.serverStack = float64(int64(after.StackInuse) - int64(before.StackInuse))
	r.serverGoroutines = float64(runtime.NumGoroutine() - goBefore)
	return r
}

// gcMemStats are the memory statistics after a full collection.
func gcMemStats() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m
}

// runFleet is the child: it connects every gateway of the job (its own
// connection, one ADS stream), waits until each holds the 443 listener and
// a Secret, prints a fleetResult line and keeps the streams open until its
// stdin closes.
func runFleet(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var job fleetJob
	if err := json.Unmarshal(raw, &job); err != nil {
		return err
	}
	raw = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard only
	defer cancel()
	var roots *x509.CertPool
	if job.ServerName != "" {
		roots = x509.NewCertPool()
		for _, der := range job.Roots {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			roots.AddCert(c)
		}
	}
	before := gcMemStats().HeapInuse
	start := time.Now()
	clients := make([]*adstest.Client, 0, len(job.Gateways))
	for i, g := range job.Gateways {
		creds := insecure.NewCredentials()
		if job.ServerName != "" {
			key, err := x509.ParsePKCS8PrivateKey(g.Key)
			if err != nil {
				return err
			}
			creds = credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: job.ServerName, MinVersion: tls.VersionTLS12,
				Certificates: []tls.Certificate{{Certificate: g.Certs, PrivateKey: key}}})
		}
		cc, err := grpc.NewClient(job.Addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer func() { _ = cc.Close() }()
		c, err := adstest.Dial(ctx, cc, fleetNode(fmt.Sprintf("gw-%d", i), g.Namespace), false)
		if err != nil {
			return fmt.Errorf("gateway %d: %w", i, err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	job.Gateways = nil
	for i, c := range clients {
		if _, err := c.WaitFor(ctx, func(st adstest.State) bool {
			_, ok := st.Resources[resource.ListenerType]["0.0.0.0_443"]
			return ok && len(st.Resources[resource.SecretType]) > 0
		}); err != nil {
			return fmt.Errorf("gateway %d never got its configuration: %w (stream: %v)", i, err, c.State().Err)
		}
	}
	res := fleetResult{ConnectNanos: time.Since(start).Nanoseconds(), HeapInuseDelta: int64(gcMemStats().HeapInuse) - int64(before)}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if _, err := os.Stdout.Write(append(out, '\n')); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the server process has measured
	return nil
}

// fleetNode is an Istio ingress gateway pod's node in namespace ns.
func fleetNode(pod, ns string) *corev3.Node {
	st, err := structpb.NewStruct(map[string]any{"LABELS": map[string]any{"istio": "ingressgateway"}, "CLUSTER_ID": "Kubernetes"})
	if err != nil {
		panic(err)
	}
	return &corev3.Node{Id: "router~10.1.0.7~" + pod + "." + ns + "~" + ns + ".svc.cluster.local", Metadata: st}
}
