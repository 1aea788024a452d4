package authn

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/utils/clock"

	"github.com/meshgate/meshgate/identity"
)

// ServingCert is the secure port's certificate: an SVID of the daemon's own
// identity with the DNS names clients dial (the daemon's Service names),
// issued by meshgate's CA and renewed at half of its lifetime. Renewal
// happens in GetCertificate, so every new handshake gets a valid
// certificate and established connections (and their streams) are never
// touched. Safe for concurrent use.
type ServingCert struct {
	issuer identity.Issuer
	id     spiffeid.ID
	dns    []string
	ttl    time.Duration
	clock  clock.PassiveClock
	log    *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	renewAt time.Time
}

// NewServingCert issues the first certificate for id with DNS SANs dns
// (for example meshgate.istio-system.svc and
// meshgate.istio-system.svc.cluster.local), valid for ttl (0 means
// identity.DefaultSVIDTTL). clk nil means the real clock, log nil slog.Default().
func NewServingCert(issuer identity.Issuer, id spiffeid.ID, dns []string, ttl time.Duration, clk clock.PassiveClock, log *slog.Logger) (*ServingCert, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	if ttl <= 0 {
		ttl = identity.DefaultSVIDTTL
	}
	s := &ServingCert{issuer: issuer, id: id, dns: slices.Clone(dns), ttl: ttl, clock: clk, log: log}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.issueLocked(clk.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// GetCertificate is the tls.Config callback: the current certificate,
// renewed first when half of its lifetime has passed. A failed renewal keeps
// the current certificate while it is valid (logged, retried on the next
// handshake).
func (s *ServingCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if now.Before(s.renewAt) {
		return s.cert, nil
	}
	if err := s.issueLocked(now); err != nil {
		if now.Before(s.cert.Leaf.NotAfter) {
			s.log.Error("renewing the serving certificate failed; keeping the current one", "err", err, "not_after", s.cert.Leaf.NotAfter)
			return s.cert, nil
		}
		return nil, err
	}
	return s.cert, nil
}

func (s *ServingCert) issueLocked(now time.Time) error {
	svid, err := s.issuer.IssueX509SVID(s.id, identity.SVIDOptions{TTL: s.ttl, DNSNames: s.dns})
	if err != nil {
		return fmt.Errorf("serving certificate for %s: %w", s.id, err)
	}
	c := &tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, x := range svid.Certificates {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	s.cert = c
	s.renewAt = now.Add(max(c.Leaf.NotAfter.Sub(now)/2, time.Second))
	s.log.Info("serving certificate issued", identity.SVIDAttr("svid", svid), "dns", s.dns)
	return nil
}

// ServerTLSConfig is the secure port's TLS: the serving certificate, TLS
// 1.2 or newer, and client certificates requested but optional (token
// callers have none). Client certificates are verified by the
// Authenticator against the current trust bundles, not by crypto/tls with
// a fixed pool: the bundles change.
func ServerTLSConfig(s *ServingCert) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.GetCertificate,
		ClientAuth:     tls.RequestClientCert,
	}
}

// ServerOptions are the gRPC server options of the secure port: TLS with
// tlsCfg and the Authenticator's interceptors, so every call is
// authenticated before any handler runs.
func (a *Authenticator) ServerOptions(tlsCfg *tls.Config) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.ChainUnaryInterceptor(a.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(a.StreamInterceptor()),
	}
}
