package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/identity"
)

func TestSecureXDSConfig(t *testing.T) {
	c := DefaultConfig()
	if c.secureAddress() != "" {
		t.Errorf("file mode serves a secure port by default: %q", c.secureAddress())
	}
	c.InCluster = true
	if got := c.secureAddress(); got != DefaultSecureXDSAddress {
		t.Errorf("in-cluster secure address %q, want %s", got, DefaultSecureXDSAddress)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("in-cluster defaults: %v", err)
	}
	c.SecureXDSAddress = "off"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "secure-xds-address: in-cluster mode needs the secure xDS port") {
		t.Errorf("in-cluster without the secure port: %v", err)
	}
	if got := DefaultConfig().xdsDNSNames(); strings.Join(got, ",") != "meshgate.istio-system.svc,meshgate.istio-system.svc.cluster.local" {
		t.Errorf("default DNS names %v", got)
	}
}

// TestSecureXDSPort: a daemon with the secure port refuses callers without
// credentials, serves one with an SVID of the mesh (ADS and the CA), and
// keeps the loopback plaintext port.
func TestSecureXDSPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := testConfig(t)
	cfg.SecureXDSAddress = "127.0.0.1:0"
	logs := &logtest.Buffer{}
	src := chanSource{ch: make(chan func(discovery.Publish))}
	d, err := New(cfg, NewLogger(cfg, logs), src)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	src.ch <- func(p discovery.Publish) { p(echo(1), nil, nil) }

	pool := x509.NewCertPool()
	for _, r := range d.id.CA().Roots() {
		pool.AddCert(r)
	}
	dial := func(cert *tls.Certificate) *grpc.ClientConn {
		tc := &tls.Config{RootCAs: pool, ServerName: "meshgate.istio-system.svc", MinVersion: tls.VersionTLS12}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		cc, err := grpc.NewClient(d.SecureXDSAddr(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		return cc
	}
	node := &corev3.Node{Id: "router~10.1.0.99~ingress-0.istio-system~istio-system.svc.cluster.local"}
	ask := func(cc *grpc.ClientConn) (*discoveryv3.DiscoveryResponse, error) {
		st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
		if err != nil {
			return nil, err
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.SecretType, ResourceNames: []string{"default"}}); err != nil && err != io.EOF {
			return nil, err
		}
		return st.Recv()
	}
	if _, err := ask(dial(nil)); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("secure port without credentials: %v, want Unauthenticated", err)
	}
	svid, err := d.id.CA().IssueX509SVID(spiffeid.RequireFromPath(d.id.TrustDomain(), "/ns/istio-system/sa/ingress"), identity.SVIDOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cert := &tls.Certificate{PrivateKey: svid.PrivateKey}
	for _, c := range svid.Certificates {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	cc := dial(cert)
	resp, err := ask(cc)
	if err != nil || len(resp.GetResources()) != 1 {
		t.Fatalf("secure ADS with an SVID: %v %v", resp, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("spiffe://cluster.local/ns/istio-system/sa/ingress")
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	if _, err := pb.NewIstioCertificateServiceClient(cc).CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: string(csr)}); err != nil {
		t.Fatalf("CreateCertificate with an SVID: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "plaintext xDS is served off loopback") {
		t.Error("warned about a loopback plaintext port")
	}
}

// A non-loopback plaintext port with insecure-xds starts, with a warning.
func TestInsecureXDSWarns(t *testing.T) {
	cfg := testConfig(t)
	cfg.XDSAddress, cfg.InsecureXDS = "0.0.0.0:0", true
	logs := &logtest.Buffer{}
	src := chanSource{ch: make(chan func(discovery.Publish))}
	d, err := New(cfg, NewLogger(cfg, logs), src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	src.ch <- func(p discovery.Publish) { p(echo(1), nil, nil) } // Run is past its start log
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "plaintext xDS is served off loopback") {
		t.Errorf("no warning in:\n%s", logs.String())
	}
}

type bearerToken string

func (b bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b), "ClusterID": "Kubernetes"}, nil
}
func (bearerToken) RequireTransportSecurity() bool { return true }
