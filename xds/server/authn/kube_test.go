//go:build integration

package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	pb "istio.io/api/security/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/server/authn"
)

func waitListener(ctx context.Context, c *adstest.Client, name string) (adstest.State, error) {
	return c.WaitFor(ctx, func(st adstest.State) bool {
		_, ok := st.Resources[resource.ListenerType][name]
		return ok && len(st.Resources[resource.SecretType]) > 0
	})
}

// TestSecurePortKube runs every legitimate path and every attack of issue
// 12 against a real kube-apiserver (TokenRequest, TokenReview) and a real
// TLS gRPC server with the xDS server and the CA service.
func TestSecurePortKube(t *testing.T) {
	cfg := authn.DefaultConfig("cluster.local")
	cfg.ClusterID = "Kubernetes"
	s := newSecure(t, cfg, true)
	s.pod("gw-ns", "gw-1", "ingress")
	gwToken := s.token("gw-ns", "ingress", []string{"istio-ca"}, "gw-1")

	t.Run("valid token gets config, own SVID, own namespace's Secret only", func(t *testing.T) {
		cc := s.dial(gwToken, nil)
		c, err := adstest.Dial(s.ctx, cc, gatewayNode("gw-1", "gw-ns", nil), false)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st, err := waitListener(s.ctx, c, "0.0.0.0_443")
		if err != nil {
			t.Fatal(err)
		}
		secrets := st.Resources[resource.SecretType]
		gw, ok := secrets["kubernetes://gw-cert"].(*tlsv3.Secret)
		if !ok || string(gw.GetTlsCertificate().GetPrivateKey().GetInlineBytes()) != "gw-key" {
			t.Fatalf("kubernetes://gw-cert of its own namespace: %v", secrets["kubernetes://gw-cert"])
		}
		// The listener names prod's credential too (prod's Gateway selects
		// the same labels), but that Secret lives in prod: never sent.
		if _, ok := secrets["kubernetes://prod-cert"]; ok {
			t.Fatal("a gw-ns gateway received prod's credentialName Secret")
		}
		got, err := s.fetchSecrets(cc, gatewayNode("gw-1", "gw-ns", nil), "default", "ROOTCA", "kubernetes://prod-cert")
		if err != nil {
			t.Fatal(err)
		}
		svid := svidOf(t, got["default"])
		if want := "spiffe://cluster.local/ns/gw-ns/sa/ingress"; svid.ID.String() != want {
			t.Fatalf("SDS default is %s, want %s", svid.ID, want)
		}
		if _, ok := got["ROOTCA"]; !ok || got["kubernetes://prod-cert"] != nil {
			t.Fatalf("secrets by name: %v", keys(got))
		}
		if p, ok := s.xds.Proxy("router~10.1.0.7~gw-1.gw-ns~gw-ns.svc.cluster.local"); !ok || p.Namespace != "gw-ns" {
			t.Fatalf("proxy status: %+v %v", p, ok)
		}
	})

	t.Run("SERVICE_ACCOUNT omitted: the SVID is the token's, not default", func(t *testing.T) {
		got, err := s.fetchSecrets(s.dial(gwToken, nil), gatewayNode("gw-1b", "gw-ns", map[string]any{"SERVICE_ACCOUNT": ""}), "default")
		if err != nil {
			t.Fatal(err)
		}
		if id := svidOf(t, got["default"]).ID.String(); id != "spiffe://cluster.local/ns/gw-ns/sa/ingress" {
			t.Fatalf("SDS default is %s", id)
		}
	})

	// Each refusal: a clear status and a counted reason.
	foreignCA, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	foreignSVID, err := foreignCA.IssueX509SVID(mustID("/ns/gw-ns/sa/ingress"), identity.SVIDOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	dbToken := s.token("prod", "db", []string{"istio-ca"}, "")
	otherAud := s.token("gw-ns", "ingress", []string{"https://vault.example"}, "")
	apiAud := s.token("gw-ns", "ingress", nil, "")
	realKey := clusterSigningKey(t, s.kube)
	expired := resign(t, gwToken, realKey, func(c map[string]any) {
		past := time.Now().Add(-time.Hour).Unix()
		c["iat"], c["nbf"], c["exp"] = past-600, past-600, past
	})
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := resign(t, dbToken, otherKey, func(c map[string]any) {})
	gwNode := gatewayNode("gw-1", "gw-ns", nil)
	cases := []struct {
		name   string
		cc     *grpc.ClientConn
		node   *corev3.Node
		code   codes.Code
		reason string
		msg    string
	}{
		{"no credentials", s.dial("", nil), nil, codes.Unauthenticated, authn.ReasonNoCredentials, "no client certificate"},
		{"expired token (real signature)", s.dial(expired, nil), nil, codes.Unauthenticated, authn.ReasonTokenExpired, "expired at"},
		{"token signed by another issuer", s.dial(forged, nil), nil, codes.Unauthenticated, authn.ReasonTokenInvalid, "TokenReview"},
		{"token for another audience", s.dial(otherAud, nil), nil, codes.Unauthenticated, authn.ReasonWrongAudience, "istio-ca"},
		{"token for the API server's audience", s.dial(apiAud, nil), nil, codes.Unauthenticated, authn.ReasonWrongAudience, "istio-ca"},
		{"client certificate of a foreign CA", s.dial("", foreignSVID), nil, codes.Unauthenticated, authn.ReasonBadCertificate, "client certificate"},
		{"token of prod/db claiming gw-ns in the node id", s.dial(dbToken, nil), gwNode, codes.PermissionDenied, authn.ReasonNodeMismatch, `names namespace "gw-ns"`},
		{"gw-ns token claiming NAMESPACE=prod (to read prod's Secret)", s.dial(gwToken, nil),
			gatewayNode("gw-1", "gw-ns", map[string]any{"NAMESPACE": "prod"}), codes.PermissionDenied, authn.ReasonNodeMismatch, "metadata NAMESPACE"},
		{"gw-ns token claiming another service account", s.dial(gwToken, nil),
			gatewayNode("gw-1", "gw-ns", map[string]any{"SERVICE_ACCOUNT": "meshgate"}), codes.PermissionDenied, authn.ReasonNodeMismatch, "SERVICE_ACCOUNT"},
	}
	for _, tc := range cases {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			before := s.refused(tc.reason)
			n := gwNode
			if tc.node != nil {
				n = tc.node
			}
			_, err := s.fetchSecrets(tc.cc, n, "default", "kubernetes://prod-cert")
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.code, tc.msg)
			}
			if got := s.refused(tc.reason); got != before+1 {
				t.Fatalf("refused{%s} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
	t.Run("the API server itself refuses the replayed expired token", func(t *testing.T) {
		st, err := authn.KubeReviewer{Client: s.admin}.Review(s.ctx, expired, []string{"istio-ca"})
		if err != nil || st.Authenticated {
			t.Fatalf("TokenReview of the expired token: %+v %v", st, err)
		}
	})
	for _, tok := range []string{gwToken, dbToken, expired, forged, otherAud} {
		if strings.Contains(s.logs.String(), tok) {
			t.Fatal("a token appears in the logs")
		}
	}

	t.Run("CreateCertificate the way pilot-agent calls it", func(t *testing.T) {
		c := pb.NewIstioCertificateServiceClient(s.dial(gwToken, nil))
		ctx := metadata.AppendToOutgoingContext(s.ctx, "ClusterID", "Kubernetes")
		csr, key := newCSR(t, "spiffe://cluster.local/ns/gw-ns/sa/ingress")
		meta, err := structpb.NewStruct(map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: csr, ValidityDuration: 86400, Metadata: meta})
		if err != nil {
			t.Fatal(err)
		}
		certs := chain(t, resp.CertChain)
		id, _, err := x509svid.Verify(certs[:len(certs)-1], s.ca.Bundle())
		if err != nil || id.String() != "spiffe://cluster.local/ns/gw-ns/sa/ingress" {
			t.Fatalf("issued %v: %v", id, err)
		}
		if !certs[0].PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
			t.Fatal("certificate does not carry the CSR's key")
		}
		// Renewal: the new SVID as client certificate, no token.
		svid := &x509svid.SVID{ID: id, Certificates: certs[:len(certs)-1], PrivateKey: key}
		renew := pb.NewIstioCertificateServiceClient(s.dial("", svid))
		csr2, _ := newCSR(t, "spiffe://cluster.local/ns/gw-ns/sa/ingress")
		if _, err := renew.CreateCertificate(s.ctx, &pb.IstioCertificateRequest{Csr: csr2}); err != nil {
			t.Fatalf("renewal with the SVID: %v", err)
		}
		// A CSR for another identity is refused.
		other, _ := newCSR(t, "spiffe://cluster.local/ns/prod/sa/db")
		_, err = c.CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: other})
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "ns/prod/sa/db") {
			t.Fatalf("CSR for prod/db with gw-ns's token: %v, want PermissionDenied", err)
		}
		if n := metrictest.Sum(t, s.reg, "meshgate_ca_requests_total", map[string]string{"result": "refused", "reason": "other_identity"}); n != 1 {
			t.Fatalf("refused{other_identity} = %v", n)
		}
	})

	t.Run("token rotation and serving-certificate rotation keep streams working", func(t *testing.T) {
		s.pod("gw-ns", "gw-2", "ingress")
		tok1 := s.token("gw-ns", "ingress", []string{"istio-ca"}, "gw-2")
		old, err := adstest.Dial(s.ctx, s.dial(tok1, nil), gatewayNode("gw-2", "gw-ns", nil), false)
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		st, err := waitListener(s.ctx, old, "0.0.0.0_443")
		if err != nil {
			t.Fatal(err)
		}
		v1 := st.Versions[resource.ListenerType]
		// A new token (the kubelet rotates the projected token) and a new
		// serving certificate (half its lifetime passed).
		tok2 := s.token("gw-ns", "ingress", []string{"istio-ca"}, "gw-2")
		s.clk.Step(31 * time.Minute)
		fresh, err := adstest.Dial(s.ctx, s.dial(tok2, nil), gatewayNode("gw-3", "gw-ns", nil), false)
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		if _, err := waitListener(s.ctx, fresh, "0.0.0.0_443"); err != nil {
			t.Fatalf("new connection after rotation: %v", err)
		}
		// The old stream still gets pushes: change the configuration.
		mesh := loadMesh(t)
		for i := range mesh.Clusters[0].Gateways {
			g := &mesh.Clusters[0].Gateways[i]
			if g.Namespace == "gw-ns" {
				g.Servers[0].Hosts = []string{"gw2.example.com"}
			}
		}
		s.xds.Update(mesh)
		if _, err := old.WaitFor(s.ctx, func(st adstest.State) bool {
			return st.Versions[resource.ListenerType] != v1 && hasSNI(st, "gw2.example.com")
		}); err != nil {
			t.Fatalf("old stream after rotations: %v", err)
		}
	})

	t.Run("a deleted pod's token stops working; its open stream is not cut", func(t *testing.T) {
		s.pod("gw-ns", "gw-4", "ingress")
		tok := s.token("gw-ns", "ingress", []string{"istio-ca"}, "gw-4")
		open, err := adstest.Dial(s.ctx, s.dial(tok, nil), gatewayNode("gw-4", "gw-ns", nil), false)
		if err != nil {
			t.Fatal(err)
		}
		defer open.Close()
		if _, err := waitListener(s.ctx, open, "0.0.0.0_443"); err != nil {
			t.Fatal(err)
		}
		if err := s.admin.CoreV1().Pods("gw-ns").Delete(s.ctx, "gw-4", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		before := s.refused(authn.ReasonPodGone)
		_, err = s.fetchSecrets(s.dial(tok, nil), gatewayNode("gw-4", "gw-ns", nil), "default")
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "no longer exists") {
			t.Fatalf("token of a deleted pod (review cached): %v", err)
		}
		if s.refused(authn.ReasonPodGone) != before+1 {
			t.Fatal("pod_gone not counted")
		}
		// The stream opened before keeps its configuration and pushes (the
		// pod is going away anyway; Istio does not cut it either).
		mesh := loadMesh(t)
		for i := range mesh.Clusters[0].Gateways {
			if g := &mesh.Clusters[0].Gateways[i]; g.Namespace == "gw-ns" {
				g.Servers[0].Hosts = []string{"gw4.example.com"}
			}
		}
		s.xds.Update(mesh)
		if _, err := open.WaitFor(s.ctx, func(st adstest.State) bool { return hasSNI(st, "gw4.example.com") }); err != nil {
			t.Fatalf("open stream after the pod's deletion: %v", err)
		}
	})
}

