package identity

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshgate/meshgate/test/metrictest"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newManager(t *testing.T, issuer Issuer, cfg ManagerConfig, opts ManagerOptions) *Manager {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	m, err := NewManager(issuer, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runManager starts m.Run and stops it when the test ends.
func runManager(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitForTimer polls until Run has armed a timer on the fake clock, so that
// a Step is seen by it. The loop checks a condition; it is not a sleep.
func waitForTimer(t *testing.T, fc *clocktesting.FakeClock) {
	t.Helper()
	for !fc.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
}

func serial(s *x509svid.SVID) string { return s.Certificates[0].SerialNumber.String() }

// TestRotationKeepsConnections: a TLS server whose certificate comes from
// the Manager keeps serving an established connection across a renewal, and
// new handshakes get the renewed certificate. Renewal is driven by stepping
// the injected clock.
func TestRotationKeepsConnections(t *testing.T) {
	// Start the fake clock 20h in the past so that both the first (valid until
	// now+4h) and the renewed SVID (issued at now-8h) are valid in real time,
	// which is what the TLS peers check.
	fc := fakeClockAt(-20 * time.Hour)
	ca, err := NewSelfSignedCA(CAConfig{TrustDomain: tdA}, CAOptions{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	mgr := newManager(t, ca, ManagerConfig{TTL: 24 * time.Hour}, ManagerOptions{Clock: fc})
	renewed := make(chan *x509svid.SVID, 4)
	mgr.Subscribe(func(s *x509svid.SVID) { renewed <- s })
	runManager(t, mgr)

	first, err := mgr.Get(gatewayID)
	if err != nil {
		t.Fatal(err)
	}
	bundle := NewBundleSet(ca.Bundle())
	addr := serveEcho(t, tlsconfig.MTLSServerConfig(mgr.Source(gatewayID), bundle, tlsconfig.AuthorizeID(clientID)))
	clientCfg := tlsconfig.MTLSClientConfig(issue(t, ca, clientID, 24*time.Hour), bundle, tlsconfig.AuthorizeID(gatewayID))

	conn1 := dialEcho(t, addr, clientCfg)
	if got := conn1.serverSerial(); got != serial(first) {
		t.Fatalf("first connection: server serial %s, want %s", got, serial(first))
	}
	conn1.roundTrip(t, "before renewal")

	waitForTimer(t, fc)
	fc.SetTime(renewalTimeOf(t, mgr))
	second := <-renewed
	if serial(second) == serial(first) {
		t.Fatal("renewal returned the same certificate")
	}
	if cur, _ := mgr.Current(gatewayID); serial(cur) != serial(second) {
		t.Fatalf("Current = %s, want the renewed %s", serial(cur), serial(second))
	}
	if !second.Certificates[0].NotBefore.After(first.Certificates[0].NotBefore) {
		t.Errorf("renewed SVID does not start later than the first")
	}

	// The established connection keeps working on its original certificate.
	conn1.roundTrip(t, "after renewal")
	if got := conn1.serverSerial(); got != serial(first) {
		t.Errorf("established connection changed certificate")
	}
	// A new handshake gets the renewed certificate.
	conn2 := dialEcho(t, addr, clientCfg)
	conn2.roundTrip(t, "new connection")
	if got := conn2.serverSerial(); got != serial(second) {
		t.Fatalf("new connection: server serial %s, want renewed %s", got, serial(second))
	}

	// And the next renewal follows from the renewed SVID's own half life.
	waitForTimer(t, fc)
	fc.SetTime(renewalTimeOf(t, mgr))
	third := <-renewed
	if serial(third) == serial(second) {
		t.Fatal("second renewal returned the same certificate")
	}
}

// TestRenewAtHalfLife drives RenewDue directly: nothing happens before half
// of the TTL, the SVID is replaced at it.
func TestRenewAtHalfLife(t *testing.T) {
	fc := fakeClockAt(0)
	ca := newCA(t, tdA).WithClock(fc)
	mgr := newManager(t, ca, ManagerConfig{TTL: 2 * time.Hour}, ManagerOptions{Clock: fc})
	first, err := mgr.Get(gatewayID)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Certificates[0].NotAfter.Sub(fc.Now()); got != 2*time.Hour {
		t.Fatalf("TTL %v, want 2h", got)
	}
	at := renewalTimeOf(t, mgr)
	if want := fc.Now().Add(time.Hour); !at.Equal(want) {
		t.Fatalf("renewal time %v, want half the TTL later (%v)", at, want)
	}
	fc.SetTime(at.Add(-time.Second))
	if next := mgr.RenewDue(); !next.Equal(at) {
		t.Fatalf("RenewDue next = %v, want %v", next, at)
	}
	if cur, _ := mgr.Get(gatewayID); serial(cur) != serial(first) {
		t.Fatal("renewed before half life")
	}
	fc.SetTime(at)
	mgr.RenewDue()
	cur, _ := mgr.Current(gatewayID)
	if serial(cur) == serial(first) {
		t.Fatal("not renewed at half life")
	}
	if next := mgr.RenewDue(); !next.Equal(at.Add(time.Hour)) {
		t.Fatalf("next renewal %v, want %v", next, at.Add(time.Hour))
	}
	// Get renews on its own when Run is not running.
	fc.SetTime(renewalTimeOf(t, mgr))
	got, err := mgr.Get(gatewayID)
	if err != nil || serial(got) == serial(cur) {
		t.Fatalf("Get past half life did not renew: %v", err)
	}
}

// TestShortTTL: a TTL shorter than the NotBefore backdate still renews half
// a TTL after issuance, not immediately.
func TestShortTTL(t *testing.T) {
	fc := fakeClockAt(0)
	mgr := newManager(t, newCA(t, tdA).WithClock(fc), ManagerConfig{TTL: 30 * time.Second}, ManagerOptions{Clock: fc})
	if _, err := mgr.Get(gatewayID); err != nil {
		t.Fatal(err)
	}
	if at := renewalTimeOf(t, mgr); !at.Equal(fc.Now().Add(15 * time.Second)) {
		t.Fatalf("renewal at %v, want 15s after issuance", at.Sub(fc.Now()))
	}
}

func renewalTimeOf(t *testing.T, m *Manager) time.Time {
	t.Helper()
	at, ok := m.RenewalTime(gatewayID)
	if !ok {
		t.Fatal("no SVID held")
	}
	return at
}

// TestRenewalFailure: a failed renewal keeps the still-valid SVID, retries
// after RetryInterval, and an expired SVID is never returned.
func TestRenewalFailure(t *testing.T) {
	fc := fakeClockAt(0)
	reg := prometheus.NewRegistry()
	iss := &failingIssuer{ca: newCA(t, tdA).WithClock(fc)}
	mgr := newManager(t, iss, ManagerConfig{TTL: time.Hour, RetryInterval: 5 * time.Minute}, ManagerOptions{Clock: fc, Registerer: reg})
	first, err := mgr.Get(gatewayID)
	if err != nil {
		t.Fatal(err)
	}
	iss.fail.Store(true)
	fc.SetTime(renewalTimeOf(t, mgr))
	if next := mgr.RenewDue(); !next.Equal(fc.Now().Add(5 * time.Minute)) {
		t.Fatalf("after a failure next = %v, want retry at %v", next, fc.Now().Add(5*time.Minute))
	}
	if got, err := mgr.Get(gatewayID); err != nil || serial(got) != serial(first) {
		t.Fatalf("Get during retry back-off = %v; want the still-valid SVID", err)
	}
	if n := metrictest.Sum(t, reg, "meshgate_identity_svid_issue_failures_total", map[string]string{"kind": "renewal"}); n != 1 {
		t.Errorf("failure counter = %v, want 1", n)
	}
	// Past NotAfter, with the issuer still failing: an error, not an expired SVID.
	fc.SetTime(first.Certificates[0].NotAfter)
	if got, err := mgr.Get(gatewayID); err == nil {
		t.Fatalf("Get returned expired SVID %s", serial(got))
	} else if !strings.Contains(err.Error(), "issuer unavailable") {
		t.Errorf("error %q does not carry the cause", err)
	}
	// Within the retry back-off Get reports the expiry without calling the issuer.
	if _, err := mgr.Get(gatewayID); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Fatalf("Get during back-off after expiry: %v", err)
	}
	iss.fail.Store(false)
	fc.Step(5 * time.Minute)
	got, err := mgr.Get(gatewayID)
	if err != nil || serial(got) == serial(first) {
		t.Fatalf("after recovery: %v", err)
	}
	if n := metrictest.Sum(t, reg, "meshgate_identity_svid_issued_total", map[string]string{"kind": "renewal"}); n != 1 {
		t.Errorf("renewal counter = %v, want 1", n)
	}
	// A first issuance failing is an error for the caller.
	iss.fail.Store(true)
	if _, err := mgr.Get(clientID); err == nil {
		t.Fatal("Get of a new ID with a failing issuer succeeded")
	}
	if _, ok := mgr.Current(clientID); ok {
		t.Fatal("a failed first issuance left an entry")
	}
}

// TestSubscribers: notifications coalesce per ID, come in subscription
// order from Run's goroutine, and stop after cancel.
func TestSubscribers(t *testing.T) {
	fc := fakeClockAt(0)
	mgr := newManager(t, newCA(t, tdA).WithClock(fc), ManagerConfig{TTL: time.Hour}, ManagerOptions{Clock: fc})
	var (
		mu    sync.Mutex
		order []string
	)
	record := func(name string, ch chan *x509svid.SVID) func(*x509svid.SVID) {
		return func(s *x509svid.SVID) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			ch <- s
		}
	}
	ch1, ch2 := make(chan *x509svid.SVID, 8), make(chan *x509svid.SVID, 8)
	cancel1 := mgr.Subscribe(record("first", ch1))
	mgr.Subscribe(record("second", ch2))

	if _, err := mgr.Get(gatewayID); err != nil {
		t.Fatal(err)
	}
	// Two renewals before Run: subscribers are told once, with the newest SVID.
	fc.SetTime(renewalTimeOf(t, mgr))
	mgr.RenewDue()
	fc.SetTime(renewalTimeOf(t, mgr))
	mgr.RenewDue()
	newest, _ := mgr.Current(gatewayID)
	runManager(t, mgr)
	if got := <-ch2; serial(got) != serial(newest) {
		t.Fatalf("second subscriber got %s, want newest %s", serial(got), serial(newest))
	}
	if got := <-ch1; serial(got) != serial(newest) {
		t.Fatalf("first subscriber got %s, want newest %s", serial(got), serial(newest))
	}
	mu.Lock()
	if strings.Join(order, ",") != "first,second" {
		t.Errorf("call order %v, want first,second", order)
	}
	mu.Unlock()
	if len(ch1)+len(ch2) != 0 {
		t.Fatalf("coalesced renewals delivered %d extra notifications", len(ch1)+len(ch2))
	}

	// After cancel, only the second subscriber is called. Subscribers run in
	// order, so once the second has been called the first would have been.
	cancel1()
	waitForTimer(t, fc)
	fc.SetTime(renewalTimeOf(t, mgr))
	<-ch2
	if len(ch1) != 0 {
		t.Fatal("cancelled subscriber was called")
	}

	// A removed ID is no longer renewed.
	mgr.Remove(gatewayID)
	if _, ok := mgr.Current(gatewayID); ok || len(mgr.IDs()) != 0 {
		t.Fatal("Remove left the SVID")
	}
}

// TestRunTwice: a second concurrent Run is refused.
func TestRunTwice(t *testing.T) {
	mgr := newManager(t, newCA(t, tdA), ManagerConfig{}, ManagerOptions{})
	runManager(t, mgr)
	for !mgr.running.Load() {
		time.Sleep(time.Millisecond) // poll until the first Run has started
	}
	if err := mgr.Run(context.Background()); err == nil {
		t.Fatal("second Run did not fail")
	}
	if _, err := NewManager(nil, ManagerConfig{}, ManagerOptions{}); err == nil {
		t.Fatal("NewManager(nil) did not fail")
	}
	reg := prometheus.NewRegistry()
	if _, err := NewManager(newCA(t, tdA), ManagerConfig{}, ManagerOptions{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewManager(newCA(t, tdA), ManagerConfig{}, ManagerOptions{Registerer: reg}); err == nil {
		t.Fatal("duplicate metric registration did not fail")
	}
}

// echoConn is a client connection to serveEcho.
type echoConn struct {
	conn *tls.Conn
	r    *bufio.Reader
}

// serveEcho serves line echo over TLS on loopback until the test ends.
func serveEcho(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dialEcho(t *testing.T, addr string, cfg *tls.Config) *echoConn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &echoConn{conn: c, r: bufio.NewReader(c)}
}

func (e *echoConn) roundTrip(t *testing.T, msg string) {
	t.Helper()
	if _, err := e.conn.Write([]byte(msg + "\n")); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	line, err := e.r.ReadString('\n')
	if err != nil || line != msg+"\n" {
		t.Fatalf("echo of %q = %q, %v", msg, line, err)
	}
}

func (e *echoConn) serverSerial() string {
	return e.conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}
