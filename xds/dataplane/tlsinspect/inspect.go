package tlsinspect

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// DefaultMaxHelloSize is Envoy's default limit on the ClientHello size (16 KiB).
const DefaultMaxHelloSize = 16 * 1024

// readSlack is what crypto/tls may read beyond the hello in one go.
const readSlack = 512 + 5

// Hello is what the inspector learned from the first bytes of a connection.
type Hello struct {
	// TLS is true when the connection starts with a TLS ClientHello
	// (Envoy's transport protocol "tls"; otherwise "raw_buffer").
	TLS bool
	// ServerName is the SNI, lower-cased; empty when absent.
	ServerName string
	// ALPN lists the client's application protocols in its order of preference.
	ALPN []string
}

// TransportProtocol returns Envoy's name for the transport protocol.
func (h Hello) TransportProtocol() string {
	if h.TLS {
		return "tls"
	}
	return "raw_buffer"
}

// ErrTooLarge is returned when the ClientHello exceeds the size limit.
var ErrTooLarge = errors.New("tls inspector: ClientHello too large")

// ErrMalformed wraps a parse error of something that looked like TLS.
var ErrMalformed = errors.New("tls inspector: malformed ClientHello")

var errAbort = errors.New("tls inspector: hello captured")

// Inspect reads the start of conn until it has a whole ClientHello or knows
// the connection is not TLS. The caller sets a read deadline on conn first.
// The returned Conn replays the bytes read so far and then reads conn.
//
// Errors: a timeout or read error from conn (returned as is), ErrTooLarge,
// or ErrMalformed when the record header said TLS handshake but the hello
// did not parse (Hello.TLS is then false: Envoy treats such connections as
// plain text unless told to close them). A connection whose first record is
// not a TLS handshake is not an error: Hello.TLS is false.
func Inspect(conn net.Conn, maxHelloSize int) (Hello, net.Conn, error) {
	if maxHelloSize <= 0 {
		maxHelloSize = DefaultMaxHelloSize
	}
	rec := &recorder{Conn: conn, max: maxHelloSize + readSlack}
	var hello Hello
	got := false
	srv := tls.Server(rec, &tls.Config{
		GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			hello = Hello{TLS: true, ServerName: strings.ToLower(chi.ServerName), ALPN: slices.Clone(chi.SupportedProtos)}
			got = true
			return nil, errAbort
		},
	})
	err := srv.Handshake()
	replay := &Conn{Conn: conn, prefix: rec.buf.Bytes()}
	switch {
	case got:
		return hello, replay, nil
	case rec.err != nil:
		return Hello{}, replay, rec.err
	case isNotTLS(err):
		return Hello{}, replay, nil
	default:
		return Hello{}, replay, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

// isNotTLS reports whether crypto/tls gave up because the first record is
// not a TLS handshake.
func isNotTLS(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh)
}

// recorder reads from the connection, keeping every byte, and swallows
// writes (the alert crypto/tls sends when the handshake is aborted).
type recorder struct {
	net.Conn
	buf bytes.Buffer
	max int
	err error // first read error from the real connection, or ErrTooLarge
}

func (r *recorder) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	room := r.max - r.buf.Len()
	if room <= 0 {
		r.err = ErrTooLarge
		return 0, r.err
	}
	if len(p) > room {
		p = p[:room]
	}
	n, err := r.Conn.Read(p)
	r.buf.Write(p[:n])
	if err != nil && n == 0 {
		r.err = err
	}
	return n, err
}

func (r *recorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *recorder) Close() error                { return nil }

// Conn is a connection whose first reads return bytes already consumed by
// the inspector. Writes go straight to the connection.
type Conn struct {
	net.Conn
	prefix []byte
}

// Prefix returns the bytes not yet replayed (the peeked ClientHello).
func (c *Conn) Prefix() []byte { return c.prefix }

// TakePrefix returns the bytes not yet replayed and forgets them; the next
// Read goes to the underlying connection.
func (c *Conn) TakePrefix() []byte {
	p := c.prefix
	c.prefix = nil
	return p
}

// Raw returns the underlying connection.
func (c *Conn) Raw() net.Conn { return c.Conn }

func (c *Conn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the underlying connection when it supports it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
