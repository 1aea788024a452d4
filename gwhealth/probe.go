package gwhealth

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Probe SNI and ALPN: names no filter chain of an AUTO_PASSTHROUGH listener
// can match (the .invalid TLD is reserved), so the gateway answers the
// ClientHello by closing the connection and forwards nothing.
const (
	ProbeSNI  = "meshgate-probe.invalid"
	ProbeALPN = "meshgate-probe"
)

// errNoAnswer: the connection was accepted but nothing came back before the
// timeout (a hung gateway, or a path that drops the answer).
var errNoAnswer = errors.New("no answer to the ClientHello")

// probe opens a TCP connection to addr and sends a TLS ClientHello (ProbeSNI,
// ProbeALPN, the certificate cfg supplies if the gateway asks for one). The
// gateway answered when, after the connect, the handshake ended in any way
// other than a timeout: completed, an alert, a certificate it does not
// verify, or the connection closed or reset (what Envoy's and the built-in
// gateway's tls_inspector do with an SNI they do not route). A refused or
// timed-out connect, or silence until the timeout, is a failure. Nothing is
// ever written after the handshake.
func probe(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string, timeout time.Duration, cfg *tls.Config) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c := cfg.Clone()
	c.ServerName = ProbeSNI
	c.NextProtos = []string{ProbeALPN}
	err = tls.Client(conn, c).HandshakeContext(ctx)
	rtt := time.Since(start)
	if err != nil && timedOut(err) {
		return rtt, errNoAnswer
	}
	return rtt, nil
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// reason is a failure's label for metrics and logs.
func reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errNoAnswer):
		return "no_answer"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case timedOut(err):
		return "connect_timeout"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	default:
		return "error"
	}
}
