//go:build integration

package authn_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	pb "istio.io/api/security/v1alpha1"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/xds/server/authn"
)

// connect makes one RPC on a new connection (TLS handshake +
// authentication) and closes it.
func connect(b *testing.B, cc *grpc.ClientConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		b.Fatal(err)
	}
	_ = cc.Close()
}

// BenchmarkNewConnectionSVID is the cost of a new caller proving itself
// with a client certificate: TLS handshake (ECDSA P-256 both ways), SVID
// verification, one RPC.
func BenchmarkNewConnectionSVID(b *testing.B) {
	s := newSecure(b, authn.DefaultConfig("cluster.local"), false)
	svid, err := s.ca.IssueX509SVID(mustID("/ns/gw-ns/sa/ingress"), identity.SVIDOptions{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		connect(b, s.dial("", svid))
	}
}

// BenchmarkNewConnectionToken is the same with a pod-bound service-account
// token against a real kube-apiserver. cold: every call reviews its token
// (TokenReview + pod GET); cached: the review is reused (pod GET only).
func BenchmarkNewConnectionToken(b *testing.B) {
	cfg := authn.DefaultConfig("cluster.local")
	cfg.CacheSize = 1 // two alternating tokens always miss: "cold"
	s := newSecure(b, cfg, true)
	s.pod("gw-ns", "gw-1", "ingress")
	toks := []string{s.token("gw-ns", "ingress", []string{"istio-ca"}, "gw-1"), s.token("gw-ns", "ingress", []string{"istio-ca"}, "gw-1")}
	b.Run("cold", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			connect(b, s.dial(toks[i%2], nil))
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			connect(b, s.dial(toks[0], nil))
		}
	})
}

// BenchmarkCreateCertificate is CreateCertificate throughput over one
// connection, callers proven by SVID (a cached token costs the same plus a
// pod GET); the server signs every request, the CSR is reused.
func BenchmarkCreateCertificate(b *testing.B) {
	s := newSecure(b, authn.DefaultConfig("cluster.local"), false)
	svid, err := s.ca.IssueX509SVID(mustID("/ns/gw-ns/sa/ingress"), identity.SVIDOptions{TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	c := pb.NewIstioCertificateServiceClient(s.dial("", svid))
	csr, _ := newCSR(b, "spiffe://cluster.local/ns/gw-ns/sa/ingress")
	ctx := metadata.AppendToOutgoingContext(context.Background(), "ClusterID", "Kubernetes")
	start := time.Now()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			if _, err := c.CreateCertificate(ctx, &pb.IstioCertificateRequest{Csr: csr}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "certs/s")
}
