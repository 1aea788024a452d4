package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/debounce"
	"github.com/meshgate/meshgate/discovery/lastgood"
	"github.com/meshgate/meshgate/discovery/model"
)

// Source watches one cluster's API server and publishes its state: each
// MeshState holds one ClusterState, the watched cluster's; objErrs are the
// objects that were skipped, each a *model.FieldError naming object and
// field; err is always nil (API-server trouble is reported through Status,
// and the caller keeps the last state).
type Source struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	health  *health
	kc      kubernetes.Interface
	ic      istioclient.Interface // nil when ServicesOnly
	mc      mcsclient.Interface   // nil unless ServiceExports (or readable: ServiceExportsIfReadable)
	maybeMC mcsclient.Interface   // ServiceExportsIfReadable: the client to try, until Run decides
	askMC   mcsclient.Interface   // ServiceExportsIfReadable: maybeMC outside the health tracker
	gc      *gatewayAPIClient     // nil when ServicesOnly
	probe   func(context.Context) error
	secrets *secretWatches // nil when ServicesOnly
	deb     *debounce.Debouncer
	// firstEvent is when the informers delivered the oldest change not yet
	// rebuilt (unix nanoseconds, 0: none): the published state's ObservedAt.
	firstEvent atomic.Int64
	keeper     *lastgood.Keeper // rebuild's goroutine only
	created    time.Time

	mu             sync.Mutex
	inf            *informerSet // replaced by reconnect
	infCancel      context.CancelFunc
	restarts       int
	restartSecrets bool           // the next rebuild restarts the Secret watches
	retiring       sync.WaitGroup // informer sets replaced by reconnect, winding down
	replacing      sync.Mutex     // held by reconnect: one replacement at a time
	running        bool
	synced         bool
	lastSync       time.Time
	lastHash       string
	lastErrs       string
	services       int
	invalid        int
	published      *model.ClusterState
}

// New checks cfg and opts and creates the source's clients and informers;
// nothing is started before Run.
func New(cfg Config, opts Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.REST == nil {
		return nil, errors.New("kube source: Options.REST is required")
	}
	cfg, opts = withDefaults(cfg, opts)
	s := &Source{
		cfg:     cfg,
		opts:    opts,
		log:     opts.Logger.With("cluster", cfg.ClusterID),
		health:  newHealth(),
		deb:     debounce.New(cfg.Holdoff, cfg.MaxDelay),
		keeper:  lastgood.New(cfg.ClusterID),
		created: time.Now(),
	}
	s.health.onFail = func() { opts.Metrics.apiError(cfg.ClusterID) }
	s.health.onTransition = s.healthChanged
	rc := clientConfig(opts.REST, s.health)
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube source %s: %w", cfg.ClusterID, err)
	}
	s.kc = kc
	if !cfg.ServicesOnly {
		if s.ic, err = istioclient.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("kube source %s: %w", cfg.ClusterID, err)
		}
		if s.gc, err = newGatewayAPIClient(rc, opts.REST); err != nil {
			return nil, fmt.Errorf("kube source %s: %w", cfg.ClusterID, err)
		}
		s.secrets = newSecretWatches(kc, s.health, s.changed)
	}
	var mc mcsclient.Interface
	if cfg.ServiceExports || cfg.ServiceExportsIfReadable {
		if mc, err = mcsclient.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("kube source %s: %w", cfg.ClusterID, err)
		}
	}
	if cfg.ServiceExports {
		s.mc = mc
	} else if cfg.ServiceExportsIfReadable {
		s.maybeMC = mc // Run decides (serviceExportsReadable)
		// the question is asked outside the health tracker: a resource
		// the API server does not serve is no failure of the API server
		if s.askMC, err = mcsclient.NewForConfig(opts.REST); err != nil {
			return nil, fmt.Errorf("kube source %s: %w", cfg.ClusterID, err)
		}
	}
	if s.probe, err = newProbe(opts.REST); err != nil {
		return nil, fmt.Errorf("kube source %s: %w", cfg.ClusterID, err)
	}
	if s.inf, err = newInformerSet(kc, s.ic, s.gc, s.mc, cfg.ServicesOnly, s.changed); err != nil {
		return nil, err
	}
	return s, nil
}

var _ discovery.Source = (*Source)(nil)

// Watch creates a Source and runs it: the Kubernetes counterpart of the
// file source's Watch.
func Watch(ctx context.Context, cfg Config, opts Options, publish discovery.Publish) error {
	s, err := New(cfg, opts)
	if err != nil {
		return err
	}
	return s.Run(ctx, publish)
}

