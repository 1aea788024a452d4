package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	clocktesting "k8s.io/utils/clock/testing"
)

var (
	tdA = spiffeid.RequireTrustDomainFromString("cluster.local")
	tdB = spiffeid.RequireTrustDomainFromString("west.example")

	gatewayID = spiffeid.RequireFromPath(tdA, "/ns/istio-system/sa/eastwest-gateway")
	clientID  = spiffeid.RequireFromPath(tdA, "/ns/istio-system/sa/ingress-gateway")
	otherID   = spiffeid.RequireFromPath(tdA, "/ns/default/sa/sleep")
	westID    = spiffeid.RequireFromPath(tdB, "/ns/istio-system/sa/eastwest-gateway")
)

// newCA returns a self-signed CA for td whose clock is the real clock.
func newCA(t testing.TB, td spiffeid.TrustDomain) *CA {
	t.Helper()
	ca, err := NewSelfSignedCA(CAConfig{TrustDomain: td}, CAOptions{})
	if err != nil {
		t.Fatalf("NewSelfSignedCA: %v", err)
	}
	return ca
}

// issue issues an SVID or fails the test.
func issue(t testing.TB, ca *CA, id spiffeid.ID, ttl time.Duration) *x509svid.SVID {
	t.Helper()
	svid, err := ca.IssueX509SVID(id, SVIDOptions{TTL: ttl})
	if err != nil {
		t.Fatalf("IssueX509SVID(%s): %v", id, err)
	}
	return svid
}

// fakeClockAt returns a fake clock set to now+offset.
func fakeClockAt(offset time.Duration) *clocktesting.FakeClock {
	return clocktesting.NewFakeClock(time.Now().Truncate(time.Second).Add(offset)) // certificates hold whole seconds
}

// peer is one side of a test handshake.
type peer struct {
	svid       x509svid.Source
	bundle     x509bundle.Source
	authorizer tlsconfig.Authorizer
}

// result is what each side saw of a handshake followed by one echoed byte.
type result struct {
	serverErr, clientErr error
	serverSaw, clientSaw []*x509.Certificate // peer certificates
}

func (r result) ok() bool { return r.serverErr == nil && r.clientErr == nil }

// handshake runs a real TLS handshake over loopback TCP between an mTLS
// server and client built with go-spiffe's tlsconfig, then echoes one byte so
// that the client also learns whether the server accepted its certificate (in
// TLS 1.3 the client's Handshake returns before the server has verified it).
// net.Pipe is not used: it has no buffer, so a failing side blocks writing its
// alert while the other side blocks writing data.
func handshake(t *testing.T, server, client peer) result {
	t.Helper()
	sc, cc := tcpPair(t)
	srv := tls.Server(sc, tlsconfig.MTLSServerConfig(server.svid, server.bundle, server.authorizer))
	cli := tls.Client(cc, tlsconfig.MTLSClientConfig(client.svid, client.bundle, client.authorizer))
	var r result
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sc.Close()
		if err := srv.Handshake(); err != nil {
			r.serverErr = err
			return
		}
		r.serverSaw = srv.ConnectionState().PeerCertificates
		buf := make([]byte, 1)
		if _, err := io.ReadFull(srv, buf); err != nil {
			r.serverErr = err
			return
		}
		if _, err := srv.Write(buf); err != nil {
			r.serverErr = err
		}
	}()
	func() {
		defer cc.Close()
		if err := cli.Handshake(); err != nil {
			r.clientErr = err
			return
		}
		r.clientSaw = cli.ConnectionState().PeerCertificates
		if _, err := cli.Write([]byte{'x'}); err != nil {
			r.clientErr = err
			return
		}
		buf := make([]byte, 1)
		if _, err := io.ReadFull(cli, buf); err != nil {
			r.clientErr = err
		}
	}()
	<-done
	return r
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	return server, client
}

// errorContains reports whether err is set and its text contains want.
func errorContains(err error, want string) bool {
	return err != nil && strings.Contains(err.Error(), want)
}

// failingIssuer is a narrow fake for Manager unit tests: it fails while fail
// is true and otherwise delegates to a real CA.
type failingIssuer struct {
	ca   *CA
	fail atomic.Bool
}

func (f *failingIssuer) IssueX509SVID(id spiffeid.ID, opts SVIDOptions) (*x509svid.SVID, error) {
	if f.fail.Load() {
		return nil, errors.New("issuer unavailable")
	}
	return f.ca.IssueX509SVID(id, opts)
}
