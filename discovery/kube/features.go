package kube

import (
	"fmt"
	"os"
	"sync/atomic"

	clientfeatures "k8s.io/client-go/features"
)

// client-go's streaming lists (feature WatchListClient, on by default
// since 1.35) back off between failed attempts with a wait that ignores the
// informer's stop channel (reflector.watchList): after an API-server outage
// an informer could take up to a minute to stop, holding back a daemon's
// shutdown, a remote cluster's removal and the replacement of watches after
// the outage (see reconnect.go). The classic list-then-watch path stops at
// once, so the sources use it. KUBE_FEATURE_WatchListClient, when set,
// still decides.
// A program (or test) that sets the feature explicitly through the gates
// decides too.
func init() {
	if _, set := os.LookupEnv("KUBE_FEATURE_" + string(clientfeatures.WatchListClient)); set {
		return
	}
	clientfeatures.ReplaceFeatureGates(&withoutWatchList{Gates: clientfeatures.FeatureGates()})
}

type withoutWatchList struct {
	clientfeatures.Gates
	explicit atomic.Bool // WatchListClient was Set
}

func (g *withoutWatchList) Enabled(f clientfeatures.Feature) bool {
	if f == clientfeatures.WatchListClient && !g.explicit.Load() {
		return false
	}
	return g.Gates.Enabled(f)
}

// Set passes a setting on to the default gates (client-go's testing
// helpers use it).
func (g *withoutWatchList) Set(f clientfeatures.Feature, v bool) error {
	s, ok := g.Gates.(interface {
		Set(clientfeatures.Feature, bool) error
	})
	if !ok {
		return fmt.Errorf("client-go feature gates: %T cannot set %s", g.Gates, f)
	}
	if err := s.Set(f, v); err != nil {
		return err
	}
	if f == clientfeatures.WatchListClient {
		g.explicit.Store(true)
	}
	return nil
}
