package authn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	authenticationv1 "k8s.io/api/authentication/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/metrictest"
)

var (
	localTD   = spiffeid.RequireTrustDomainFromString("cluster.local")
	servingID = spiffeid.RequireFromPath(localTD, "/ns/istio-system/sa/meshgate")
)

const serverName = "meshgate.istio-system.svc"

// fakeReviewer answers TokenReviews from a table (a narrow unit-test
// double; the kube tests use the real API).
type fakeReviewer struct {
	mu      sync.Mutex
	answers map[string]authenticationv1.TokenReviewStatus
	err     error
	calls   int
}

func (f *fakeReviewer) Review(_ context.Context, token string, _ []string) (authenticationv1.TokenReviewStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return authenticationv1.TokenReviewStatus{}, f.err
	}
	st, ok := f.answers[token]
	if !ok {
		return authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}, nil
	}
	return st, nil
}

func (f *fakeReviewer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakePods is a set of pods (namespace/name → uid).
type fakePods struct {
	mu   sync.Mutex
	pods map[string]string
}

func (f *fakePods) PodUID(_ context.Context, ns, name string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	uid, ok := f.pods[ns+"/"+name]
	return uid, ok, nil
}

func (f *fakePods) delete(ns, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pods, ns+"/"+name)
}

// fakeJWT is a token whose payload carries exp (signature not checked by
// the fake reviewer; the kube tests use real tokens).
func fakeJWT(name string, exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(fmt.Sprintf(`{"exp":%d,"sub":%q}`, exp.Unix(), name))) + ".c2ln"
}

func saStatus(ns, sa string, audiences ...string) authenticationv1.TokenReviewStatus {
	if len(audiences) == 0 {
		audiences = []string{DefaultAudience}
	}
	return authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: audiences,
		User: authenticationv1.UserInfo{Username: "system:serviceaccount:" + ns + ":" + sa}}
}

// fixture is a gRPC server on 127.0.0.1 over TLS with the Authenticator's
// interceptors, serving the standard health service (a real unary and a
// real streaming RPC), and recording the Caller each call saw.
type fixture struct {
	t       *testing.T
	ca      *identity.CA
	bundles *x509bundle.Set
	a       *Authenticator
	reg     *prometheus.Registry
	logs    *logtest.Buffer
	clk     *clocktesting.FakeClock
	serving *ServingCert
	health  *health.Server
	addr    string

	mu      sync.Mutex
	callers []Caller
}

func newFixture(t *testing.T, cfg Config, opts Options) *fixture {
	t.Helper()
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: localTD}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ca: ca, bundles: identity.NewBundleSet(ca.Bundle()), reg: prometheus.NewRegistry(), logs: &logtest.Buffer{},
		clk: clocktesting.NewFakeClock(time.Now())}
	if opts.Bundles == nil {
		opts.Bundles = f.bundles
	}
	if opts.Clock == nil {
		opts.Clock = f.clk
	}
	opts.Registerer = f.reg
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if f.a, err = New(cfg, opts); err != nil {
		t.Fatal(err)
	}
	if f.serving, err = NewServingCert(ca, servingID, []string{serverName}, time.Hour, f.clk, opts.Logger); err != nil {
		t.Fatal(err)
	}
	record := func(ctx context.Context) {
		if c, ok := CallerFrom(ctx); ok {
			f.mu.Lock()
			f.callers = append(f.callers, c)
			f.mu.Unlock()
		}
	}
	sopts := append(f.a.ServerOptions(ServerTLSConfig(f.serving)),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			record(ctx)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			record(ss.Context())
			return h(srv, ss)
		}))
	gs := grpc.NewServer(sopts...)
	f.health = health.NewServer()
	healthpb.RegisterHealthServer(gs, f.health)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	done := make(chan struct{})
	go func() { _ = gs.Serve(lis); close(done) }()
	t.Cleanup(func() {
		gs.Stop()
		<-done
		if t.Failed() {
			t.Logf("logs:\n%s", f.logs.String())
		}
	})
	return f
}

func defaultConfig() Config {
	c := DefaultConfig("cluster.local")
	c.ClusterID = "Kubernetes"
	return c
}

// tokenCreds sends "authorization: Bearer <token>" (and ClusterID, as
// Istio's CA client does).
type tokenCreds struct{ token, cluster string }

func (c tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	md := map[string]string{"authorization": "Bearer " + c.token}
	if c.cluster != "" {
		md["ClusterID"] = c.cluster
	}
	return md, nil
}
func (tokenCreds) RequireTransportSecurity() bool { return true }

// clientTLS trusts the fixture's CA and presents svid when set.
func (f *fixture) clientTLS(svid *x509svid.SVID) *tls.Config {
	pool := x509.NewCertPool()
	for _, r := range f.ca.Roots() {
		pool.AddCert(r)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if svid != nil {
		cert := tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
		for _, c := range svid.Certificates {
			cert.Certificate = append(cert.Certificate, c.Raw)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func (f *fixture) dial(svid *x509svid.SVID, creds *tokenCreds) *grpc.ClientConn {
	f.t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(f.clientTLS(svid)))}
	if creds != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(*creds))
	}
	cc, err := grpc.NewClient(f.addr, opts...)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func (f *fixture) check(cc *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func (f *fixture) lastCaller() Caller {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.callers) == 0 {
		f.t.Fatal("no caller recorded")
	}
	return f.callers[len(f.callers)-1]
}

func (f *fixture) count(result, reason string) float64 {
	return metrictest.Sum(f.t, f.reg, "meshgate_xds_authn_total", map[string]string{"result": result, "reason": reason})
}

func (f *fixture) svid(ca *identity.CA, path string) *x509svid.SVID {
	f.t.Helper()
	s, err := ca.IssueX509SVID(spiffeid.RequireFromPath(ca.TrustDomain(), path), identity.SVIDOptions{TTL: time.Hour})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func grpcPeer(p *peer.Peer) grpc.CallOption { return grpc.Peer(p) }
