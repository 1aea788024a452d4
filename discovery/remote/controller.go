package remote

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/model"
)

// SecretSource says where a remote secret came from. When two sources
// define the same cluster, the one listed first here wins.
type SecretSource string

// Sources of remote secrets.
const (
	// SourceKubernetes: a Secret in the daemon's namespace (WatchSecrets).
	SourceKubernetes SecretSource = "kubernetes"
	// SourceFederation: a secret another daemon gossiped.
	SourceFederation SecretSource = "federation"
)

func sourceRank(s SecretSource) int {
	switch s {
	case SourceKubernetes:
		return 0
	case SourceFederation:
		return 1
	}
	return 2
}

// Defaults of Options.
const (
	DefaultNamespace   = kube.DefaultNamespace
	DefaultSyncTimeout = 30 * time.Second
)

// Config is a Controller's configuration: plain values. LocalClusterID is
// required; a zero field takes its default.
type Config struct {
	// LocalClusterID is the daemon's own cluster: a key with this id is
	// ignored. Required.
	LocalClusterID string
	// Namespace is the daemon's namespace, where remote secrets live, and
	// the remote clusters' system namespace (whose topology.istio.io/network
	// label gives their network). Default DefaultNamespace (istio-system).
	Namespace string
	// MeshID and DomainSuffix are passed to each remote cluster's source.
	MeshID, DomainSuffix string
	// SyncTimeout bounds how long readiness waits for a remote cluster's
	// initial sync (it is then reported as timeout, and keeps retrying).
	// Default DefaultSyncTimeout.
	SyncTimeout time.Duration
	// AllowInsecure admits remote secrets whose kubeconfig has an http://
	// server, insecure-skip-tls-verify, a proxy-url or no CA data for an
	// https server (--allow-insecure-remote; development only). Each
	// admission is logged as a warning and counted; without it such keys
	// are rejected like any unsafe key.
	AllowInsecure bool
	// Holdoff and MaxDelay debounce each remote cluster's rebuilds
	// (defaults: the kube source's).
	Holdoff, MaxDelay time.Duration
	// ServiceExports also reads each remote cluster's Multi-Cluster
	// Services API ServiceExports where its API server serves them and the
	// remote secret's reader may list them (kube.Config.
	// ServiceExportsIfReadable; ReaderRules grant it), so that a cluster
	// joined only through its remote secret, with no daemon of its own to
	// gossip them, exports too.
	ServiceExports bool
}

// Options are a Controller's collaborators (not configuration). Publish and
// Remove are required.
type Options struct {
	// Logger (default slog.Default()). Kubeconfigs and tokens are never logged.
	Logger *slog.Logger
	// Registerer, if set, receives the controller's metrics and, unless
	// KubeMetrics is set, the remote clusters' source metrics.
	Registerer prometheus.Registerer
	// KubeMetrics, if set, receives the remote clusters' source metrics
	// (share the local source's).
	KubeMetrics *kube.Metrics
	// Publish receives each new state of a remote cluster (its ID is the
	// secret key). Remove says a remote cluster is gone: its key or secret
	// was deleted. Neither is called concurrently with the other or
	// itself, nor after Run returns.
	Publish func(cs *model.ClusterState, objErrs []error)
	Remove  func(clusterID string)
	// Pin, if set, receives the trust bundle a remote secret from
	// Kubernetes carries for its cluster (AnnotationTrustBundle), each time
	// the secret is set: the daemon makes it that cluster's federation
	// trust pin. Gossiped secrets never pin. It is called from SetSecret,
	// with no lock held, and must not block.
	Pin func(clusterID string, bundle []byte)
}

// withDefaults fills the zero fields of cfg and opts.
func withDefaults(cfg Config, opts Options) (Config, Options) {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return cfg, opts
}

// Controller runs a Kubernetes source (ServicesOnly) per remote cluster
// named by the remote secrets it is given, from the daemon's namespace
// (WatchSecrets) or from Go calls (SetSecret, DeleteSecret,
// ReplaceSecrets). Reloads are make-before-break: a cluster whose
// kubeconfig changed keeps its running watches, and its last state, until
// the new ones have synced.
type Controller struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	metrics *metrics
	kubeM   *kube.Metrics

	publishers atomic.Pointer[func() []Publisher] // SetPublishers: who publishes each cluster, for /debug/clusters

	mu       sync.Mutex
	secrets  map[SecretSource]map[string]*secretEntry // by namespace/name
	clusters map[string]*cluster
	watches  []secretWatch // the WatchSecrets informers
	kick     chan struct{}
	running  bool

	publishMu sync.Mutex     // serialises Publish and Remove
	stopping  sync.WaitGroup // generations stopped but maybe not finished
}

