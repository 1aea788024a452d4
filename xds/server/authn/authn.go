package authn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/meshgate/meshgate/identity"
)

// Refusal reasons (metric label "reason", and the start of the status message).
const (
	ReasonNoCredentials    = "no_credentials"
	ReasonBadCertificate   = "bad_certificate"
	ReasonForeignDomain    = "foreign_trust_domain"
	ReasonBadHeader        = "bad_authorization_header"
	ReasonForeignCluster   = "foreign_cluster"
	ReasonTokenExpired     = "token_expired"
	ReasonTokenInvalid     = "token_invalid"
	ReasonWrongAudience    = "wrong_audience"
	ReasonNotSA            = "not_service_account"
	ReasonPodGone          = "pod_gone"
	ReasonReviewFailed     = "review_failed"
	ReasonNoVerifier       = "no_verifier"
	ReasonNodeMismatch     = "node_mismatch"
	ReasonMalformedRequest = "malformed_request"
)

// Error is why a caller was refused. Reason is a metric label; Err says
// what was wrong, without the credential.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func refuse(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Authenticator proves who a gRPC caller is: a client certificate (an
// X.509 SVID chaining to the mesh trust bundle) or a Kubernetes
// service-account token in the "authorization: Bearer" metadata. It is safe
// for concurrent use.
type Authenticator struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	m       *metrics
	domains []spiffeid.TrustDomain
	local   spiffeid.TrustDomain
	cache   *tokenCache
}

// New validates cfg and returns an Authenticator.
func New(cfg Config, opts Options) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("authn metrics: %w", err)
	}
	a := &Authenticator{cfg: cfg, opts: opts, log: opts.Logger, m: m}
	a.local = spiffeid.RequireTrustDomainFromString(cfg.TrustDomain)
	a.domains = []spiffeid.TrustDomain{a.local}
	for _, d := range cfg.TrustDomainAliases {
		a.domains = append(a.domains, spiffeid.RequireTrustDomainFromString(d))
	}
	a.cache = newTokenCache(cfg.CacheSize, m)
	return a, nil
}

// Authenticate proves the caller of the RPC whose server context is ctx. A
// client certificate, when presented, must verify (a bad one is refused even
// with a token); otherwise the bearer token decides. Errors are *Error. It
// may block on the TokenReview API (bounded by ctx).
func (a *Authenticator) Authenticate(ctx context.Context) (Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return a.decide(ctx, presented{certs: peerCertificates(ctx), auth: md.Get("authorization"),
		clusterIDs: md.Get("clusterid"), peer: peerAddr(ctx)})
}

// AuthenticateHTTP proves the caller of an HTTP request by the same rules:
// its TLS client certificate (r.TLS), else an "Authorization: Bearer"
// header (and an optional "ClusterID" header). Errors are *Error.
func (a *Authenticator) AuthenticateHTTP(r *http.Request) (Caller, error) {
	var certs []*x509.Certificate
	if r.TLS != nil {
		certs = r.TLS.PeerCertificates
	}
	return a.decide(r.Context(), presented{certs: certs, auth: r.Header.Values("Authorization"),
		clusterIDs: r.Header.Values("ClusterID"), peer: r.RemoteAddr})
}

// presented is what a caller presented, whatever the protocol.
type presented struct {
	certs      []*x509.Certificate
	auth       []string // authorization values
	clusterIDs []string
	peer       string
}

// decide authenticates, counts and logs.
func (a *Authenticator) decide(ctx context.Context, cr presented) (Caller, error) {
	c, err := a.authenticate(ctx, cr)
	method := string(c.Method)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Reason: ReasonReviewFailed, Err: err}
			err = e
		}
		if method == "" {
			method = "none"
		}
		a.m.authn.WithLabelValues(method, "refused", e.Reason).Inc()
		a.log.Warn("refusing unauthenticated caller", "peer", cr.peer, "method", method, "reason", e.Reason, "err", e.Err)
		return Caller{}, err
	}
	a.m.authn.WithLabelValues(method, "accepted", "ok").Inc()
	a.log.Debug("caller authenticated", "peer", cr.peer, "caller", c.String(), "pod", c.Pod)
	return c, nil
}

func (a *Authenticator) authenticate(ctx context.Context, cr presented) (Caller, error) {
	if len(cr.certs) > 0 {
		c, err := a.verifySVID(cr.certs)
		c.Method = MethodX509SVID
		return c, err
	}
	auth := cr.auth
	if len(auth) == 0 {
		return Caller{}, refuse(ReasonNoCredentials, "no client certificate and no authorization metadata")
	}
	c := Caller{Method: MethodKubeToken}
	if len(auth) > 1 {
		return c, refuse(ReasonBadHeader, "%d authorization values; want one", len(auth))
	}
	scheme, token, ok := strings.Cut(auth[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return c, refuse(ReasonBadHeader, "authorization metadata is not \"Bearer <token>\"")
	}
	if ids := cr.clusterIDs; a.cfg.ClusterID != "" && len(ids) > 0 && ids[0] != "" && ids[0] != a.cfg.ClusterID {
		return c, refuse(ReasonForeignCluster, "token of cluster %q cannot be verified here (local cluster %q)", ids[0], a.cfg.ClusterID)
	}
	c, err := a.verifyToken(ctx, strings.TrimSpace(token))
	c.Method = MethodKubeToken
	return c, err
}

// verifySVID checks a client certificate chain against the trust bundles
// of the accepted trust domains.
func (a *Authenticator) verifySVID(certs []*x509.Certificate) (Caller, error) {
	if a.opts.Bundles == nil {
		return Caller{}, refuse(ReasonNoVerifier, "client certificates are not accepted (no trust bundle)")
	}
	id, _, err := x509svid.Verify(certs, a.opts.Bundles)
	if err != nil {
		return Caller{}, refuse(ReasonBadCertificate, "client certificate: %v", err)
	}
	if !slices.Contains(a.domains, id.TrustDomain()) {
		return Caller{}, refuse(ReasonForeignDomain, "client certificate %s: trust domain %q is not accepted here", id, id.TrustDomain())
	}
	w, err := identity.WorkloadIDFrom(id)
	if err != nil {
		return Caller{}, refuse(ReasonBadCertificate, "client certificate: %v", err)
	}
	return Caller{TrustDomain: w.TrustDomain, Namespace: w.Namespace, ServiceAccount: w.ServiceAccount,
		ExpiresAt: certs[0].NotAfter}, nil
}

func peerCertificates(ctx context.Context) []*x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	ti, ok := p.AuthInfo.(grpccreds.TLSInfo)
	if !ok {
		return nil
	}
	return ti.State.PeerCertificates
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
