package caservice

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	pb "istio.io/api/security/v1alpha1"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/server/authn"
)

var td = spiffeid.RequireTrustDomainFromString("cluster.local")

type harness struct {
	t    *testing.T
	ca   *identity.CA
	reg  *prometheus.Registry
	addr string
}

// newHarness serves the CA service on 127.0.0.1 over TLS behind authn (the
// secure port's stack). Callers here prove themselves with SVIDs (the
// renewal path); the kube tests of authn use real tokens.
func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ca: ca, reg: prometheus.NewRegistry()}
	log := slog.New(slog.DiscardHandler)
	a, err := authn.New(authn.DefaultConfig("cluster.local"), authn.Options{Bundles: identity.NewBundleSet(ca.Bundle()), Logger: log, Registerer: h.reg})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := authn.NewServingCert(ca, spiffeid.RequireFromPath(td, "/ns/istio-system/sa/meshgate"), []string{"meshgate.istio-system.svc"}, time.Hour, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(ca, cfg, Options{Logger: log, Registerer: h.reg})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(a.ServerOptions(authn.ServerTLSConfig(sc))...)
	svc.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = lis.Addr().String()
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return h
}

// client dials like pilot-agent: TLS to the CA's DNS name with the mesh
// root, its current SVID as client certificate (nil: none).
func (h *harness) client(svid *x509svid.SVID) pb.IstioCertificateServiceClient {
	h.t.Helper()
	pool := x509.NewCertPool()
	for _, r := range h.ca.Roots() {
		pool.AddCert(r)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "meshgate.istio-system.svc", MinVersion: tls.VersionTLS12}
	if svid != nil {
		c := tls.Certificate{PrivateKey: svid.PrivateKey}
		for _, x := range svid.Certificates {
			c.Certificate = append(c.Certificate, x.Raw)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	cc, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = cc.Close() })
	return pb.NewIstioCertificateServiceClient(cc)
}