// Run starts the informers, waits for their initial sync (as long as it
// takes: Status reports StateTimeout after SyncTimeout), publishes the
// first state, then publishes again, debounced, after every change that
// alters the state, until ctx is done. publish is never called before the
// initial sync, never concurrently and never after Run returns. Run may be
// called once; it returns nil when ctx is done.
func (s *Source) Run(ctx context.Context, publish discovery.Publish) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return fmt.Errorf("kube source %s: Run called twice", s.cfg.ClusterID)
	}
	s.running = true
	s.created = time.Now() // the sync timeout counts from here
	s.mu.Unlock()
	unregister := s.opts.Metrics.register(s.cfg.ClusterID, s.Status)
	defer unregister()

	if s.maybeMC != nil && s.serviceExportsReadable(ctx) {
		// the set made by New has no ServiceExports informer: replace it
		// before it starts
		set, err := newInformerSet(s.kc, s.ic, s.gc, s.maybeMC, s.cfg.ServicesOnly, s.changed)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.inf, s.mc = set, s.maybeMC
		s.mu.Unlock()
	}
	ictx, icancel := context.WithCancel(ctx)
	s.mu.Lock()
	inf := s.inf
	s.infCancel = icancel
	s.mu.Unlock()
	inf.start(ictx.Done())
	defer func() { // the informer set in use then: reconnect may have replaced it
		s.mu.Lock()
		inf, cancel := s.inf, s.infCancel
		s.mu.Unlock()
		cancel()
		inf.shutdown()
		s.retiring.Wait()
	}()
	if s.secrets != nil {
		defer s.secrets.stopAll()
	}
	s.log.Info("kube source: waiting for the initial sync")
	if !cache.WaitForCacheSync(ctx.Done(), inf.synced...) {
		return nil // ctx done
	}
	s.rebuild(ctx, publish) // marks the source synced as it publishes
	s.log.Info("kube source: synced", "after", time.Since(s.created).Round(time.Millisecond))
	var wg sync.WaitGroup
	defer wg.Wait() // before the informers and Secret watches stop
	if s.cfg.ReconnectProbe > 0 {
		wg.Go(func() { s.reconnectLoop(ctx) })
	}
	if s.gc != nil && s.cfg.GatewayAPIRecheck > 0 {
		wg.Go(func() { s.gatewayAPILoop(ctx) })
	}
	s.deb.Run(ctx, func() { s.rebuild(ctx, publish) })
	return nil
}

// HasSynced reports whether the initial sync completed and the first state
// was published.
func (s *Source) HasSynced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced
}

// Settled reports whether the initial sync completed or SyncTimeout has
// passed since Run started (the cluster is then reported as timeout or
// error, and keeps retrying): readiness waits for Settled, never longer.
func (s *Source) Settled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced || (s.running && time.Since(s.created) > s.cfg.SyncTimeout)
}

// ClusterID is the id of the watched cluster.
func (s *Source) ClusterID() string { return s.cfg.ClusterID }

// Last returns the last published ClusterState (nil before the first). It
// is shared: callers must not modify it.
func (s *Source) Last() *model.ClusterState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.published
}

// Status reports the cluster's condition; it is cheap and safe to call
// concurrently.
func (s *Source) Status() Status {
	failing, lastErr, lastErrAt := s.health.snapshot()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Cluster:        s.cfg.ClusterID,
		Synced:         s.synced,
		LastError:      lastErr,
		LastErrorTime:  lastErrAt,
		LastSyncTime:   s.lastSync,
		Failing:        failing,
		Services:       s.services,
		InvalidObjects: s.invalid,
		Reconnects:     s.restarts,
	}
	switch {
	case len(failing) > 0:
		st.State = StateError
	case s.synced:
		st.State = StateSynced
	case s.running && time.Since(s.created) > s.cfg.SyncTimeout:
		st.State = StateTimeout
	default:
		st.State = StateSyncing
	}
	return st
}

// healthChanged logs transitions and, on recovery, schedules a rebuild so
// that LastSyncTime moves on and nothing missed stays unpublished.
func (s *Source) healthChanged(ok bool) {
	if ok {
		s.log.Info("kube source: API server reachable again")
		s.deb.Trigger()
		return
	}
	_, lastErr, _ := s.health.snapshot()
	s.log.Warn("kube source: API server request failed; keeping the last good state", "err", lastErr)
}

// changed is the informers' event handler: it notes when the oldest
// change of a burst arrived and schedules a rebuild.
func (s *Source) changed() {
	s.firstEvent.CompareAndSwap(0, time.Now().UnixNano())
	s.deb.Trigger()
}

