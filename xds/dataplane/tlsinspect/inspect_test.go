package tlsinspect

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

// selfSigned returns a certificate for name and a pool trusting it.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestPassthrough peeks a real ClientHello, then splices the connection to a
// real TLS server: the handshake completes end to end and the server sees
// the client's SNI and ALPN.
func TestPassthrough(t *testing.T) {
	cert, pool := selfSigned(t, "echo.ns1.svc.cluster.local")
	client, front := tcpPair(t)
	upClient, upServer := tcpPair(t)

	clientErr := make(chan error, 1)
	go func() {
		c := tls.Client(client, &tls.Config{ServerName: "Echo.ns1.svc.cluster.local", RootCAs: pool, NextProtos: []string{"istio", "h2"}})
		if err := c.Handshake(); err != nil {
			clientErr <- err
			return
		}
		_, err := c.Write([]byte("ping"))
		clientErr <- err
	}()

	hello, conn, err := Inspect(front, 0)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if !hello.TLS || hello.ServerName != "echo.ns1.svc.cluster.local" || !slices.Equal(hello.ALPN, []string{"istio", "h2"}) {
		t.Fatalf("hello = %+v", hello)
	}
	if hello.TransportProtocol() != "tls" {
		t.Fatalf("transport protocol %q", hello.TransportProtocol())
	}
	go io.Copy(upClient, conn)
	go io.Copy(conn, upClient)

	var seenSNI string
	srv := tls.Server(upServer, &tls.Config{
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"istio"},
		GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) { seenSNI = chi.ServerName; return nil, nil },
	})
	buf := make([]byte, 4)
	if _, err := io.ReadFull(srv, buf); err != nil {
		t.Fatalf("backend read: %v", err)
	}
	if err := <-clientErr; err != nil {
		t.Fatalf("client: %v", err)
	}
	if string(buf) != "ping" || seenSNI != "Echo.ns1.svc.cluster.local" || srv.ConnectionState().NegotiatedProtocol != "istio" {
		t.Fatalf("backend got %q, sni %q, alpn %q", buf, seenSNI, srv.ConnectionState().NegotiatedProtocol)
	}
}

func TestNotTLS(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr error
		wantTLS bool
	}{
		{name: "http", data: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{name: "handshake record with garbage", data: append([]byte{22, 3, 1, 0, 8}, bytes.Repeat([]byte{0xff}, 8)...), wantErr: ErrMalformed},
		{name: "too large", data: bigHello(), wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, front := tcpPair(t)
			go client.Write(tt.data)
			hello, conn, err := Inspect(front, 0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if hello.TLS != tt.wantTLS || hello.TransportProtocol() != "raw_buffer" {
				t.Fatalf("hello = %+v", hello)
			}
			if tt.wantErr != nil {
				return
			}
			client.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(conn)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("replayed %q (%v), want %q", got, err, tt.data)
			}
		})
	}
}

// bigHello is a ClientHello of 30000 bytes split over two records.
func bigHello() []byte {
	body := append([]byte{1, 0, 0x75, 0x30}, bytes.Repeat([]byte{1}, 30000)...)
	var out []byte
	for len(body) > 0 {
		n := min(len(body), 16000)
		out = append(out, 22, 3, 1, byte(n>>8), byte(n))
		out = append(out, body[:n]...)
		body = body[n:]
	}
	return out
}

func TestTimeout(t *testing.T) {
	_, front := tcpPair(t)
	front.SetReadDeadline(time.Now())
	_, _, err := Inspect(front, 0)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}
