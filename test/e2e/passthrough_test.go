//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/test/envoytest"
)

// TestPassthroughEnvoyVsBuiltinVsHAProxy compares three TLS-passthrough
// proxies routing by SNI without terminating TLS, each in a network
// namespace of its own with the same TLS server behind it
// (secure.example.com on 127.0.0.1:18443, the README quickstart's L4
// gateway on 9443):
//
//   - meshgate's built-in gateway, started with the README's command line
//     (its "With meshgate's built-in gateway" block) against `meshgate run
//     --config-dir deploy/examples/quickstart`;
//   - Envoy 1.40 from `meshgate bootstrap --label app=l4-gateway` against
//     the same daemon configuration;
//   - HAProxy (Debian's package), configured by hand the way its manual
//     routes by SNI (tcp mode, req_ssl_sni).
//
// Each proxy must carry every byte; the figures are the latency a new
// connection pays (TLS handshake and one small exchange: p50/p99, direct
// and through the proxy) and the throughput of one connection moving
// 128 MiB (direct and through the proxy). The rounds alternate the proxies
// so that the machine's load is shared out; the figures are upper bounds on
// these 2 shared cores, not a ranking to assert.
func TestPassthroughEnvoyVsBuiltinVsHAProxy(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatalf("the comparison needs haproxy (Debian: apt-get install -y haproxy; test/all.sh installs it): %v", err)
	}
	envoy := envoytest.Path(t)
	lab := newLab(t, 3)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := readmeCommands(t, string(readme), "**With meshgate's built-in gateway**")
	if len(block) != 3 || !strings.Contains(block[1], "meshgate gateway") || !strings.Contains(block[2], "-connect 127.0.0.1:9443 -servername secure.example.com") {
		t.Fatalf("README: the built-in gateway block is %q, want a TLS server, the gateway command and a client of 127.0.0.1:9443 for secure.example.com", block)
	}
	bin, err := meshlab.BuildBinary(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serverCert, roots := passthroughCert(t, "secure.example.com")
	const nodeID = "router~127.0.0.1~l4-gateway-0.istio-system~istio-system.svc.cluster.local"

	type proxyUnderTest struct {
		name string
		net  *netlab.Network
	}
	var proxies []proxyUnderTest
	for i, name := range []string{"built-in", "envoy", "haproxy"} {
		n := lab.Networks[i]
		work := t.TempDir()
		start := func(what string, argv ...string) *meshlab.Proc {
			t.Helper()
			p := &meshlab.Proc{Name: name + " " + what, Argv: append(n.Exec(), argv...), LogPath: filepath.Join(work, what+".log")}
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = p.Stop()
				if t.Failed() {
					t.Logf("%s log:\n%s", p.Name, p.LogTail(30))
				}
			})
			return p
		}
		sh := func(cmd string) []string { return []string{"bash", "-c", "cd " + work + " && exec " + cmd} }
		startBulkServer(t, n, serverCert)
		if name != "haproxy" {
			if err := os.CopyFS(filepath.Join(work, "deploy", "examples", "quickstart"), os.DirFS(filepath.Join(root, "deploy", "examples", "quickstart"))); err != nil {
				t.Fatal(err)
			}
			start("daemon", sh(bin+" run --config-dir deploy/examples/quickstart")...)
		}
		switch name {
		case "built-in":
			start("gateway", sh(strings.ReplaceAll(block[1], "go run ./cmd/meshgate", bin))...)
		case "envoy":
			out, err := exec.Command(n.Exec()[0], append(n.Exec()[1:], bin, "bootstrap", "--label", "app=l4-gateway", "--node-id", nodeID)...).Output()
			if err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			if err := os.WriteFile(filepath.Join(work, "envoy.json"), out, 0o600); err != nil {
				t.Fatal(err)
			}
			start("envoy", envoy, "-c", filepath.Join(work, "envoy.json"), "-l", "warning")
		case "haproxy":
			cfg := filepath.Join(work, "haproxy.cfg")
			if err := os.WriteFile(cfg, []byte(haproxyPassthrough), 0o600); err != nil {
				t.Fatal(err)
			}
			start("haproxy", haproxy, "-f", cfg, "-db")
		}
		proxies = append(proxies, proxyUnderTest{name, n})
	}
	for _, p := range proxies {
		waitUntil(t, p.name+" routes secure.example.com on 9443", nil, func() (bool, string) {
			_, err := passthroughExchange(p.net, "127.0.0.1:9443", roots, 16)
			if err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	}

	const conns, bulk, rounds = 100, 128 << 20, 3
	type result struct{ direct, via []time.Duration }
	lat := map[string]*result{}
	tput := map[string]*[2][]float64{} // MB/s direct, through the proxy
	for range rounds {
		for _, p := range proxies {
			if lat[p.name] == nil {
				lat[p.name], tput[p.name] = &result{}, &[2][]float64{}
			}
			for range conns {
				for k, addr := range []string{"127.0.0.1:18443", "127.0.0.1:9443"} {
					d, err := passthroughExchange(p.net, addr, roots, 16)
					if err != nil {
						t.Fatalf("%s: %s: %v", p.name, addr, err)
					}
					if k == 0 {
						lat[p.name].direct = append(lat[p.name].direct, d)
					} else {
						lat[p.name].via = append(lat[p.name].via, d)
					}
				}
			}
			for k, addr := range []string{"127.0.0.1:18443", "127.0.0.1:9443"} {
				d, err := passthroughExchange(p.net, addr, roots, bulk)
				if err != nil {
					t.Fatalf("%s: %d bytes from %s: %v", p.name, bulk, addr, err)
				}
				tput[p.name][k] = append(tput[p.name][k], float64(bulk)/1e6/d.Seconds())
			}
		}
	}
	for _, p := range proxies {
		r := lat[p.name]
		slices.Sort(r.direct)
		slices.Sort(r.via)
		pc := func(s []time.Duration, q float64) time.Duration {
			return s[min(len(s)-1, int(q*float64(len(s))))].Round(10 * time.Microsecond)
		}
		med := func(s []float64) float64 { s = slices.Clone(s); slices.Sort(s); return s[len(s)/2] }
		figure(t, "%-8s new connection + exchange: direct p50 %v p99 %v, through it p50 %v p99 %v (adds %v at p50); one connection, %d MiB: direct %.0f MB/s, through it %.0f MB/s (median of %d)",
			p.name, pc(r.direct, .5), pc(r.direct, .99), pc(r.via, .5), pc(r.via, .99), pc(r.via, .5)-pc(r.direct, .5),
			bulk>>20, med(tput[p.name][0]), med(tput[p.name][1]), rounds)
	}
}

// haproxyPassthrough routes TLS by SNI without terminating it, as HAProxy's
// manual does (tcp mode, wait for the ClientHello, req_ssl_sni).
const haproxyPassthrough = `global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend passthrough
  bind 127.0.0.1:9443
  tcp-request inspect-delay 5s
  tcp-request content accept if { req_ssl_hello_type 1 }
  use_backend secure if { req_ssl_sni -i secure.example.com }
backend secure
  server s1 127.0.0.1:18443
`

// startBulkServer serves TLS on 127.0.0.1:18443 inside n: for each line "N"
// it answers N bytes.
func startBulkServer(t *testing.T, n *netlab.Network, cert tls.Certificate) {
	t.Helper()
	l, err := n.Listen("127.0.0.1:18443")
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	t.Cleanup(func() { _ = tl.Close() })
	chunk := make([]byte, 1<<20)
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					want, err := strconv.Atoi(strings.TrimSpace(line))
					if err != nil {
						return
					}
					for want > 0 {
						k, err := c.Write(chunk[:min(want, len(chunk))])
						if err != nil {
							return
						}
						want -= k
					}
				}
			}()
		}
	}()
}

