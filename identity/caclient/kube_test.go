//go:build integration

package caclient_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/identity/caclient"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/server/authn"
	"github.com/meshgate/meshgate/xds/server/caservice"
)

var td = spiffeid.RequireTrustDomainFromString("cluster.local")

const caHost = "meshgate.istio-system.svc"

// world is a kube-apiserver (TokenRequest/TokenReview) and the daemon's
// secure port stack (authn + caservice) over TLS on 127.0.0.1.
type world struct {
	t     *testing.T
	ctx   context.Context
	admin kubernetes.Interface
	ca    *identity.CA
	reg   *prometheus.Registry
	addr  string
}

func newWorld(t *testing.T, cfg caservice.Config) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	kc := kubetest.New(t, kubetest.Options{SkipIstioCRDs: true})
	admin, err := kubernetes.NewForConfig(kc.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, admin: admin, reg: prometheus.NewRegistry()}
	for _, sa := range [][2]string{{"gw-ns", "ingress"}, {"prod", "db"}} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sa[0]}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CoreV1().ServiceAccounts(sa[0]).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa[1]}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if w.ca, err = identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	acfg := authn.DefaultConfig("cluster.local")
	acfg.ClusterID = "Kubernetes" // as the daemon's: tokens sent as another cluster's are refused
	a, err := authn.New(acfg, authn.Options{Bundles: identity.NewBundleSet(w.ca.Bundle()), Kube: admin, Logger: log, Registerer: w.reg})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := authn.NewServingCert(w.ca, spiffeid.RequireFromPath(td, "/ns/istio-system/sa/meshgate"), []string{caHost}, time.Hour, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := caservice.New(w.ca, cfg, caservice.Options{Logger: log, Registerer: w.reg})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(a.ServerOptions(authn.ServerTLSConfig(sc))...)
	svc.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = lis.Addr().String()
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return w
}

