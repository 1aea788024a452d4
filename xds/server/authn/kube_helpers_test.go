//go:build integration

package authn_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/structpb"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/server/authn"
	"github.com/meshgate/meshgate/xds/server/caservice"
)

const caHost = "meshgate.istio-system.svc"

var td = spiffeid.RequireTrustDomainFromString("cluster.local")

// sds serves "default" (the node's SVID) and "ROOTCA" like the daemon's
// identity provider.
type sds struct {
	mgr    *identity.Manager
	bundle *x509bundle.Set
}

func (p sds) IdentitySecrets(n server.Node) ([]*tlsv3.Secret, error) {
	sa := n.ServiceAccount
	if sa == "" {
		sa = "default"
	}
	id, err := identity.NewWorkloadID(td.Name(), n.Namespace, sa)
	if err != nil {
		return nil, err
	}
	svid, err := p.mgr.Get(id)
	if err != nil {
		return nil, err
	}
	cert, err := identity.CertificateSecret(svid)
	if err != nil {
		return nil, err
	}
	roots, err := identity.RootCASecret(p.bundle)
	if err != nil {
		return nil, err
	}
	return []*tlsv3.Secret{cert, roots}, nil
}

// secure is the secure xDS port as the daemon will run it: a real
// kube-apiserver for TokenReview, meshgate's CA, the xDS server and the CA
// service on one TLS gRPC server on 127.0.0.1, behind authn.
type secure struct {
	t       testing.TB
	kube    *kubetest.Cluster
	admin   kubernetes.Interface
	ca      *identity.CA
	reg     *prometheus.Registry
	xds     *server.Server
	serving *authn.ServingCert
	clk     *clocktesting.FakeClock // the serving certificate's clock
	health  *health.Server
	addr    string
	logs    *authn.SyncBuffer
	ctx     context.Context
}

// startKube starts a kube-apiserver with the namespaces, service accounts
// and RBAC of the tests, and returns the client the daemon reviews tokens
// with: its own service account with only create tokenreviews and get pods.
func (s *secure) startKube() kubernetes.Interface {
	t := s.t
	t.Helper()
	kc := kubetest.New(t, kubetest.Options{SkipIstioCRDs: true})
	admin, err := kubernetes.NewForConfig(kc.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	s.kube, s.admin = kc, admin
	ctx := s.ctx
	for _, ns := range []string{"istio-system", "gw-ns", "prod"} {
		s.must(admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	}
	for _, sa := range [][2]string{{"istio-system", "meshgate"}, {"gw-ns", "ingress"}, {"prod", "db"}} {
		s.must(admin.CoreV1().ServiceAccounts(sa[0]).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa[1], Namespace: sa[0]}}, metav1.CreateOptions{}))
	}
	// The daemon reviews tokens with its own service account and the least
	// it needs: create TokenReviews, get pods.
	s.must(admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "meshgate-authn"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
		}}, metav1.CreateOptions{}))
	s.must(admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "meshgate-authn"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "meshgate-authn"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "istio-system", Name: "meshgate"}}}, metav1.CreateOptions{}))
	daemonToken := s.token("istio-system", "meshgate", nil, "")
	rc := kc.TokenConfig(daemonToken)
	rc.QPS, rc.Burst = 80, 160 // as the daemon's (client-go's default 5 QPS would be measured instead)
	daemonKube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return daemonKube
}

