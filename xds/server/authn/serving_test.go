package authn

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

// TestServingCertRotation: the serving certificate is renewed at half its
// lifetime; a stream opened before keeps working, a new connection gets the
// new certificate, and both verify with the DNS name.
func TestServingCertRotation(t *testing.T) {
	f := newFixture(t, defaultConfig(), Options{})
	svid := f.svid(f.ca, "/ns/gw-ns/sa/ingress")
	cc1 := f.dial(svid, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watch, err := healthpb.NewHealthClient(cc1).Watch(ctx, &healthpb.HealthCheckRequest{Service: "xds"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVICE_UNKNOWN {
		t.Fatalf("first watch response: %v %v", r, err)
	}
	p1, ok := peer.FromContext(watch.Context())
	if !ok {
		t.Fatal("no peer on the stream")
	}
	serial1 := serverSerial(t, *p1)

	f.clk.Step(31 * time.Minute) // past half of the 1h lifetime
	cc2 := f.dial(svid, nil)
	var p2 peer.Peer
	if _, err := healthpb.NewHealthClient(cc2).Check(ctx, &healthpb.HealthCheckRequest{}, grpcPeer(&p2)); err != nil {
		t.Fatalf("new connection after rotation: %v", err)
	}
	if serial2 := serverSerial(t, p2); serial2 == serial1 {
		t.Fatal("the serving certificate was not renewed")
	}
	// The stream opened before rotation still gets updates.
	f.health.SetServingStatus("xds", healthpb.HealthCheckResponse_SERVING)
	if r, err := watch.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("old stream after rotation: %v %v", r, err)
	}
	if got := f.count("accepted", "ok"); got != 2 {
		t.Fatalf("accepted = %v, want 2", got)
	}
}

func serverSerial(t *testing.T, p peer.Peer) string {
	t.Helper()
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		t.Fatalf("no TLS peer info: %#v", p.AuthInfo)
	}
	leaf := ti.State.PeerCertificates[0]
	if err := leaf.VerifyHostname(serverName); err != nil {
		t.Fatal(err)
	}
	if ti.State.Version < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", ti.State.Version)
	}
	return leaf.SerialNumber.String()
}