// tokenFile mints a token (audience istio-ca) into a file, as kubelet projects it.
func (w *world) tokenFile(path, ns, sa string) string {
	w.t.Helper()
	exp := int64(600)
	tr, err := w.admin.CoreV1().ServiceAccounts(ns).CreateToken(w.ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(tr.Status.Token), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return path
}

func (w *world) client(cfg caclient.Config) *caclient.Client {
	w.t.Helper()
	cfg.Address, cfg.ServerName, cfg.Roots = w.addr, caHost, w.ca.Roots()
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := caclient.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (w *world) accepted(method string) float64 {
	return metrictest.Sum(w.t, w.reg, "meshgate_xds_authn_total", map[string]string{"method": method, "result": "accepted"})
}

// A projected token gets the first SVID; renewals at half life use that
// SVID as client certificate; a new key each time; subscribers see each.
func TestTokenThenRenewalWithSVID(t *testing.T) {
	w := newWorld(t, caservice.Config{DefaultTTL: 4 * time.Second, MaxTTL: 4 * time.Second})
	me := spiffeid.RequireFromPath(td, "/ns/gw-ns/sa/ingress")
	c := w.client(caclient.Config{TokenFile: w.tokenFile(filepath.Join(t.TempDir(), "token"), "gw-ns", "ingress"), Expect: me})
	renewed := make(chan *x509svid.SVID, 4)
	c.Subscribe(func(s *x509svid.SVID) { renewed <- s })
	ctx, stop := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-c.Ready()
	first := c.Current()
	if first.ID != me || len(first.Certificates) != 1 {
		t.Fatalf("first SVID %s with %d certificates, want %s and no root", first.ID, len(first.Certificates), me)
	}
	if _, _, err := x509svid.Verify(first.Certificates, w.ca.Bundle()); err != nil {
		t.Fatal(err)
	}
	if n := w.accepted("kube-token"); n != 1 {
		t.Fatalf("token acceptances %v, want 1", n)
	}
	var second *x509svid.SVID
	select {
	case second = <-renewed: // the first Fetch is announced too
		if second == first {
			second = <-renewed
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no renewal within 10s of a 4s SVID")
	}
	if second.ID != me || second.Certificates[0].SerialNumber.Cmp(first.Certificates[0].SerialNumber) == 0 {
		t.Fatal("renewal returned the same certificate")
	}
	if second.PrivateKey == first.PrivateKey {
		t.Fatal("renewal kept the key")
	}
	if n := w.accepted("x509-svid"); n < 1 {
		t.Fatalf("renewal did not use the SVID (x509-svid acceptances %v)", n)
	}
	if leaf := second.Certificates[0]; leaf.NotAfter.Before(first.Certificates[0].NotAfter) {
		t.Fatal("renewed SVID expires before the first")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Several addresses (replicas of the daemon): the first refuses
// connections (a killed replica), the SVID comes from the second.
func TestNextAddressWhenOneIsDown(t *testing.T) {
	w := newWorld(t, caservice.Config{DefaultTTL: time.Hour, MaxTTL: time.Hour})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	me := spiffeid.RequireFromPath(td, "/ns/gw-ns/sa/ingress")
	c, err := caclient.New(caclient.Config{Address: dead + "," + w.addr, ServerName: caHost, Roots: w.ca.Roots(),
		TokenFile: w.tokenFile(filepath.Join(t.TempDir(), "token"), "gw-ns", "ingress"), Expect: me, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	svid, err := c.Fetch(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if svid.ID != me {
		t.Fatalf("SVID %s, want %s", svid.ID, me)
	}
}

// The token file is re-read at every call (kubelet rotates it); a token of
// another identity than Expect is refused by the client; no token and no
// SVID is refused by the daemon.
func TestTokenRotationAndRefusals(t *testing.T) {
	w := newWorld(t, caservice.DefaultConfig())
	dir := t.TempDir()
	tok := w.tokenFile(filepath.Join(dir, "token"), "gw-ns", "ingress")
	me := spiffeid.RequireFromPath(td, "/ns/gw-ns/sa/ingress")
	c := w.client(caclient.Config{TokenFile: tok, Expect: me})
	if _, err := c.Fetch(w.ctx); err != nil {
		t.Fatal(err)
	}
	// Rotated to a token of another identity: the daemon issues for that
	// identity, which the client refuses (Expect); its SVID stays current.
	// A fresh client: the first one would renew with its valid SVID.
	w.tokenFile(tok, "prod", "db")
	other := w.client(caclient.Config{TokenFile: tok, Expect: me})
	if _, err := other.Fetch(w.ctx); err == nil || !strings.Contains(err.Error(), "issued for spiffe://cluster.local/ns/prod/sa/db, want "+me.String()) {
		t.Fatalf("token of another identity: %v", err)
	}
	if c.Current().ID != me {
		t.Fatal("current SVID replaced")
	}
	anyID := w.client(caclient.Config{TokenFile: tok})
	if s, err := anyID.Fetch(w.ctx); err != nil || s.ID.String() != "spiffe://cluster.local/ns/prod/sa/db" {
		t.Fatalf("rotated token not re-read: %v %v", s, err)
	}
	foreignCluster := w.client(caclient.Config{TokenFile: tok, ClusterID: "cluster-9"})
	if _, err := foreignCluster.Fetch(w.ctx); err == nil || !strings.Contains(err.Error(), `token of cluster "cluster-9"`) {
		t.Fatalf("a token sent as another cluster's: %v", err)
	}
	none := w.client(caclient.Config{})
	if _, err := none.Fetch(w.ctx); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Fatalf("no credentials: %v", err)
	}
	if err := os.WriteFile(tok, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := anyID.Fetch(w.ctx); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty token file: %v", err)
	}
	foreign, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := caclient.New(caclient.Config{Address: w.addr, ServerName: caHost, Roots: foreign.Roots(), TokenFile: w.tokenFile(tok, "gw-ns", "ingress"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Fetch(w.ctx); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("daemon certificate from another root: %v", err)
	}
}