func (h *harness) svid(path string) *x509svid.SVID {
	s, err := h.ca.IssueX509SVID(spiffeid.RequireFromPath(td, path), identity.SVIDOptions{TTL: time.Hour})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// CSR builds a CSR the way Istio's pkg/security GenCSR does: the SPIFFE ID
// as URI SAN, organization set.
func CSR(t *testing.T, uris []string, dns ...string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{DNSNames: dns}
	tmpl.Subject.Organization = []string{"cluster.local"}
	for _, u := range uris {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

func call(c pb.IstioCertificateServiceClient, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "ClusterID", "Kubernetes")
	return c.CreateCertificate(ctx, req)
}

func parseChain(t *testing.T, chain []string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for i, p := range chain {
		certs, err := identity.ParseCertificatesPEM([]byte(p))
		if err != nil || len(certs) != 1 {
			t.Fatalf("cert_chain[%d]: %v (%d certificates)", i, err, len(certs))
		}
		out = append(out, certs[0])
	}
	return out
}

func TestRenewalWithClientCertificate(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	const me = "spiffe://cluster.local/ns/gw-ns/sa/ingress"
	csr, key := CSR(t, []string{me})
	resp, err := call(h.client(h.svid("/ns/gw-ns/sa/ingress")), &pb.IstioCertificateRequest{Csr: csr, ValidityDuration: 3600})
	if err != nil {
		t.Fatal(err)
	}
	certs := parseChain(t, resp.CertChain)
	if len(certs) != 2 || !certs[1].Equal(h.ca.Roots()[0]) {
		t.Fatalf("chain of %d, last not the root: want [leaf, root] as Istio sends it", len(certs))
	}
	id, _, err := x509svid.Verify(certs[:1], h.ca.Bundle())
	if err != nil || id.String() != me {
		t.Fatalf("issued %v (%v), want %s", id, err, me)
	}
	if !certs[0].PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatal("the certificate does not carry the CSR's key")
	}
	if got := certs[0].NotAfter.Sub(certs[0].NotBefore); got != time.Hour+identity.DefaultBackdate {
		t.Fatalf("validity %v, want the requested 1h", got)
	}
	if n := metrictest.Sum(t, h.reg, "meshgate_ca_requests_total", map[string]string{"result": "issued"}); n != 1 {
		t.Fatalf("issued = %v", n)
	}
}

func TestTTLPolicy(t *testing.T) {
	h := newHarness(t, Config{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour})
	c := h.client(h.svid("/ns/a/sa/b"))
	for _, tc := range []struct {
		asked int64
		want  time.Duration
	}{{0, time.Hour}, {1800, 30 * time.Minute}, {90 * 24 * 3600, 2 * time.Hour}} {
		csr, _ := CSR(t, nil)
		resp, err := call(c, &pb.IstioCertificateRequest{Csr: csr, ValidityDuration: tc.asked})
		if err != nil {
			t.Fatal(err)
		}
		leaf := parseChain(t, resp.CertChain)[0]
		if got := leaf.NotAfter.Sub(leaf.NotBefore) - identity.DefaultBackdate; got != tc.want {
			t.Errorf("asked %ds: got %v, want %v", tc.asked, got, tc.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	h := newHarness(t, DefaultConfig())
	c := h.client(h.svid("/ns/gw-ns/sa/ingress"))
	good, _ := CSR(t, []string{"spiffe://cluster.local/ns/gw-ns/sa/ingress"})
	other, _ := CSR(t, []string{"spiffe://cluster.local/ns/istio-system/sa/meshgate"})
	both, _ := CSR(t, []string{"spiffe://cluster.local/ns/gw-ns/sa/ingress", "spiffe://cluster.local/ns/prod/sa/db"})
	dns, _ := CSR(t, nil, "meshgate.istio-system.svc")
	imp, err := structpb.NewStruct(map[string]any{"ImpersonatedIdentity": "spiffe://cluster.local/ns/prod/sa/db"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		c      pb.IstioCertificateServiceClient
		req    *pb.IstioCertificateRequest
		code   codes.Code
		reason string
		msg    string
	}{
		{"no credentials", h.client(nil), &pb.IstioCertificateRequest{Csr: good}, codes.Unauthenticated, "", "no_credentials"},
		{"CSR for another identity", c, &pb.IstioCertificateRequest{Csr: other}, codes.PermissionDenied, "other_identity", "sa/meshgate"},
		{"CSR adding another identity", c, &pb.IstioCertificateRequest{Csr: both}, codes.PermissionDenied, "other_identity", "ns/prod/sa/db"},
		{"CSR with a DNS name", c, &pb.IstioCertificateRequest{Csr: dns}, codes.PermissionDenied, "other_identity", "meshgate.istio-system.svc"},
		{"impersonation", c, &pb.IstioCertificateRequest{Csr: good, Metadata: imp}, codes.PermissionDenied, "impersonation", "ImpersonatedIdentity"},
		{"not a CSR", c, &pb.IstioCertificateRequest{Csr: "hello"}, codes.InvalidArgument, "bad_csr", "no PEM block"},
		{"negative TTL", c, &pb.IstioCertificateRequest{Csr: good, ValidityDuration: -1}, codes.InvalidArgument, "bad_ttl", "validity_duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(tc.c, tc.req)
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.code, tc.msg)
			}
			if tc.reason == "" {
				return
			}
			if n := metrictest.Sum(t, h.reg, "meshgate_ca_requests_total", map[string]string{"result": "refused", "reason": tc.reason}); n < 1 {
				t.Fatalf("refused{%s} not counted", tc.reason)
			}
		})
	}
	if n := metrictest.Sum(t, h.reg, "meshgate_ca_requests_total", map[string]string{"result": "issued"}); n != 0 {
		t.Fatalf("issued = %v, want 0", n)
	}
}

// TestWithoutAuthn: registered on a server without authn's interceptors,
// the service refuses every call rather than trusting the network.
func TestWithoutAuthn(t *testing.T) {
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(ca, DefaultConfig(), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := CSR(t, nil)
	_, err = svc.CreateCertificate(context.Background(), &pb.IstioCertificateRequest{Csr: csr})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v, want Unauthenticated", err)
	}
}