func svidOf(t *testing.T, m any) *x509svid.SVID {
	t.Helper()
	sec, ok := m.(*tlsv3.Secret)
	if !ok || sec.GetTlsCertificate() == nil {
		t.Fatalf("not a certificate secret: %v", m)
	}
	certs, err := identity.ParseCertificatesPEM(sec.GetTlsCertificate().GetCertificateChain().GetInlineBytes())
	if err != nil {
		t.Fatal(err)
	}
	id, err := x509svid.IDFromCert(certs[0])
	if err != nil {
		t.Fatal(err)
	}
	return &x509svid.SVID{ID: id, Certificates: certs}
}

func hasSNI(st adstest.State, host string) bool {
	l, ok := st.Resources[resource.ListenerType]["0.0.0.0_443"].(*listenerv3.Listener)
	if !ok {
		return false
	}
	for _, fc := range l.GetFilterChains() {
		for _, n := range fc.GetFilterChainMatch().GetServerNames() {
			if n == host {
				return true
			}
		}
	}
	return false
}

func newCSR(t testing.TB, uri string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{URIs: []*url.URL{u}}
	tmpl.Subject.Organization = []string{"cluster.local"}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

func chain(t testing.TB, pems []string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for _, p := range pems {
		c, err := identity.ParseCertificatesPEM([]byte(p))
		if err != nil || len(c) != 1 {
			t.Fatalf("cert_chain entry: %v", err)
		}
		out = append(out, c[0])
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mustID(path string) spiffeid.ID { return spiffeid.RequireFromPath(td, path) }

func loadMesh(t testing.TB) *model.MeshState {
	t.Helper()
	mesh, objErrs, err := file.LoadMesh(file.Config{Paths: []string{"testdata/gateways.yaml"}})
	if err != nil || len(objErrs) > 0 {
		t.Fatalf("testdata: %v %v", err, objErrs)
	}
	return mesh
}
