package dataplane

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend is a real TCP (or TLS) server on loopback: it greets each
// connection with its name and then echoes lines. TLS backends record what
// they saw of each handshake.
type backend struct {
	name string
	addr string
	ln   net.Listener

	mu   sync.Mutex
	seen []handshake
	wg   sync.WaitGroup
}

type handshake struct {
	sni, alpn string
	peerURIs  []string
}

func startBackend(t testing.TB, name string, cfg *tls.Config) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String(), ln: ln}
	go b.serve(cfg)
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *backend) serve(cfg *tls.Config) {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer c.Close()
			if cfg != nil {
				tc := tls.Server(c, cfg)
				if err := tc.Handshake(); err != nil {
					return
				}
				cs := tc.ConnectionState()
				h := handshake{sni: cs.ServerName, alpn: cs.NegotiatedProtocol}
				if len(cs.PeerCertificates) > 0 {
					for _, u := range cs.PeerCertificates[0].URIs {
						h.peerURIs = append(h.peerURIs, u.String())
					}
				}
				b.mu.Lock()
				b.seen = append(b.seen, h)
				b.mu.Unlock()
				c = tc
			}
			echo(c, b.name)
		}()
	}
}

// echo greets with name and echoes lines until EOF.
func echo(c net.Conn, name string) {
	if _, err := fmt.Fprintf(c, "%s\n", name); err != nil {
		return
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, line); err != nil {
			return
		}
	}
}

func (b *backend) handshakes() []handshake {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]handshake(nil), b.seen...)
}

// tlsBackendConfig serves cert; with clientCAs it requires client certificates.
func tlsBackendConfig(cert tls.Certificate, clientCAs *testCA, alpn ...string) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: alpn}
	if clientCAs != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = clientCAs.pool
	}
	return cfg
}

// clientConn is a client connection that read the backend's greeting.
type clientConn struct {
	net.Conn
	r    *bufio.Reader
	name string
}

// dial connects (through TLS when cfg is set) and reads the greeting.
func dial(addr string, cfg *tls.Config) (*clientConn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		c = tc
	}
	cc := &clientConn{Conn: c, r: bufio.NewReader(c)}
	line, err := cc.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	cc.name = strings.TrimSuffix(line, "\n")
	return cc, nil
}

// dialName connects, returns the backend's name and closes.
func dialName(addr string, cfg *tls.Config) (string, error) {
	c, err := dial(addr, cfg)
	if err != nil {
		return "", err
	}
	c.Close()
	return c.name, nil
}

// roundTrip sends a line and expects it back.
func (c *clientConn) roundTrip(msg string) error {
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != msg+"\n" {
		return fmt.Errorf("echo: got %q, want %q", line, msg)
	}
	return nil
}

// waitClosed blocks until the peer closes the connection (read returns an error).
func (c *clientConn) waitClosed() error {
	_, err := c.r.ReadString('\n')
	if err == nil {
		return errors.New("connection still open: got data")
	}
	return nil
}

// clientTLS is a client config sending sni and alpn, verifying against ca.
func clientTLS(ca *testCA, sni string, alpn ...string) *tls.Config {
	return &tls.Config{ServerName: sni, RootCAs: ca.pool, NextProtos: alpn}
}