// passthroughExchange dials addr inside n, does a TLS handshake for
// secure.example.com (verifying the server), asks for size bytes and reads
// them all; it returns the whole time taken.
func passthroughExchange(n *netlab.Network, addr string, roots *x509.CertPool, size int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	raw, err := netlab.Dialer{Net: n}.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(time.Minute))
	c := tls.Client(raw, &tls.Config{ServerName: "secure.example.com", RootCAs: roots, MinVersion: tls.VersionTLS12})
	if _, err := fmt.Fprintf(c, "%d\n", size); err != nil {
		return 0, err
	}
	got, err := io.CopyN(io.Discard, c, int64(size))
	if err != nil {
		return 0, fmt.Errorf("read %d of %d bytes: %w", got, size, err)
	}
	return time.Since(start), nil
}

// passthroughCert is a certificate for host from a throwaway CA (the
// project's own, identity.NewSelfSignedCA) and a pool that trusts that CA.
func passthroughCert(t *testing.T, host string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: spiffeid.RequireTrustDomainFromString("example.com"), TTL: 24 * time.Hour}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.IssueX509SVID(spiffeid.RequireFromPath(ca.Bundle().TrustDomain(), "/passthrough-server"), identity.SVIDOptions{DNSNames: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, c := range svid.Certificates {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	pool := x509.NewCertPool()
	for _, c := range ca.Bundle().X509Authorities() {
		pool.AddCert(c)
	}
	return cert, pool
}
