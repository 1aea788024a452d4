package workload

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshgate/meshgate/test/e2e/netlab"
)

// Reply is what an echo server answers: who it is and who called.
type Reply struct {
	Cluster string `json:"cluster"`
	Pod     string `json:"pod"`
	Service string `json:"service"`
	Version string `json:"version,omitempty"`
	// Peer is the caller's SPIFFE ID as the echo server verified it.
	Peer string `json:"peer"`
	// SNI and ALPN are what the TLS handshake carried.
	SNI  string `json:"sni"`
	ALPN string `json:"alpn,omitempty"`
	Seq  string `json:"seq"`
	// Method, Host and Path are set for HTTP requests; Attempt counts the
	// requests of the same x-echo-fail key this pod has seen (1: the first).
	Method  string `json:"method,omitempty"`
	Host    string `json:"host,omitempty"`
	Path    string `json:"path,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
}

// EchoConfig describes one echo pod.
type EchoConfig struct {
	Net     *netlab.Network
	Addr    netip.AddrPort // pod address and port
	Cluster string
	Pod     string
	Service string // host, e.g. echo.e2e.svc.cluster.local
	Version string
	ID      *Identity
	// Allow decides which callers are accepted; default any member of the
	// echo's trust domain.
	Allow tlsconfig.Authorizer
}

// Echo is a running echo pod: a mesh mTLS server that answers one request
// line per connection with a Reply, or, when the connection starts with an
// HTTP/1.1 request line (a proxy such as Envoy in front), HTTP requests
// with a Reply as JSON body (see serveHTTP).
type Echo struct {
	cfg      EchoConfig
	l        net.Listener
	served   atomic.Int64
	rejected atomic.Int64
	wg       sync.WaitGroup

	mu    sync.Mutex
	fails map[string]int // requests seen per x-echo-fail key
	conns map[net.Conn]bool
}

// StartEcho listens on cfg.Addr inside cfg.Net.
func StartEcho(cfg EchoConfig) (*Echo, error) {
	if cfg.Allow == nil {
		cfg.Allow = tlsconfig.AuthorizeMemberOf(cfg.ID.ID().TrustDomain())
	}
	l, err := cfg.Net.Listen(cfg.Addr.String())
	if err != nil {
		return nil, fmt.Errorf("echo %s: %w", cfg.Pod, err)
	}
	e := &Echo{cfg: cfg, l: tls.NewListener(l, cfg.ID.ServerTLS(cfg.Allow)), fails: map[string]int{}, conns: map[net.Conn]bool{}}
	e.wg.Add(1)
	go e.serve()
	return e, nil
}

// Served is the number of requests answered; Rejected the connections whose
// handshake or request failed (a caller that was not allowed, for example).
func (e *Echo) Served() int64   { return e.served.Load() }
func (e *Echo) Rejected() int64 { return e.rejected.Load() }

// Addr is the echo's pod address and port.
func (e *Echo) Addr() netip.AddrPort { return e.cfg.Addr }

// Close stops the server, closes idle HTTP keep-alive connections and waits
// for open connections to finish.
func (e *Echo) Close() error {
	err := e.l.Close()
	e.mu.Lock()
	for c := range e.conns {
		_ = c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

func (e *Echo) serve() {
	defer e.wg.Done()
	for {
		c, err := e.l.Accept()
		if err != nil {
			return
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := e.handle(c.(*tls.Conn)); err != nil {
				e.rejected.Add(1)
			} else {
				e.served.Add(1)
			}
		}()
	}
}

func (e *Echo) handle(c *tls.Conn) error {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := c.Handshake(); err != nil {
		return err
	}
	st := c.ConnectionState()
	peer, err := x509svid.IDFromCert(st.PeerCertificates[0])
	if err != nil {
		return err
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if httpRequestLine.MatchString(line) {
		return e.serveHTTP(c, bufio.NewReader(io.MultiReader(strings.NewReader(line), br)), peer, st)
	}
	return json.NewEncoder(c).Encode(e.reply(peer, st, line))
}

func (e *Echo) reply(peer spiffeid.ID, st tls.ConnectionState, line string) Reply {
	seq := line
	if n := len(seq); n > 0 && seq[n-1] == '\n' {
		seq = seq[:n-1]
	}
	return Reply{Cluster: e.cfg.Cluster, Pod: e.cfg.Pod, Service: e.cfg.Service, Version: e.cfg.Version,
		Peer: peer.String(), SNI: st.ServerName, ALPN: st.NegotiatedProtocol, Seq: seq}
}
