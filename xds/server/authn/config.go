package authn

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// DefaultAudience is the audience a service-account token must carry, as
// with Istio's CA and istiod ("istio-ca").
const DefaultAudience = "istio-ca"

// Config are the settings of an Authenticator: a plain struct that flags and
// files map onto. Start from DefaultConfig.
type Config struct {
	// TrustDomain is the local trust domain: token callers get it, and
	// certificate callers must belong to it (or to TrustDomainAliases).
	TrustDomain string
	// TrustDomainAliases are further trust domains whose SVIDs are
	// accepted as client certificates. Default none.
	TrustDomainAliases []string
	// ClusterID is the local cluster. A request whose "ClusterID" metadata
	// (Istio's CA clients send it) names another cluster is refused: only
	// local tokens can be reviewed. Empty accepts any.
	ClusterID string
	// Audiences a token must be valid for (any of them). Default
	// [DefaultAudience].
	Audiences []string
	// CacheSize bounds the reviewed tokens kept (by hash, never the token).
	// Default 10000.
	CacheSize int
	// MaxCacheAge bounds how long a review is reused even when the token
	// lives longer: a deleted service account is noticed within it. A
	// pod-bound token's pod is looked up on every use. Default 5m.
	MaxCacheAge time.Duration
}

// DefaultConfig returns the defaults for trust domain td.
func DefaultConfig(td string) Config {
	return Config{
		TrustDomain: td,
		Audiences:   []string{DefaultAudience},
		CacheSize:   10000,
		MaxCacheAge: 5 * time.Minute,
	}
}

// Validate reports every bad field, each by name.
func (c Config) Validate() error {
	var errs []error
	if _, err := spiffeid.TrustDomainFromString(c.TrustDomain); err != nil {
		errs = append(errs, fmt.Errorf("authn: TrustDomain %q: %w", c.TrustDomain, err))
	}
	for i, a := range c.TrustDomainAliases {
		if _, err := spiffeid.TrustDomainFromString(a); err != nil {
			errs = append(errs, fmt.Errorf("authn: TrustDomainAliases[%d] %q: %w", i, a, err))
		}
	}
	if len(c.Audiences) == 0 {
		errs = append(errs, errors.New("authn: Audiences: at least one is required"))
	}
	for i, a := range c.Audiences {
		if a == "" {
			errs = append(errs, fmt.Errorf("authn: Audiences[%d]: empty", i))
		}
	}
	if c.CacheSize <= 0 {
		errs = append(errs, fmt.Errorf("authn: CacheSize %d: must be positive", c.CacheSize))
	}
	if c.MaxCacheAge <= 0 {
		errs = append(errs, fmt.Errorf("authn: MaxCacheAge %v: must be positive", c.MaxCacheAge))
	}
	return errors.Join(errs...)
}

// Options are an Authenticator's collaborators.
type Options struct {
	// Bundles verify client certificates (the mesh trust bundles; read on
	// every handshake, so they may change). Nil refuses every client
	// certificate.
	Bundles x509bundle.Source
	// Kube, when set, is the default for Reviewer and Pods.
	Kube kubernetes.Interface
	// Reviewer verifies tokens (default: TokenReview through Kube). Nil
	// with Kube nil refuses every token.
	Reviewer TokenReviewer
	// Pods looks up the pod a bound token names (default: GET through
	// Kube). Nil with Kube nil refuses pod-bound tokens.
	Pods PodLookup
	// Clock drives token expiry and the cache (default the real clock).
	Clock clock.PassiveClock
	// Logger gets one line per refusal (never a token); default slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics (default: a private registry).
	Registerer prometheus.Registerer
}

func (o *Options) setDefaults() {
	if o.Kube != nil {
		if o.Reviewer == nil {
			o.Reviewer = KubeReviewer{Client: o.Kube}
		}
		if o.Pods == nil {
			o.Pods = KubePods{Client: o.Kube}
		}
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
}
