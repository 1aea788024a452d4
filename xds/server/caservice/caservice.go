// Package caservice is meshgate's CA as a gRPC service: Istio's
// istio.v1.auth.IstioCertificateService/CreateCertificate, served on the
// secure xDS port behind authn's interceptors. Istio's pilot-agent, and
// meshgate's own gateways, send a CSR with a service-account token (or,
// to renew, their current SVID as client certificate) and get a
// certificate chain for exactly the identity they proved.
//
//	pilot-agent ──TLS──▶ authn (Caller) ──▶ CreateCertificate(csr, validity_duration)
//	                                          │ CSR signature, names ⊆ {Caller's SPIFFE ID}
//	                                          │ TTL = requested, capped by MaxTTL (default DefaultTTL)
//	                                          ▼
//	                                      identity.CA.SignCSR ──▶ [leaf, intermediates..., root] (PEM each)
//
// Refusals: no Caller (not served behind authn) → Unauthenticated; a bad
// CSR → InvalidArgument; a CSR naming any other identity, or any DNS, IP or
// e-mail name, a caller of another trust domain, or Istio's impersonation
// metadata → PermissionDenied. Each is counted
// (meshgate_ca_requests_total{result,reason}) and logged with the caller.
//
// CreateCertificate runs on gRPC's goroutines, concurrently; signing is CPU
// only (one ECDSA signature).
package caservice

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pb "istio.io/api/security/v1alpha1"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/xds/server/authn"
)

// Signer signs CSRs for SPIFFE IDs of its trust domain; *identity.CA is one.
// SignCSR is called concurrently.
type Signer interface {
	SignCSR(csr *x509.CertificateRequest, id spiffeid.ID, opts identity.SVIDOptions) ([]*x509.Certificate, error)
	TrustDomain() spiffeid.TrustDomain
	Roots() []*x509.Certificate
}

var _ Signer = (*identity.CA)(nil)

// Config is the TTL policy.
type Config struct {
	// DefaultTTL is the lifetime when a request asks none (Istio's
	// DEFAULT_WORKLOAD_CERT_TTL, 24h).
	DefaultTTL time.Duration
	// MaxTTL caps a requested lifetime (a longer request gets MaxTTL, as
	// the leaf's NotAfter says). Default 24h: what pilot-agent asks by
	// default; Istio's MAX_WORKLOAD_CERT_TTL is 90 days.
	MaxTTL time.Duration
}

// DefaultConfig returns 24h and 24h.
func DefaultConfig() Config { return Config{DefaultTTL: 24 * time.Hour, MaxTTL: 24 * time.Hour} }

// Validate reports every bad field.
func (c Config) Validate() error {
	var errs []error
	if c.DefaultTTL <= 0 {
		errs = append(errs, fmt.Errorf("caservice: DefaultTTL %v: must be positive", c.DefaultTTL))
	}
	if c.MaxTTL < c.DefaultTTL {
		errs = append(errs, fmt.Errorf("caservice: MaxTTL %v: shorter than DefaultTTL %v", c.MaxTTL, c.DefaultTTL))
	}
	return errors.Join(errs...)
}

// Options are the service's collaborators.
type Options struct {
	// Logger, default slog.Default(); Registerer, default a private registry.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service implements IstioCertificateService.
type Service struct {
	pb.UnimplementedIstioCertificateServiceServer
	cfg      Config
	ca       Signer
	log      *slog.Logger
	requests *prometheus.CounterVec
}

// New returns the service signing with ca.
func New(ca Signer, cfg Config, opts Options) (*Service, error) {
	if ca == nil {
		return nil, errors.New("caservice: a Signer is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s := &Service{cfg: cfg, ca: ca, log: opts.Logger,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_ca_requests_total",
			Help: "CreateCertificate calls by result (issued, refused, failed) and reason (ok or why).",
		}, []string{"result", "reason"})}
	if err := opts.Registerer.Register(s.requests); err != nil {
		return nil, fmt.Errorf("caservice metrics: %w", err)
	}
	return s, nil
}

// Register adds the service to g (the secure port's server: it relies on
// authn's interceptors for the Caller).
func (s *Service) Register(g grpc.ServiceRegistrar) { pb.RegisterIstioCertificateServiceServer(g, s) }