// newSecure starts the secure port; withKube adds a real kube-apiserver
// whose TokenReview verifies tokens (without it only SVIDs are accepted).
func newSecure(t testing.TB, cfg authn.Config, withKube bool) *secure {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // hang guard only
	t.Cleanup(cancel)
	s := &secure{t: t, reg: prometheus.NewRegistry(), logs: &authn.SyncBuffer{}, ctx: ctx,
		clk: clocktesting.NewFakeClock(time.Now())}
	var daemonKube kubernetes.Interface
	if withKube {
		daemonKube = s.startKube()
	}
	var err error
	if s.ca, err = identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	bundles := identity.NewBundleSet(s.ca.Bundle())
	a, err := authn.New(cfg, authn.Options{Bundles: bundles, Kube: daemonKube, Logger: log, Registerer: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	if s.serving, err = authn.NewServingCert(s.ca, spiffeid.RequireFromPath(td, "/ns/istio-system/sa/meshgate"),
		[]string{caHost, caHost + ".cluster.local"}, time.Hour, s.clk, log); err != nil {
		t.Fatal(err)
	}
	mgr, err := identity.NewManager(s.ca, identity.ManagerConfig{}, identity.ManagerOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if s.xds, err = server.New(server.Config{Holdoff: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
		server.Options{Secrets: sds{mgr: mgr, bundle: bundles}, Logger: log, Registerer: s.reg}); err != nil {
		t.Fatal(err)
	}
	cas, err := caservice.New(s.ca, caservice.DefaultConfig(), caservice.Options{Logger: log, Registerer: s.reg})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(a.ServerOptions(authn.ServerTLSConfig(s.serving))...)
	s.xds.Register(gs)
	cas.Register(gs)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(gs, s.health)
	s.xds.Update(loadMesh(t))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = gs.Serve(lis); done <- struct{}{} }()
	go func() { _ = s.xds.Run(runCtx); done <- struct{}{} }()
	t.Cleanup(func() {
		stop()
		gs.Stop()
		<-done
		<-done
		if t.Failed() {
			t.Logf("daemon logs:\n%s", s.logs.String())
		}
	})
	return s
}

func (s *secure) must(_ any, err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

// token mints a service-account token with TokenRequest, for audiences
// (nil: the API server's own) and bound to pod when set.
func (s *secure) token(ns, sa string, audiences []string, pod string) string {
	s.t.Helper()
	exp := int64(600) // the API server's minimum
	spec := authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &exp}
	if pod != "" {
		p, err := s.admin.CoreV1().Pods(ns).Get(s.ctx, pod, metav1.GetOptions{})
		if err != nil {
			s.t.Fatal(err)
		}
		spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: p.UID}
	}
	tr, err := s.admin.CoreV1().ServiceAccounts(ns).CreateToken(s.ctx, sa, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		s.t.Fatalf("TokenRequest %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// pod creates a pod running as service account sa (never scheduled: there
// is no scheduler; the token binding only needs the object).
func (s *secure) pod(ns, name, sa string) {
	s.t.Helper()
	f := false
	s.must(s.admin.CoreV1().Pods(ns).Create(s.ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{ServiceAccountName: sa, AutomountServiceAccountToken: &f,
			Containers: []corev1.Container{{Name: "proxy", Image: "istio/proxyv2"}}},
	}, metav1.CreateOptions{}))
}

// bearer is pilot-agent's per-RPC credential: the token as
// "authorization: Bearer", and the cluster id.
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token, "ClusterID": "Kubernetes"}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

// dial connects over TLS, verifying the serving certificate for caHost
// against the mesh root, with a token and/or a client certificate.
func (s *secure) dial(token string, svid *x509svid.SVID) *grpc.ClientConn {
	s.t.Helper()
	pool := x509.NewCertPool()
	for _, r := range s.ca.Roots() {
		pool.AddCert(r)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: caHost, MinVersion: tls.VersionTLS12}
	if svid != nil {
		c := tls.Certificate{PrivateKey: svid.PrivateKey}
		for _, x := range svid.Certificates {
			c.Certificate = append(c.Certificate, x.Raw)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token}))
	}
	cc, err := grpc.NewClient(s.addr, opts...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func (s *secure) refused(reason string) float64 {
	return metrictest.Sum(s.t, s.reg, "meshgate_xds_authn_total", map[string]string{"result": "refused", "reason": reason})
}

// gatewayNode is an Istio ingress gateway pod's node; md overrides metadata.
func gatewayNode(pod, ns string, md map[string]any) *corev3.Node {
	fields := map[string]any{"LABELS": map[string]any{"istio": "ingressgateway"}, "CLUSTER_ID": "Kubernetes"}
	for k, v := range md {
		fields[k] = v
	}
	st, err := structpb.NewStruct(fields)
	if err != nil {
		panic(err)
	}
	return &corev3.Node{Id: "router~10.1.0.7~" + pod + "." + ns + "~" + ns + ".svc.cluster.local", Metadata: st}
}

// fetchSecrets asks for SDS resources by name on a new ADS stream and
// returns the first response (or the stream's error).
func (s *secure) fetchSecrets(cc *grpc.ClientConn, node *corev3.Node, names ...string) (map[string]*tlsv3.Secret, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 20*time.Second)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	// io.EOF: the server ended the stream already; Recv says why.
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.SecretType, ResourceNames: names}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	resp, err := st.Recv()
	if err != nil {
		return nil, err
	}
	out := map[string]*tlsv3.Secret{}
	for _, a := range resp.GetResources() {
		sec := &tlsv3.Secret{}
		if err := a.UnmarshalTo(sec); err != nil {
			return nil, err
		}
		out[sec.GetName()] = sec
	}
	return out, nil
}

// resign re-signs a real token's claims, changed by edit, with key: a token
// the API server issued, replayed after expiry, or forged by another issuer.
func resign(t testing.TB, token string, key *ecdsa.PrivateKey, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	edit(claims)
	payload, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signed := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signed))
	r, sg, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sg.FillBytes(sig[32:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// clusterSigningKey is the test cluster's service-account signing key.
func clusterSigningKey(t testing.TB, c *kubetest.Cluster) *ecdsa.PrivateKey {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.Dir(), "service-account.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatal("service-account.key: no PEM")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func identityOpts() identity.SVIDOptions { return identity.SVIDOptions{TTL: time.Hour} }
