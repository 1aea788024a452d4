package remote

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// RenewerConfig is what a SecretRenewer mints: the remote secret of Cluster,
// naming Server, for the reader identity in Namespace.
type RenewerConfig struct {
	// Cluster is the local cluster's id (the secret's key). Required.
	Cluster string
	// Namespace holds the reader ServiceAccount (default DefaultNamespace).
	Namespace string
	// Server is the API server URL as other clusters reach it. Required.
	Server string
	// TTL is the token's lifetime; it is renewed at half. Default 24h (the
	// TokenRequest API needs at least 10m).
	TTL time.Duration
	// Retry is the wait after a failed mint. Default 1m.
	Retry time.Duration
}

func (c RenewerConfig) withDefaults() RenewerConfig {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.TTL <= 0 {
		c.TTL = 24 * time.Hour
	}
	if c.Retry <= 0 {
		c.Retry = time.Minute
	}
	return c
}

// RenewerOptions are a SecretRenewer's collaborators.
type RenewerOptions struct {
	// REST is the daemon's own access to its API server: it needs only
	// create on serviceaccounts/token of the reader. Required.
	REST *rest.Config
	// Logger (default slog.Default()); secret material is never logged.
	Logger *slog.Logger
	// Changed, when set, is called after each new secret (from the goroutine
	// that minted it: Run's, or Renew's caller). It must not block for long.
	Changed func()
}

// SecretRenewer keeps the local cluster's remote secret for gossip: a token
// of the reader identity from the TokenRequest API (MintRemoteSecret),
// renewed at half its lifetime and retried on failure, so other daemons can
// watch this cluster without anyone running create-remote-secret for every
// pair. A nil *SecretRenewer holds no secret.
type SecretRenewer struct {
	cfg  RenewerConfig
	opts RenewerOptions
	log  *slog.Logger

	mu      sync.Mutex
	current []byte
	expiry  time.Time
}

// NewSecretRenewer checks cfg and opts; Run mints the first secret.
func NewSecretRenewer(cfg RenewerConfig, opts RenewerOptions) (*SecretRenewer, error) {
	if cfg.Cluster == "" || cfg.Server == "" || opts.REST == nil {
		return nil, errors.New("remote: a secret renewer needs Cluster, Server and REST")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &SecretRenewer{cfg: cfg.withDefaults(), opts: opts, log: opts.Logger}, nil
}

// Secret returns the current remote secret (nil before the first one).
func (o *SecretRenewer) Secret() []byte {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.current
}

// Renew mints a new secret now and calls Changed; it returns when the next
// renewal is due (Retry after a failure).
func (o *SecretRenewer) Renew(ctx context.Context) (time.Duration, error) {
	s, expiry, err := MintRemoteSecret(ctx, o.opts.REST, o.cfg.Cluster, o.cfg.Namespace, o.cfg.Server, o.cfg.TTL)
	if err != nil {
		return o.cfg.Retry, err
	}
	b, err := MarshalSecret(s)
	if err != nil {
		return o.cfg.Retry, err
	}
	o.mu.Lock()
	o.current, o.expiry = b, expiry
	o.mu.Unlock()
	if o.opts.Changed != nil {
		o.opts.Changed()
	}
	return time.Until(expiry) / 2, nil
}

// Run renews the secret until ctx is done, then returns nil; failures are
// logged and retried.
func (o *SecretRenewer) Run(ctx context.Context) error {
	for {
		next, err := o.Renew(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.log.Error("remote secret: cannot mint a token for gossip; retrying", "err", err, "in", next)
		} else {
			o.log.Info("remote secret: new token for gossip", "cluster", o.cfg.Cluster, "server", o.cfg.Server, "renew-in", next.Round(time.Second))
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
