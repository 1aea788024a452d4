package dataplane

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// Benchmarks: a TLS stream and TLS connection setup, directly to a TLS
// backend, through the gateway (SNI passthrough) and, when haproxy is
// installed, through HAProxy doing SNI passthrough (req.ssl_sni) on the same
// machine in the same run.
//
//	go test ./xds/dataplane -run '^$' -bench . -benchtime 3s

const benchSNI = "outbound_.8080_._.bench.ns1.svc.cluster.local"

// benchChunk is what the client sends before the backend acknowledges.
const benchChunk = 8 << 20

var chunkPool = sync.Pool{New: func() any { b := make([]byte, benchChunk); return &b }}

// sinkServer is a TLS backend: after the handshake it sends one byte, then
// acknowledges every benchChunk bytes it reads with one byte.
func sinkServer(b *testing.B, cert tls.Certificate) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				if _, err := tc.Write([]byte{'R'}); err != nil {
					return
				}
				bp := chunkPool.Get().(*[]byte)
				defer chunkPool.Put(bp)
				buf := *bp
				for {
					if _, err := io.ReadFull(tc, buf); err != nil {
						return
					}
					if _, err := tc.Write([]byte{'A'}); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

type benchTargets struct {
	ca      *testCA
	targets [][2]string // name, address
}

func setupBench(b *testing.B) *benchTargets {
	ca := newTestCA(b, "bench root")
	backend := sinkServer(b, ca.issue(b, []string{benchSNI}).tls)
	res := resources{
		listeners: []*listenerv3.Listener{listenerWith("ew", "127.0.0.1:0", true, sniChain(benchSNI))},
		clusters:  []*clusterv3.Cluster{staticCluster(benchSNI, backend)},
	}
	cp := newControlPlane(b)
	cp.set("v1", res.snapshot())
	g := startGateway(b, cp, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler); c.AdminAddress = "" })
	waitReady(b, g)
	bt := &benchTargets{ca: ca, targets: [][2]string{{"direct", backend}, {"gateway", g.ListenerAddr("ew").String()}}}
	if addr := startHAProxy(b, backend); addr != "" {
		bt.targets = append(bt.targets, [2]string{"haproxy", addr})
	}
	return bt
}

// startHAProxy runs haproxy doing SNI passthrough to backend, or returns ""
// when haproxy is not installed.
func startHAProxy(b *testing.B, backend string) string {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		b.Logf("haproxy not installed: skipping the comparison (apt-get install -y haproxy)")
		return ""
	}
	addr := deadAddrB(b)
	cfg := fmt.Sprintf(`global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend ew
  bind %s
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
  use_backend bench if { req.ssl_sni -i %s }
backend bench
  server s1 %s
`, addr, benchSNI, backend)
	path := filepath.Join(b.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatalf("haproxy: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() { cmd.Process.Kill(); <-exited })
	eventually(b, "haproxy listening", func() bool {
		select {
		case <-exited:
			b.Fatalf("haproxy exited: %s", out.String())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

func deadAddrB(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// openTLS dials addr, completes the handshake and reads the ready byte.
func openTLS(addr string, cfg *tls.Config) (*tls.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, cfg)
	var ready [1]byte
	if _, err := io.ReadFull(tc, ready[:]); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// sendChunk writes benchChunk bytes and waits for the backend's ack, so
// the time covers delivery, not just socket buffering.
func sendChunk(c *tls.Conn, buf []byte) error {
	if _, err := c.Write(buf); err != nil {
		return err
	}
	var ack [1]byte
	_, err := io.ReadFull(c, ack[:])
	return err
}

// BenchmarkTLSThroughput streams a TLS connection in 8 MiB acknowledged
// chunks, per target.
func BenchmarkTLSThroughput(b *testing.B) {
	bt := setupBench(b)
	cfg := clientTLS(bt.ca, benchSNI, "istio") // the east-west chain matches Istio ALPNs
	buf := make([]byte, benchChunk)
	for _, tgt := range bt.targets {
		b.Run(tgt[0], func(b *testing.B) {
			c, err := openTLS(tgt[1], cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.SetBytes(benchChunk)
			for b.Loop() {
				if err := sendChunk(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTLSThroughputInterleaved sends one chunk to each target in turn
// per iteration, so that the load of a shared machine hits all targets
// alike, and reports each target's MB/s.
func BenchmarkTLSThroughputInterleaved(b *testing.B) {
	bt := setupBench(b)
	cfg := clientTLS(bt.ca, benchSNI, "istio")
	buf := make([]byte, benchChunk)
	conns := make([]*tls.Conn, len(bt.targets))
	for i, tgt := range bt.targets {
		c, err := openTLS(tgt[1], cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	spent := make([]time.Duration, len(conns))
	rounds := 0
	for b.Loop() {
		for i, c := range conns {
			start := time.Now()
			if err := sendChunk(c, buf); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(start)
		}
		rounds++
	}
	for i, tgt := range bt.targets {
		b.ReportMetric(float64(rounds*benchChunk)/spent[i].Seconds()/1e6, tgt[0]+"-MB/s")
	}
}

// BenchmarkConnectLatency measures TCP connect + TLS handshake + first byte
// per connection, one connection to each target in turn per iteration, and
// reports each target's p50 and p99 and the gateway's added p50/p99.
func BenchmarkConnectLatency(b *testing.B) {
	bt := setupBench(b)
	cfg := clientTLS(bt.ca, benchSNI, "istio")
	durs := make([][]time.Duration, len(bt.targets))
	for b.Loop() {
		for i, tgt := range bt.targets {
			start := time.Now()
			c, err := openTLS(tgt[1], cfg)
			if err != nil {
				b.Fatal(err)
			}
			durs[i] = append(durs[i], time.Since(start))
			c.Close()
		}
	}
	q := func(ds []time.Duration, p float64) float64 {
		return float64(ds[int(p*float64(len(ds)-1))].Microseconds())
	}
	for i, tgt := range bt.targets {
		slices.Sort(durs[i])
		b.ReportMetric(q(durs[i], 0.50), tgt[0]+"-p50-µs")
		b.ReportMetric(q(durs[i], 0.99), tgt[0]+"-p99-µs")
	}
	// targets[0] is direct, targets[1] the gateway.
	b.ReportMetric(q(durs[1], 0.50)-q(durs[0], 0.50), "gateway-added-p50-µs")
	b.ReportMetric(q(durs[1], 0.99)-q(durs[0], 0.99), "gateway-added-p99-µs")
}
