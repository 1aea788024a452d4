package workload

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/meshgate/meshgate/test/e2e/netlab"
)

// HeaderExternal is set on every answer of an External server: its name.
const HeaderExternal = "x-external-server"

// ExternalReply is what an External server answers (JSON body): what it
// saw of the request and, over HTTPS, of the TLS handshake.
type ExternalReply struct {
	Server string `json:"server"`
	TLS    bool   `json:"tls"`
	SNI    string `json:"sni,omitempty"`
	// TLSVersion is tls.VersionName of the negotiated version.
	TLSVersion string `json:"tlsVersion,omitempty"`
	Method     string `json:"method"`
	Host       string `json:"host"`
	Path       string `json:"path"`
	Seq        string `json:"seq,omitempty"` // the x-echo-seq header
	// ClientCert is set when the client presented a certificate (subject).
	ClientCert string `json:"clientCert,omitempty"`
}

// ExternalConfig describes a service outside the mesh (no SVID, no mesh
// mTLS): a plain HTTP listener and, with Cert, an HTTPS listener.
type ExternalConfig struct {
	Net   *netlab.Network
	Name  string
	HTTP  netip.AddrPort  // plain HTTP listener
	HTTPS netip.AddrPort  // HTTPS listener (with Cert)
	Cert  tls.Certificate // the HTTPS server's certificate (from a CA of its own)
}

// External is a running service outside the mesh, like the public web
// servers of Istio's egress tasks. It records every request it answered and
// every TLS handshake that failed.
type External struct {
	cfg     ExternalConfig
	servers []*http.Server
	addrs   []net.Addr // bound addresses: HTTP, then HTTPS
	wg      sync.WaitGroup

	mu        sync.Mutex
	requests  []ExternalReply
	tlsErrors []string
	tlsErrCh  chan struct{} // closed (and replaced) at each failed handshake
}

// StartExternal listens on the configured addresses inside cfg.Net.
func StartExternal(cfg ExternalConfig) (*External, error) {
	e := &External{cfg: cfg, tlsErrCh: make(chan struct{})}
	listen := func(addr netip.AddrPort, tc *tls.Config) error {
		l, err := cfg.Net.Listen(addr.String())
		if err != nil {
			return fmt.Errorf("external %s: %w", cfg.Name, err)
		}
		// net/http reports failed TLS handshakes only to ErrorLog.
		srv := &http.Server{Handler: http.HandlerFunc(e.serve), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: log.New(handshakeLog{e}, "", 0)}
		if tc != nil {
			l = tls.NewListener(l, tc)
		}
		e.servers, e.addrs = append(e.servers, srv), append(e.addrs, l.Addr())
		e.wg.Go(func() { _ = srv.Serve(l) })
		return nil
	}
	if err := listen(cfg.HTTP, nil); err != nil {
		return nil, err
	}
	if cfg.HTTPS.IsValid() {
		tc := &tls.Config{Certificates: []tls.Certificate{cfg.Cert}, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"}, ClientAuth: tls.RequestClientCert}
		if err := listen(cfg.HTTPS, tc); err != nil {
			return nil, errors.Join(err, e.Close())
		}
	}
	return e, nil
}

// handshakeLog records the server's error log lines about failed TLS
// handshakes (a client that refused the certificate).
type handshakeLog struct{ e *External }

func (h handshakeLog) Write(p []byte) (int, error) {
	if line := strings.TrimSpace(string(p)); strings.Contains(line, "TLS handshake error") {
		h.e.mu.Lock()
		h.e.tlsErrors = append(h.e.tlsErrors, line)
		close(h.e.tlsErrCh)
		h.e.tlsErrCh = make(chan struct{})
		h.e.mu.Unlock()
	}
	return len(p), nil
}

// TLSErrors returns the failed TLS handshakes so far (net/http's messages)
// and a channel closed at the next one.
func (e *External) TLSErrors() ([]string, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.tlsErrors...), e.tlsErrCh
}

func (e *External) serve(w http.ResponseWriter, r *http.Request) {
	rep := ExternalReply{Server: e.cfg.Name, Method: r.Method, Host: r.Host, Path: r.URL.Path, Seq: r.Header.Get("x-echo-seq")}
	if st := r.TLS; st != nil {
		rep.TLS, rep.SNI, rep.TLSVersion = true, st.ServerName, tls.VersionName(st.Version)
		if len(st.PeerCertificates) > 0 {
			rep.ClientCert = st.PeerCertificates[0].Subject.String()
		}
	}
	e.mu.Lock()
	e.requests = append(e.requests, rep)
	e.mu.Unlock()
	b, err := json.Marshal(rep)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderExternal, e.cfg.Name)
	_, _ = w.Write(b)
}

// Addrs are the bound listener addresses: HTTP, then HTTPS (if any).
func (e *External) Addrs() []net.Addr { return e.addrs }

// Requests returns the requests answered so far, in order.
func (e *External) Requests() []ExternalReply {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ExternalReply(nil), e.requests...)
}

// Close stops the listeners and closes open connections.
func (e *External) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range e.servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, s.Close())
		}
	}
	e.wg.Wait()
	return errors.Join(errs...)
}
