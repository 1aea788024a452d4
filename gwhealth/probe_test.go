package gwhealth

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshgate/meshgate/identity"
)

// gateway is a real TCP listener on loopback that behaves like one of the
// east-west gateways a probe meets.
type gateway struct {
	t    *testing.T
	lis  net.Listener
	addr string
	mode string // "sniff": read the ClientHello, then close (tls_inspector, no chain); "silent": accept, never answer; "mtls": terminate mesh mTLS
	tls  *tls.Config
	wg   sync.WaitGroup

	mu    sync.Mutex
	hello []*tls.ClientHelloInfo
	conns []net.Conn
}

func startGateway(t *testing.T, addr, mode string, cfg *tls.Config) *gateway {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	// Re-binding a port just closed may race with its TIME_WAIT peers; there
	// is no event to wait for, so retry a few times.
	for range 50 {
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, lis: lis, addr: lis.Addr().String(), mode: mode, tls: cfg}
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(g.close)
	return g
}

func (g *gateway) serve() {
	defer g.wg.Done()
	for {
		c, err := g.lis.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		g.conns = append(g.conns, c)
		g.mu.Unlock()
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.handle(c)
		}()
	}
}

func (g *gateway) handle(c net.Conn) {
	switch g.mode {
	case "silent":
		_, _ = io.Copy(io.Discard, c)
	case "sniff":
		defer c.Close()
		// Read the ClientHello the way a tls_inspector does: through a TLS
		// server that stops at GetConfigForClient.
		seen := errors.New("seen")
		srv := tls.Server(readOnly{bufio.NewReader(c)}, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			g.mu.Lock()
			g.hello = append(g.hello, h)
			g.mu.Unlock()
			return nil, seen
		}})
		_ = srv.Handshake()
	case "mtls":
		defer c.Close()
		_ = tls.Server(c, g.tls).Handshake()
	}
}

// readOnly lets a TLS server read a ClientHello but never write an alert
// (a tls_inspector only closes).
type readOnly struct{ r io.Reader }

func (r readOnly) Read(p []byte) (int, error)     { return r.r.Read(p) }
func (readOnly) Write(p []byte) (int, error)      { return len(p), nil }
func (readOnly) Close() error                     { return nil }
func (readOnly) LocalAddr() net.Addr              { return nil }
func (readOnly) RemoteAddr() net.Addr             { return nil }
func (readOnly) SetDeadline(time.Time) error      { return nil }
func (readOnly) SetReadDeadline(time.Time) error  { return nil }
func (readOnly) SetWriteDeadline(time.Time) error { return nil }

func (g *gateway) close() {
	g.lis.Close()
	g.mu.Lock()
	for _, c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *gateway) hellos() []*tls.ClientHelloInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*tls.ClientHelloInfo(nil), g.hello...)
}

// meshTLS issues SVIDs for a gateway and a daemon under one CA.
func meshTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(path string) *x509svid.SVID {
		s, err := ca.IssueX509SVID(spiffeid.RequireFromPath(td, path), identity.SVIDOptions{TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	gw, daemon := issue("/ns/istio-system/sa/eastwest-gateway"), issue("/ns/istio-system/sa/meshgate")
	server = tlsconfig.MTLSServerConfig(gw, ca.Bundle(), tlsconfig.AuthorizeAny())
	client = tlsconfig.MTLSClientConfig(daemon, ca.Bundle(), tlsconfig.AuthorizeAny())
	return server, client
}

// TestProbeVerdicts: every kind of gateway a probe meets, over real sockets.
func TestProbeVerdicts(t *testing.T) {
	srvTLS, cliTLS := meshTLS(t)
	sniff := startGateway(t, "", "sniff", nil)
	mtls := startGateway(t, "", "mtls", srvTLS)
	silent := startGateway(t, "", "silent", nil)
	closed := startGateway(t, "", "sniff", nil)
	closed.close()
	d := &net.Dialer{}
	for _, tc := range []struct {
		name, addr string
		want       string
	}{
		{"no filter chain for the probe's SNI: closed after the ClientHello", sniff.addr, "ok"},
		{"terminates mesh mTLS: the handshake completes", mtls.addr, "ok"},
		{"accepts and never answers", silent.addr, "no_answer"},
		{"nothing listens", closed.addr, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			rtt, err := probe(context.Background(), d.DialContext, tc.addr, 300*time.Millisecond, cliTLS)
			if got := reason(err); got != tc.want {
				t.Fatalf("probe %s: %s (%v), want %s", tc.addr, got, err, tc.want)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("probe took %s, beyond its 300ms timeout", took)
			}
			if err == nil && (rtt <= 0 || rtt > 300*time.Millisecond) {
				t.Errorf("rtt %s out of (0, 300ms]", rtt)
			}
		})
	}
	h := sniff.hellos()
	if len(h) != 1 || h[0].ServerName != ProbeSNI || len(h[0].SupportedProtos) != 1 || h[0].SupportedProtos[0] != ProbeALPN {
		t.Fatalf("the gateway saw %d ClientHellos (want 1 with SNI %s, ALPN %s): %+v", len(h), ProbeSNI, ProbeALPN, h)
	}
}
