package kube

import (
	"context"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Reconnecting after an outage. client-go's reflectors retry a failed list
// or watch with an exponential backoff that reaches 30–60 s (and the
// factories do not let us change it), so an API server that comes back
// after a few minutes would be noticed up to a minute later. While requests
// fail transiently (connection errors, 5xx), the source probes the server
// itself; once it answers, the informers get a grace period to reconnect
// on their own, then a fresh informer set is started, synced while the old
// caches keep serving (make-before-break), and swapped in; the credential
// Secret watches are restarted the same way by the next rebuild.
//
//	outage ─▶ probe /version every ReconnectProbe ─▶ answers for 2 probes,
//	          still failing ─▶ new informers ─▶ synced ─▶ swap, stop the old
const (
	// reconnectMinGap and reconnectMaxGap bound the time between two
	// replacements while failures persist: the gap doubles after each.
	reconnectMinGap = 5 * time.Second
	reconnectMaxGap = 2 * time.Minute
	probeTimeout    = 5 * time.Second
)

// newProbe returns a check that the API server answers: GET /version with
// the source's credentials, outside the health tracker.
func newProbe(cfg *rest.Config) (func(context.Context) error, error) {
	c := rest.CopyConfig(cfg)
	c.Timeout = probeTimeout
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		return dc.RESTClient().Get().AbsPath("/version").Do(ctx).Error()
	}, nil
}

// reconnectLoop runs beside the debouncer after the initial sync.
func (s *Source) reconnectLoop(ctx context.Context) {
	every := s.cfg.ReconnectProbe
	grace := 2 * every
	gap := reconnectMinGap
	var answering, last time.Time
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !s.health.outage() {
			answering, gap = time.Time{}, reconnectMinGap
			continue
		}
		if err := s.probe(ctx); err != nil {
			answering = time.Time{}
			continue
		}
		now := time.Now()
		if answering.IsZero() {
			answering = now
			s.log.Info("kube source: API server answers again; waiting for the watches to reconnect")
			continue
		}
		if now.Sub(answering) < grace || now.Sub(last) < gap {
			continue
		}
		last, answering = now, time.Time{}
		gap = min(2*gap, reconnectMaxGap)
		s.reconnect(ctx, whyOutage)
	}
}

// whyOutage is reconnect's reason after an outage.
const whyOutage = "after the outage"

// reconnect replaces the informer set with a fresh one once that one has
// synced (within SyncTimeout); the old one keeps serving meanwhile. why is
// logged. Replacements never overlap (reconnectLoop and gatewayAPILoop
// both call it).
func (s *Source) reconnect(ctx context.Context, why string) {
	s.replacing.Lock()
	defer s.replacing.Unlock()
	start := time.Now()
	set, err := newInformerSet(s.kc, s.ic, s.gc, s.mc, s.cfg.ServicesOnly, s.changed)
	if err != nil {
		s.log.Error("kube source: cannot create informers to reconnect", "err", err)
		return
	}
	ictx, cancel := context.WithCancel(ctx)
	set.start(ictx.Done())
	wctx, wcancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer wcancel()
	if !cache.WaitForCacheSync(wctx.Done(), set.synced...) {
		cancel()
		set.shutdown()
		if ctx.Err() == nil {
			s.log.Warn("kube source: new watches did not sync; keeping the old ones", "after", time.Since(start).Round(time.Millisecond))
		}
		return
	}
	s.mu.Lock()
	old, oldCancel := s.inf, s.infCancel
	s.inf, s.infCancel = set, cancel
	s.restartSecrets = s.secrets != nil
	if why == whyOutage { // Status().Reconnects and the metric count outages only
		s.restarts++
		s.opts.Metrics.reconnected(s.cfg.ClusterID)
	}
	s.mu.Unlock()
	s.log.Info("kube source: watches replaced", "why", why, "sync", time.Since(start).Round(time.Millisecond))
	s.deb.Trigger()
	// The old informers may take a while to wind down (a reflector in the
	// middle of a request); Run waits for them before it returns.
	oldCancel()
	s.retiring.Go(func() {
		t := time.Now()
		old.shutdown()
		s.log.Debug("kube source: old watches stopped", "after", time.Since(t).Round(time.Millisecond))
	})
}

// restart replaces every Secret watch with a new one; a new watch that has
// not synced within d is dropped and the old one kept.
func (w *secretWatches) restart(ctx context.Context, d time.Duration) {
	old := w.watches
	w.watches = make(map[secretRef]*secretWatch, len(old))
	fresh := make([]*secretWatch, 0, len(old))
	for ref := range old {
		sw := w.start(ref)
		w.watches[ref] = sw
		fresh = append(fresh, sw)
	}
	waitSynced(ctx, fresh, d)
	for ref, sw := range w.watches {
		stop := old[ref]
		if !sw.inf.HasSynced() {
			stop, w.watches[ref] = sw, old[ref]
		}
		close(stop.stop)
		w.retiring.Go(func() { <-stop.done })
	}
}
