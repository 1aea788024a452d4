package multicluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/discovery/remote"
)

// Config is the Source's configuration: plain values that flags and files
// map onto. ClusterID is required; zero values take the defaults below.
type Config struct {
	// ClusterID names the local cluster. Required.
	ClusterID string
	// Network is the local cluster's network; empty: the label
	// topology.istio.io/network of Namespace (Istio's rule).
	Network string
	// Namespace is the daemon's namespace: its remote secrets, and the
	// system namespace of every cluster. Default kube.DefaultNamespace.
	Namespace string
	// MeshID labels the published MeshState.
	MeshID string
	// DomainSuffix is the cluster DNS domain (default: the kube source's).
	DomainSuffix string
	// CredentialNamespaces are where credentialName Secrets are read.
	// Default: Namespace.
	CredentialNamespaces []string
	// ServiceExports watches the local cluster's Multi-Cluster Services
	// API ServiceExports (kube.Config.ServiceExports), and those of the
	// remote clusters where their reader may list them
	// (remote.Config.ServiceExports); a remote cluster that gives none
	// takes the exports its own daemon gossips (model.WithGossipedExports).
	ServiceExports bool
	// RemoteSyncTimeout bounds how long readiness waits for a remote
	// cluster's initial sync. Default remote.DefaultSyncTimeout.
	RemoteSyncTimeout time.Duration
	// AllowInsecureRemote admits remote secrets with an http:// server,
	// insecure-skip-tls-verify, a proxy-url or no CA data (development
	// only; see remote.Policy).
	AllowInsecureRemote bool
	// Holdoff and MaxDelay debounce every cluster's rebuilds. Defaults
	// kube.DefaultHoldoff and kube.DefaultMaxDelay.
	Holdoff, MaxDelay time.Duration
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Namespace == "" {
		c.Namespace = kube.DefaultNamespace
	}
	if c.RemoteSyncTimeout <= 0 {
		c.RemoteSyncTimeout = remote.DefaultSyncTimeout
	}
	if c.Holdoff <= 0 {
		c.Holdoff = kube.DefaultHoldoff
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = kube.DefaultMaxDelay
	}
	return c
}

// Options are the Source's collaborators (not configuration).
type Options struct {
	// REST is the client configuration of the local API server. Required.
	REST *rest.Config
	// Logger receives the log lines (default slog.Default()); kubeconfigs,
	// tokens and Secret data are never logged.
	Logger *slog.Logger
	// Registerer, when set, receives the local and remote sources' metrics
	// and the remote controller's.
	Registerer prometheus.Registerer
	// Pin receives the trust bundles remote secrets carry (remote.Options.Pin).
	Pin func(clusterID string, bundle []byte)
}

// Source watches the local cluster and the remote clusters of its remote
// secrets and publishes the local state composed with the remote clusters'
// (model.Compose: the local state wins).
type Source struct {
	rest  *rest.Config
	local *kube.Source
	ctl   *remote.Controller
	log   *slog.Logger
	kick  chan struct{} // wakes the publish loop (cap 1)

	localSynced chan struct{} // closed by the first local state
	syncOnce    sync.Once

	mu         sync.Mutex
	ready      bool // the first publish may happen
	localMesh  *model.MeshState
	localErrs  []error
	remotes    map[string]*model.ClusterState
	remoteErrs map[string][]error
}

var _ discovery.Source = (*Source)(nil)