// impersonationKey is the metadata Istio's node authorizer (ztunnel) uses
// to ask for another identity; meshgate does not support it.
const impersonationKey = "ImpersonatedIdentity"

// CreateCertificate implements IstioCertificateService.
func (s *Service) CreateCertificate(ctx context.Context, req *pb.IstioCertificateRequest) (*pb.IstioCertificateResponse, error) {
	caller, ok := authn.CallerFrom(ctx)
	if !ok {
		return nil, s.refuse(caller, codes.Unauthenticated, "unauthenticated", "no authenticated caller: the CA is served only on the secure port")
	}
	if _, ok := req.GetMetadata().GetFields()[impersonationKey]; ok {
		return nil, s.refuse(caller, codes.PermissionDenied, "impersonation", "metadata %s: impersonation is not supported", impersonationKey)
	}
	if caller.TrustDomain != s.ca.TrustDomain() {
		return nil, s.refuse(caller, codes.PermissionDenied, "foreign_trust_domain", "caller %s is not of trust domain %q", caller, s.ca.TrustDomain())
	}
	id, err := caller.ID()
	if err != nil {
		return nil, s.refuse(caller, codes.PermissionDenied, "bad_identity", "caller %s: %v", caller, err)
	}
	csr, err := identity.ParseCSRPEM([]byte(req.GetCsr()))
	if err != nil {
		return nil, s.refuse(caller, codes.InvalidArgument, "bad_csr", "csr: %v", err)
	}
	if err := checkNames(csr, id); err != nil {
		return nil, s.refuse(caller, codes.PermissionDenied, "other_identity", "csr: %v; the caller is %s", err, id)
	}
	if req.GetValidityDuration() < 0 {
		return nil, s.refuse(caller, codes.InvalidArgument, "bad_ttl", "validity_duration %d: must not be negative", req.GetValidityDuration())
	}
	ttl := s.cfg.DefaultTTL
	if v := req.GetValidityDuration(); v > 0 {
		ttl = min(time.Duration(v)*time.Second, s.cfg.MaxTTL)
	}
	certs, err := s.ca.SignCSR(csr, id, identity.SVIDOptions{TTL: ttl})
	if err != nil {
		s.requests.WithLabelValues("failed", "sign").Inc()
		s.log.Error("CreateCertificate: signing failed", "caller", caller.String(), "err", err)
		return nil, status.Errorf(codes.Internal, "signing: %v", err)
	}
	chain := make([]string, 0, len(certs)+1)
	for _, c := range append(certs, s.ca.Roots()...) {
		chain = append(chain, string(identity.EncodeCertificatesPEM([]*x509.Certificate{c})))
	}
	s.requests.WithLabelValues("issued", "ok").Inc()
	s.log.Info("CreateCertificate: issued", "caller", caller.String(), "pod", caller.Pod,
		"serial", certs[0].SerialNumber.Text(16), "not_after", certs[0].NotAfter)
	return &pb.IstioCertificateResponse{CertChain: chain}, nil
}

// checkNames accepts a CSR whose only names are id (or none at all: the
// certificate names id whatever the CSR says).
func checkNames(csr *x509.CertificateRequest, id spiffeid.ID) error {
	var errs []error
	for _, u := range csr.URIs {
		if u.String() != id.String() {
			errs = append(errs, fmt.Errorf("asks for URI %q", u))
		}
	}
	for _, d := range csr.DNSNames {
		errs = append(errs, fmt.Errorf("asks for DNS name %q", d))
	}
	for _, ip := range csr.IPAddresses {
		errs = append(errs, fmt.Errorf("asks for IP address %s", ip))
	}
	for _, e := range csr.EmailAddresses {
		errs = append(errs, fmt.Errorf("asks for e-mail address %q", e))
	}
	return errors.Join(errs...)
}

func (s *Service) refuse(caller authn.Caller, code codes.Code, reason, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	s.requests.WithLabelValues("refused", reason).Inc()
	who := "<unauthenticated>"
	if caller.Namespace != "" {
		who = caller.String()
	}
	s.log.Warn("CreateCertificate refused", "caller", who, "reason", reason, "err", msg)
	return status.Error(code, msg)
}
