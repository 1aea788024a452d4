package sds

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/translate"
)

func TestProvider(t *testing.T) {
	cfg := Config{TrustDomain: "cluster.local", CADir: t.TempDir()}
	opts := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry()}
	p, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := p.IdentitySecrets(server.Node{Proxy: translate.Proxy{Namespace: "istio-system"}, ServiceAccount: "istio-ingressgateway"})
	if err != nil || len(secrets) != 2 || secrets[0].Name != "default" || secrets[1].Name != "ROOTCA" {
		t.Fatalf("secrets %v, err %v", secrets, err)
	}
	tc := secrets[0].GetTlsCertificate()
	svid, err := x509svid.Parse(tc.GetCertificateChain().GetInlineBytes(), tc.GetPrivateKey().GetInlineBytes())
	if err != nil {
		t.Fatal(err)
	}
	if svid.ID.String() != "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway" {
		t.Errorf("SVID %v", svid.ID)
	}
	roots, err := identity.ParseCertificatesPEM(secrets[1].GetValidationContext().GetTrustedCa().GetInlineBytes())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, c := range svid.Certificates[1:] {
		inter.AddCert(c)
	}
	if _, err := svid.Certificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("SVID does not verify against ROOTCA: %v", err)
	}

	// The CA persists: a second start has the same roots.
	opts.Registerer = prometheus.NewRegistry()
	p2, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.RootsPEM(), p2.RootsPEM()) {
		t.Error("ca-dir did not persist the CA")
	}

	// ROOTCA takes the roots other clusters publish (federation), once.
	other, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: spiffeid.RequireTrustDomainFromString("east.example")}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	remote := &model.ClusterState{ID: "east", TrustDomain: "east.example", TrustBundle: identity.EncodeBundlePEM(other.Bundle())}
	if !p.SetBundles([]*model.ClusterState{remote}) {
		t.Fatal("a new trust bundle did not change ROOTCA")
	}
	if p.SetBundles([]*model.ClusterState{remote}) {
		t.Error("the same bundles reported a change")
	}
	secrets, _ = p.IdentitySecrets(server.Node{Proxy: translate.Proxy{Namespace: "istio-system"}})
	if got, _ := identity.ParseCertificatesPEM(secrets[1].GetValidationContext().GetTrustedCa().GetInlineBytes()); len(got) != 2 {
		t.Errorf("ROOTCA has %d roots, want 2 (local + east)", len(got))
	}
}