// secretWatch is one WatchSecrets informer.
type secretWatch struct {
	synced  func() bool
	started time.Time
}

// secretEntry is the usable content of one remote secret.
type secretEntry struct {
	ref      string
	clusters map[string]Cluster // by id; a key that turned invalid keeps its last valid value
	errs     map[string]error   // current problems, by key
}

// cluster is one running remote cluster: the generation that publishes and
// possibly a newer one (new kubeconfig) that has not synced yet.
type cluster struct {
	id      string
	source  SecretSource
	current *generation
	next    *generation
	reloads int
}

type generation struct {
	cfg     Cluster
	src     *kube.Source
	cancel  context.CancelFunc
	done    chan struct{}
	started time.Time
	err     error // kube.New failed
}

// NewController checks cfg and opts and returns a Controller; Run starts it.
func NewController(cfg Config, opts Options) (*Controller, error) {
	if cfg.LocalClusterID == "" {
		return nil, errors.New("remote: LocalClusterID is required")
	}
	if opts.Publish == nil || opts.Remove == nil {
		return nil, errors.New("remote: Publish and Remove are required")
	}
	cfg, opts = withDefaults(cfg, opts)
	c := &Controller{
		cfg:      cfg,
		opts:     opts,
		log:      opts.Logger,
		kubeM:    opts.KubeMetrics,
		secrets:  map[SecretSource]map[string]*secretEntry{},
		clusters: map[string]*cluster{},
		kick:     make(chan struct{}, 1),
	}
	if opts.Registerer != nil {
		m, err := newMetrics(opts.Registerer, c)
		if err != nil {
			return nil, err
		}
		c.metrics = m
		if c.kubeM == nil {
			if c.kubeM, err = kube.NewMetrics(opts.Registerer); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// SetSecret adds or replaces a remote secret from source. Every key is a
// cluster id whose value is a kubeconfig. It returns the problems with the
// secret's keys (each a *KubeconfigError naming secret, key and field);
// those keys are skipped, and a cluster whose key turned invalid keeps
// running with its last valid kubeconfig. Safe for concurrent use.
func (c *Controller) SetSecret(source SecretSource, s *corev1.Secret) error {
	clusters, errs := Policy{AllowInsecure: c.cfg.AllowInsecure}.ClustersFromSecret(s)
	ref := secretRef(s)
	c.mu.Lock()
	bySecret := c.secrets[source]
	if bySecret == nil {
		bySecret = map[string]*secretEntry{}
		c.secrets[source] = bySecret
	}
	old := bySecret[ref]
	e := &secretEntry{ref: ref, clusters: map[string]Cluster{}, errs: map[string]error{}}
	for _, cl := range clusters {
		if cl.ID == c.cfg.LocalClusterID {
			c.log.Info("remote: ignoring the key naming the local cluster", "secret", ref, "cluster", cl.ID)
			continue
		}
		e.clusters[cl.ID] = cl
	}
	data := secretData(s)
	for _, err := range errs {
		var ke *KubeconfigError
		if errors.As(err, &ke) {
			e.errs[ke.Key] = err
			if prev, ok := old.lookup(ke.Key); ok {
				if _, still := data[ke.Key]; still {
					e.clusters[ke.Key] = prev // keep the last good kubeconfig
				}
			}
		}
	}
	bySecret[ref] = e
	c.mu.Unlock()
	for _, err := range errs {
		c.log.Warn("remote: rejected remote secret key", "source", source, "err", err)
		reason := ReasonInvalid
		if ke := (*KubeconfigError)(nil); errors.As(err, &ke) {
			reason = ke.reason()
		}
		c.metrics.rejected(source, reason)
	}
	for _, cl := range clusters {
		if source == SourceKubernetes && c.opts.Pin != nil && len(cl.TrustBundle) > 0 && cl.ID != c.cfg.LocalClusterID {
			c.opts.Pin(cl.ID, cl.TrustBundle)
		}
		if len(cl.Insecure) > 0 {
			c.log.Warn("remote: admitting an insecure remote secret key (allow-insecure-remote is set)",
				"source", source, "secret", cl.Secret, "cluster", cl.ID, "server", cl.Server, "fields", cl.Insecure)
			c.metrics.admittedInsecure(source)
		}
	}
	c.trigger()
	return errors.Join(errs...)
}

func (e *secretEntry) lookup(id string) (Cluster, bool) {
	if e == nil {
		return Cluster{}, false
	}
	cl, ok := e.clusters[id]
	return cl, ok
}

// DeleteSecret removes a remote secret; its clusters stop and are removed
// unless another secret defines them. Safe for concurrent use.
func (c *Controller) DeleteSecret(source SecretSource, namespace, name string) {
	c.mu.Lock()
	delete(c.secrets[source], namespace+"/"+name)
	c.mu.Unlock()
	c.trigger()
}

// ReplaceSecrets makes secrets the complete set of remote secrets from
// source (for a source that knows its whole state, such as gossip).
func (c *Controller) ReplaceSecrets(source SecretSource, secrets []*corev1.Secret) error {
	keep := map[string]bool{}
	var errs []error
	for _, s := range secrets {
		keep[secretRef(s)] = true
		if err := c.SetSecret(source, s); err != nil {
			errs = append(errs, err)
		}
	}
	c.mu.Lock()
	for ref := range c.secrets[source] {
		if !keep[ref] {
			delete(c.secrets[source], ref)
		}
	}
	c.mu.Unlock()
	c.trigger()
	return errors.Join(errs...)
}

func (c *Controller) trigger() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run reconciles the running clusters with the secrets until ctx is done,
// then stops every cluster and returns.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("remote: Run called twice")
	}
	c.running = true
	c.mu.Unlock()
	c.trigger()
	for {
		select {
		case <-ctx.Done():
			c.stopAll()
			return nil
		case <-c.kick:
			c.reconcile(ctx)
		}
	}
}

// wanted is the effective kubeconfig of each cluster: the best-ranked
// source, then the first secret by name. conflicts lists the definitions
// that lost (c.mu held).
func (c *Controller) wanted() (out map[string]wantedCluster, conflicts []string) {
	out = map[string]wantedCluster{}
	sources := slices.SortedFunc(maps.Keys(c.secrets), func(a, b SecretSource) int {
		return cmp.Or(cmp.Compare(sourceRank(a), sourceRank(b)), cmp.Compare(a, b))
	})
	for _, src := range sources {
		for _, ref := range slices.Sorted(maps.Keys(c.secrets[src])) {
			for id, cl := range c.secrets[src][ref].clusters {
				if w, dup := out[id]; dup {
					conflicts = append(conflicts, fmt.Sprintf("cluster %s: using %s:%s, ignoring %s:%s", id, w.source, w.cfg.Secret, src, ref))
					continue
				}
				out[id] = wantedCluster{cfg: cl, source: src}
			}
		}
	}
	return out, conflicts
}

type wantedCluster struct {
	cfg    Cluster
	source SecretSource
}

// reconcile starts, reloads and stops clusters to match the secrets.
func (c *Controller) reconcile(ctx context.Context) {
	var removed []string
	var stopped []*generation
	c.mu.Lock()
	want, conflicts := c.wanted()
	for _, msg := range conflicts {
		c.log.Warn("remote: cluster defined by two remote secrets", "conflict", msg)
	}
	for id, cl := range c.clusters {
		if _, ok := want[id]; !ok {
			stopped = append(stopped, cl.current, cl.next)
			delete(c.clusters, id)
			removed = append(removed, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		w := want[id]
		cl := c.clusters[id]
		switch {
		case cl == nil:
			cl = &cluster{id: id, source: w.source}
			cl.current = c.startGeneration(ctx, cl, w.cfg)
			c.clusters[id] = cl
			c.log.Info("remote: cluster added", "cluster", id, "server", w.cfg.Server, "secret", w.cfg.Secret, "source", w.source)
		case cl.next != nil && cl.next.cfg.Hash == w.cfg.Hash:
			// already reloading to this kubeconfig
		case cl.current.cfg.Hash == w.cfg.Hash:
			if cl.next != nil { // back to the running kubeconfig
				stopped = append(stopped, cl.next)
				cl.next = nil
			}
			cl.source = w.source
		default:
			cl.reloads++
			cl.source = w.source
			gen := c.startGeneration(ctx, cl, w.cfg)
			if cl.current.src == nil || !cl.current.src.HasSynced() {
				// nothing good to keep: replace at once
				stopped = append(stopped, cl.current, cl.next)
				cl.current, cl.next = gen, nil
			} else {
				stopped = append(stopped, cl.next)
				cl.next = gen
			}
			c.log.Info("remote: kubeconfig changed; reloading", "cluster", id, "server", w.cfg.Server, "secret", w.cfg.Secret)
		}
	}
	c.mu.Unlock()
	c.stopGenerations(stopped)
	for _, id := range removed {
		c.log.Info("remote: cluster removed", "cluster", id)
		c.publishMu.Lock()
		c.opts.Remove(id)
		c.publishMu.Unlock()
	}
}

// startGeneration starts a source for cfg (c.mu held).
func (c *Controller) startGeneration(ctx context.Context, cl *cluster, cfg Cluster) *generation {
	gen := &generation{cfg: cfg, done: make(chan struct{}), started: time.Now()}
	src, err := kube.New(kube.Config{
		ClusterID:    cl.id,
		Namespace:    c.cfg.Namespace,
		MeshID:       c.cfg.MeshID,
		DomainSuffix: c.cfg.DomainSuffix,
		ServicesOnly: true,
		Holdoff:      c.cfg.Holdoff,
		MaxDelay:     c.cfg.MaxDelay,
		SyncTimeout:  c.cfg.SyncTimeout,

		ServiceExportsIfReadable: c.cfg.ServiceExports,
	}, kube.Options{REST: cfg.Config, Logger: c.log.With("remote", cl.id), Metrics: c.kubeM})
	if err != nil {
		gen.err = fmt.Errorf("remote cluster %s: %w", cl.id, err)
		gen.cancel = func() {}
		close(gen.done)
		c.log.Error("remote: cannot start cluster", "cluster", cl.id, "err", gen.err)
		return gen
	}
	gen.src = src
	gctx, cancel := context.WithCancel(ctx)
	gen.cancel = cancel
	go func() {
		defer close(gen.done)
		_ = src.Run(gctx, func(mesh *model.MeshState, objErrs []error, _ error) {
			c.publish(cl.id, gen, mesh, objErrs)
		})
	}()
	return gen
}

// publish forwards a generation's state if it is the cluster's current
// one, or promotes a pending generation on its first state.
func (c *Controller) publish(id string, gen *generation, mesh *model.MeshState, objErrs []error) {
	c.publishMu.Lock()
	defer c.publishMu.Unlock()
	c.mu.Lock()
	cl := c.clusters[id]
	var old *generation
	switch {
	case cl == nil:
		c.mu.Unlock()
		return // removed
	case cl.current == gen:
	case cl.next == gen:
		old, cl.current, cl.next = cl.current, gen, nil
		c.log.Info("remote: reloaded kubeconfig synced; old watches stopped", "cluster", id)
	default:
		c.mu.Unlock()
		return // a stopped generation
	}
	c.mu.Unlock()
	if old != nil {
		old.cancel() // its Run returns once this publish lock is free
	}
	if len(mesh.Clusters) == 1 {
		c.opts.Publish(mesh.Clusters[0], objErrs)
	}
}

// stopGenerations cancels gens without waiting for them to finish (their
// informers may take a moment to stop; reconcile must not wait): a stopped
// generation's late states are dropped by publish. stopAll waits for them.
func (c *Controller) stopGenerations(gens []*generation) {
	for _, g := range gens {
		if g != nil {
			g.cancel()
			c.stopping.Add(1)
			go func() { defer c.stopping.Done(); <-g.done }()
		}
	}
}

func (c *Controller) stopAll() {
	c.mu.Lock()
	var gens []*generation
	for _, cl := range c.clusters {
		gens = append(gens, cl.current, cl.next)
	}
	c.mu.Unlock()
	c.stopGenerations(gens)
	c.stopping.Wait()
}

// ReplaceFederated makes secrets the complete set of remote secrets learned
// by gossip (federation's RemoteSecrets: cluster id → the remote secret that
// cluster's daemon publishes, as YAML or JSON). A value that is not a
// remote secret of its cluster is reported and skipped.
func (c *Controller) ReplaceFederated(secrets map[string][]byte) error {
	var list []*corev1.Secret
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(secrets)) {
		s, err := ReadRemoteSecret(secrets[id])
		if err == nil && s.Annotations[AnnotationCluster] != id {
			err = fmt.Errorf("remote secret of cluster %s names cluster %q", id, s.Annotations[AnnotationCluster])
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("federation: cluster %s: %w", id, err))
			c.metrics.rejected(SourceFederation, ReasonInvalid)
			continue
		}
		if s.Namespace == "" {
			s.Namespace = c.cfg.Namespace
		}
		list = append(list, s)
	}
	for _, err := range errs {
		c.log.Warn("remote: rejected a gossiped remote secret", "err", err)
	}
	return errors.Join(append(errs, c.ReplaceSecrets(SourceFederation, list))...)
}