// New builds the source; nothing runs before Run.
func New(cfg Config, opts Options) (*Source, error) {
	if cfg.ClusterID == "" {
		return nil, errors.New("multicluster: ClusterID is required")
	}
	if opts.REST == nil {
		return nil, errors.New("multicluster: Options.REST is required")
	}
	cfg = cfg.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	var m *kube.Metrics
	if opts.Registerer != nil {
		var err error
		if m, err = kube.NewMetrics(opts.Registerer); err != nil {
			return nil, err
		}
	}
	s := &Source{rest: opts.REST, log: log, kick: make(chan struct{}, 1), localSynced: make(chan struct{}),
		remotes: map[string]*model.ClusterState{}, remoteErrs: map[string][]error{}}
	var err error
	s.local, err = kube.New(kube.Config{
		ClusterID:            cfg.ClusterID,
		Network:              cfg.Network,
		Namespace:            cfg.Namespace,
		MeshID:               cfg.MeshID,
		DomainSuffix:         cfg.DomainSuffix,
		CredentialNamespaces: cfg.CredentialNamespaces,
		ServiceExports:       cfg.ServiceExports,
		Holdoff:              cfg.Holdoff,
		MaxDelay:             cfg.MaxDelay,
	}, kube.Options{REST: opts.REST, Logger: log.With("component", "kube"), Metrics: m})
	if err != nil {
		return nil, err
	}
	s.ctl, err = remote.NewController(remote.Config{
		LocalClusterID: cfg.ClusterID,
		Namespace:      cfg.Namespace,
		MeshID:         cfg.MeshID,
		DomainSuffix:   cfg.DomainSuffix,
		SyncTimeout:    cfg.RemoteSyncTimeout,
		AllowInsecure:  cfg.AllowInsecureRemote,
		Holdoff:        cfg.Holdoff,
		MaxDelay:       cfg.MaxDelay,
		ServiceExports: cfg.ServiceExports,
	}, remote.Options{
		Logger:      log.With("component", "remote"),
		Registerer:  opts.Registerer,
		KubeMetrics: m,
		Publish:     s.onRemote,
		Remove:      s.onRemove,
		Pin:         opts.Pin,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Run implements discovery.Source: it watches the local cluster, the remote
// secrets and the remote clusters, and publishes from one goroutine, until
// ctx is done (nil) or a part fails (its error).
func (s *Source) Run(ctx context.Context, publish discovery.Publish) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.ctl.Run(ctx) })
	g.Go(func() error { return s.ctl.WatchSecrets(ctx, s.rest) })
	g.Go(func() error { return s.local.Run(ctx, s.onLocal) })
	// the first publish waits for the local sync and for the remote
	// clusters to settle (bounded by their sync timeout)
	g.Go(func() error {
		select {
		case <-ctx.Done():
			return nil
		case <-s.localSynced:
		}
		if s.ctl.WaitReady(ctx) != nil {
			return nil // ctx done
		}
		s.mu.Lock()
		s.ready = true
		s.mu.Unlock()
		s.log.Info("kubernetes source ready", "remoteClusters", len(s.ctl.Statuses()))
		s.publishLoop(ctx, publish)
		return nil
	})
	return g.Wait()
}

// publishLoop publishes the newest composition after every change until
// ctx is done; it is the only caller of publish.
func (s *Source) publishLoop(ctx context.Context, publish discovery.Publish) {
	for {
		if mesh, errs := s.compose(); mesh != nil {
			publish(mesh, errs, nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		}
	}
}

// compose is the local state with every remote cluster it does not have
// itself, and the object errors of all of them (nil before ready).
func (s *Source) compose() (*model.MeshState, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || s.localMesh == nil {
		return nil, nil
	}
	ids := slices.Sorted(maps.Keys(s.remotes))
	extra := make([]*model.ClusterState, 0, len(ids))
	errs := slices.Clone(s.localErrs)
	for _, id := range ids {
		extra = append(extra, s.remotes[id])
		for _, e := range s.remoteErrs[id] {
			errs = append(errs, fmt.Errorf("remote cluster %s: %w", id, e))
		}
	}
	return model.Compose(s.localMesh, extra), errs
}

func (s *Source) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Source) onLocal(mesh *model.MeshState, objErrs []error, _ error) {
	s.mu.Lock()
	s.localMesh, s.localErrs = mesh, objErrs
	s.mu.Unlock()
	s.syncOnce.Do(func() { close(s.localSynced) })
	s.wake()
}

func (s *Source) onRemote(cs *model.ClusterState, objErrs []error) {
	s.mu.Lock()
	s.remotes[cs.ID] = cs
	s.remoteErrs[cs.ID] = objErrs
	s.mu.Unlock()
	s.wake()
}

func (s *Source) onRemove(id string) {
	s.mu.Lock()
	delete(s.remotes, id)
	delete(s.remoteErrs, id)
	s.mu.Unlock()
	s.wake()
}

// AdminHandlers are mounted on the daemon's admin server: /debug/clusters.
func (s *Source) AdminHandlers() map[string]http.Handler {
	return map[string]http.Handler{"GET /debug/clusters": s.ctl.Handler(s.local.Status)}
}

// SetFederatedSecrets takes the remote secrets federation learned by gossip.
func (s *Source) SetFederatedSecrets(secrets map[string][]byte) {
	if err := s.ctl.ReplaceFederated(secrets); err != nil {
		s.log.Warn("remote secrets from gossip rejected", "err", err)
	}
}

// Controller is the remote-cluster controller (the daemon resolves gossip
// seeds through it; tests inspect it).
func (s *Source) Controller() *remote.Controller { return s.ctl }

// Local is the local cluster's source (tests inspect it).
func (s *Source) Local() *kube.Source { return s.local }
