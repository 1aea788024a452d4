package server

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/xds"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

// mtlsBackend is a gRPC server with a SPIFFE SVID that requires client
// certificates from the mesh CA and records the caller's SPIFFE ID.
type mtlsBackend struct {
	port    uint32
	callers chan spiffeid.ID
}

func startMTLSBackend(t *testing.T, ca *identity.CA, id spiffeid.ID) mtlsBackend {
	t.Helper()
	svid, err := ca.IssueX509SVID(id, identity.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := tlsconfig.MTLSServerConfig(svid, ca.Bundle(), tlsconfig.AuthorizeMemberOf(ca.TrustDomain()))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := mtlsBackend{port: uint32(lis.Addr().(*net.TCPAddr).Port), callers: make(chan spiffeid.ID, 64)}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)), grpc.UnaryInterceptor(
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if p, ok := peer.FromContext(ctx); ok {
				if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
					if cid, err := x509svid.IDFromCert(ti.State.PeerCertificates[0]); err == nil {
						select {
						case b.callers <- cid:
						default:
						}
					}
				}
			}
			return h(ctx, req)
		}))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return b
}

// gRPC-Go's own xDS client with xDS mTLS: its certificate comes from a
// file_watcher provider over `meshgate cert issue`-style files, the cluster
// (DestinationRule ISTIO_MUTUAL) requires the service's SPIFFE identity. The
// right server is reached and sees the client's ID; a server with another
// identity at the same endpoint is refused.
func TestGRPCClientMeshMTLS(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clientID := spiffeid.RequireFromString("spiffe://cluster.local/ns/default/sa/client")
	clientSVID, err := ca.IssueX509SVID(clientID, identity.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := identity.WriteSVIDFiles(dir, clientSVID, identity.NewBundleSet(ca.Bundle())); err != nil {
		t.Fatal(err)
	}
	good := startMTLSBackend(t, ca, spiffeid.RequireFromString("spiffe://cluster.local/ns/default/sa/echo"))
	impostor := startMTLSBackend(t, ca, spiffeid.RequireFromString("spiffe://cluster.local/ns/default/sa/impostor"))

	dr := []model.DestinationRule{{Meta: model.Meta{Name: "echo", Namespace: "default"}, Host: "echo",
		TrafficPolicy: &model.TrafficPolicy{TLS: &model.ClientTLS{Mode: model.ClientTLSIstioMutual}}}}
	at := func(port uint32) []model.Endpoint {
		return []model.Endpoint{{Address: "127.0.0.1", Ready: true, ServiceAccount: "echo",
			Ports: []model.EndpointPort{{Name: "grpc", Port: port}}}}
	}
	h := newHarness(t, Options{})
	h.srv.Update(echoMesh(at(good.port), dr, nil))

	bs, err := bootstrap.GRPC(bootstrap.Options{NodeID: "sidecar~127.0.0.1~client-1.default~default.svc.cluster.local",
		XDSAddress: h.addr, CertDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	builder, err := xds.NewXDSResolverWithConfigForTesting(bs)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("xds:///echo.default.svc.cluster.local:8080", grpc.WithResolvers(builder), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	hc := healthpb.NewHealthClient(conn)

	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	var p peer.Peer
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true)); err != nil {
		t.Fatalf("call over mesh mTLS: %v", err)
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		t.Fatalf("the call did not use TLS: %T", p.AuthInfo)
	}
	if id, _ := x509svid.IDFromCert(ti.State.PeerCertificates[0]); id.String() != "spiffe://cluster.local/ns/default/sa/echo" {
		t.Errorf("server identity %v", id)
	}
	if got := <-good.callers; got != clientID {
		t.Errorf("server saw caller %v, want %v", got, clientID)
	}

	// The same endpoint now served by a server with the wrong identity: every
	// call fails the SAN check, none reaches the impostor.
	h.srv.Update(echoMesh(at(impostor.port), dr, nil))
	deadline := time.Now().Add(20 * time.Second)
	failures := 0
	var lastErr error
	for failures < 5 && time.Now().Before(deadline) {
		cctx, ccancel := context.WithTimeout(h.ctx, 2*time.Second)
		_, err := hc.Check(cctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
		ccancel()
		if err == nil {
			if port := p.Addr.(*net.TCPAddr).Port; port == int(impostor.port) {
				t.Fatal("a call reached the server with the wrong identity")
			}
			continue // still on the old endpoint
		}
		if !strings.Contains(err.Error(), "SAN") && !strings.Contains(err.Error(), "subject alt") && !strings.Contains(err.Error(), "authentication handshake failed") {
			t.Fatalf("call failed for another reason than the identity check: %v", err)
		}
		lastErr = err
		failures++
	}
	t.Logf("calls to the impostor fail: %v", lastErr)
	if failures < 5 {
		t.Fatalf("calls to the impostor did not fail")
	}
	select {
	case id := <-impostor.callers:
		t.Fatalf("the impostor served a call from %v", id)
	default:
	}
}
