package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/discovery/remote"
)

// ownSecret keeps the local cluster's remote secret for gossip: a token of
// the reader identity from the TokenRequest API, renewed at half its lifetime
// (and retried every retry on failure), so other daemons can watch this
// cluster without anyone running create-remote-secret for every pair.
// Secret material is never logged.
type ownSecret struct {
	cfg       *rest.Config
	cluster   string
	namespace string
	server    string // the API server URL as other clusters reach it
	ttl       time.Duration
	retry     time.Duration
	log       *slog.Logger
	changed   func() // called (from run's goroutine) after each new secret

	mu      sync.Mutex
	current []byte
	expiry  time.Time
}

// get returns the current remote secret (nil before the first one).
func (o *ownSecret) get() []byte {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.current
}

// renew mints a new secret; it returns when the next renewal is due.
func (o *ownSecret) renew(ctx context.Context) (time.Duration, error) {
	s, expiry, err := remote.MintRemoteSecret(ctx, o.cfg, o.cluster, o.namespace, o.server, o.ttl)
	if err != nil {
		return o.retry, err
	}
	b, err := remote.MarshalSecret(s)
	if err != nil {
		return o.retry, err
	}
	o.mu.Lock()
	o.current, o.expiry = b, expiry
	o.mu.Unlock()
	return time.Until(expiry) / 2, nil
}

// run renews the secret until ctx is done; failures are logged and retried,
// so it returns nil.
func (o *ownSecret) run(ctx context.Context) error {
	for {
		next, err := o.renew(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.log.Error("remote secret: cannot mint a token for gossip; retrying", "err", err, "in", next)
		} else {
			o.log.Info("remote secret: new token for gossip", "cluster", o.cluster, "server", o.server, "renew-in", next.Round(time.Second))
			o.changed()
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

// gossipSeeds is federation's SeedSource in Kubernetes mode: the gossip
// addresses of every remote cluster the daemon has a remote secret for, found
// through that cluster's API server (joining through a remote secret).
func gossipSeeds(configs func() map[string]*rest.Config, namespace string, log *slog.Logger) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		var seeds []string
		for id, cfg := range configs() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			s, err := remote.GossipSeeds(cctx, cfg, namespace)
			cancel()
			if err != nil {
				log.Warn("federation: no gossip address for a remote cluster", "cluster", id, "err", err)
				continue
			}
			seeds = append(seeds, s...)
		}
		return seeds, nil
	}
}