// rebuild converts everything cached and publishes the result if it
// differs from the last published state or error list.
func (s *Source) rebuild(ctx context.Context, publish discovery.Publish) {
	observedAt := time.Now() // a rebuild with no event behind it (recovery, reconnect)
	if first := s.firstEvent.Swap(0); first != 0 {
		observedAt = time.Unix(0, first)
	}
	s.mu.Lock()
	inf, restartSecrets := s.inf, s.restartSecrets
	s.restartSecrets = false
	s.mu.Unlock()
	in := inf.inputs()
	if s.secrets != nil {
		if restartSecrets {
			s.secrets.restart(ctx, secretSyncWait)
		}
		want := map[secretRef]bool{}
		for _, name := range credentialNames(in.Gateways, in.DestinationRules, in.Ingresses) {
			for _, ns := range s.cfg.CredentialNamespaces {
				want[secretRef{ns, name}] = true
			}
		}
		for _, r := range gatewayAPISecrets(in.GatewayAPI.Gateways, in.GatewayAPI.Grants) {
			want[r] = true
		}
		waitSynced(ctx, s.secrets.reconcile(want), secretSyncWait)
		in.Secrets = s.secrets.list()
	}
	// An object whose new version fails conversion keeps its last good
	// version (the API server accepted it; meshgate's validation did not).
	origin := "kube:" + s.cfg.ClusterID
	cs, errs := s.keeper.Cluster(lastgood.Input{Objects: in, DefaultOrigin: origin}, convert.Options{
		ClusterID:    s.cfg.ClusterID,
		Network:      s.network(in),
		DomainSuffix: s.cfg.DomainSuffix,
		Source:       func(model.Kind, string, string) string { return origin },
	}, time.Now())
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	cs.ObservedAt = observedAt // not content: Hash leaves it out
	hash, errKey := cs.Hash(), errorsKey(errs)

	s.mu.Lock()
	if s.health.healthy() {
		s.lastSync = time.Now()
	}
	// rebuild runs only after the initial sync: Status says synced from
	// the first publish on (set before publish, so that a caller that sees
	// the state also sees the status).
	s.synced = true
	changed := hash != s.lastHash || errKey != s.lastErrs
	prev := s.published
	if changed {
		s.lastHash, s.lastErrs = hash, errKey
		s.services, s.invalid = len(cs.Services), len(errs)
		s.published = cs
	}
	s.mu.Unlock()
	if !changed {
		return
	}
	s.logChanges(prev, cs, errs)
	// Each rejected object is logged by the consumer (once while it stays
	// rejected, with the object and field).
	publish(&model.MeshState{MeshID: s.cfg.MeshID, LocalCluster: s.cfg.ClusterID, Clusters: []*model.ClusterState{cs}}, errs, nil)
	s.opts.Metrics.published(s.cfg.ClusterID, observedAt)
}

// logChanges says what a rebuild changed, per kind: at info when routing
// configuration changed (Gateways, VirtualServices, DestinationRules,
// ServiceEntries, Secrets), else (endpoints, services) at debug.
func (s *Source) logChanges(prev, cs *model.ClusterState, errs []error) {
	ch := model.CompareClusters(prev, cs)
	stale := 0
	for _, e := range errs {
		var r *discovery.Rejection
		if errors.As(e, &r) && r.Kept {
			stale++
		}
	}
	level := slog.LevelDebug
	if prev == nil || ch.Only(model.KindGateway, model.KindVirtualService, model.KindDestinationRule, model.KindServiceEntry, model.KindSecret).Changed() {
		level = slog.LevelInfo
	}
	s.log.Log(context.Background(), level, "kube source: state changed", "objects", ch.String(), "stale", stale, "rejected", len(errs)-stale)
}

// network is Config.Network, else the topology.istio.io/network label of
// the system namespace.
func (s *Source) network(in convert.Inputs) string {
	if s.cfg.Network != "" {
		return s.cfg.Network
	}
	for _, ns := range in.Namespaces {
		if ns != nil && ns.Name == s.cfg.Namespace {
			return ns.Labels[model.LabelNetwork]
		}
	}
	return ""
}

func errorsKey(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

// serviceExportsReadable lists one ServiceExport (ServiceExportsIfReadable):
// true when that works, false when the API server does not serve them
// (NotFound) or the credentials may not list them (Forbidden). Other
// errors (the API server does not answer) are asked again, every
// ReconnectProbe or second, until ctx ends (false): the informers could
// not sync meanwhile either.
func (s *Source) serviceExportsReadable(ctx context.Context) bool {
	every := max(s.cfg.ReconnectProbe, time.Second)
	for {
		_, err := s.askMC.MulticlusterV1alpha1().ServiceExports("").List(ctx, metav1.ListOptions{Limit: 1})
		switch {
		case err == nil:
			s.log.Info("kube source: ServiceExports are read")
			return true
		case apierrors.IsNotFound(err):
			s.log.Info("kube source: no ServiceExports read (the API server does not serve them)", "cluster", s.cfg.ClusterID)
			return false
		case apierrors.IsForbidden(err):
			// Served, but these credentials may not list them: a remote
			// secret made before its reader was granted ServiceExports.
			s.log.Warn("kube source: the credentials may not list ServiceExports, so this cluster's exports are not read; "+
				"a remote secret made by an older meshgate lacks that grant: run `meshgate create-remote-secret` for this cluster again",
				"cluster", s.cfg.ClusterID)
			return false
		}
		s.log.Warn("kube source: cannot tell whether ServiceExports can be read; asking again", "err", err, "in", every)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(every):
		}
	}
}
