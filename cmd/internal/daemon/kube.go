package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/discovery/remote"
)

// KubeSource watches the local cluster's API server (discovery/kube) and
// the remote clusters its remote secrets name (discovery/remote), and
// publishes the local cluster together with the remote clusters' states.
// Nothing is published before the local initial sync and before every
// remote cluster has settled (synced, or its sync timeout passed).
//
//	local API server ──kube.Source──────────────┐
//	remote secrets ──remote.Controller─(per cluster)─┴─▶ compose ─▶ publish
//	gossiped remote secrets ─SetFederatedSecrets─┘
type KubeSource struct {
	restCfg *rest.Config
	local   *kube.Source
	ctl     *remote.Controller
	log     *slog.Logger

	localSynced chan struct{} // closed by the first local state
	syncOnce    sync.Once

	mu         sync.Mutex
	publish    PublishFunc
	ready      bool
	localMesh  *model.MeshState
	localErrs  []error
	remotes    map[string]*model.ClusterState
	remoteErrs map[string][]error
}

// NewKubeSource builds the Kubernetes source of a daemon from cfg
// (kubeconfig or in-cluster configuration); its metrics go to reg.
func NewKubeSource(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*KubeSource, error) {
	restCfg, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	// client-go logs (informer retries) through klog: send them to the
	// daemon's logger, in its format and level.
	klog.SetSlogLogger(log.With("component", "client-go"))
	m, err := kube.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &KubeSource{restCfg: restCfg, log: log, localSynced: make(chan struct{}),
		remotes: map[string]*model.ClusterState{}, remoteErrs: map[string][]error{}}
	s.local, err = kube.New(kube.Options{
		Config:               restCfg,
		ClusterID:            cfg.ClusterID,
		Network:              cfg.Network,
		Namespace:            cfg.Namespace,
		MeshID:               cfg.MeshID,
		DomainSuffix:         cfg.DomainSuffix,
		CredentialNamespaces: cfg.CredentialNamespaces,
		Holdoff:              cfg.DebounceHoldoff.D(),
		MaxDelay:             cfg.DebounceMaxDelay.D(),
		Logger:               log.With("component", "kube"),
		Metrics:              m,
	})
	if err != nil {
		return nil, err
	}
	s.ctl, err = remote.NewController(remote.Options{
		LocalClusterID: cfg.ClusterID,
		Namespace:      cfg.Namespace,
		MeshID:         cfg.MeshID,
		DomainSuffix:   cfg.DomainSuffix,
		SyncTimeout:    cfg.RemoteSyncTimeout.D(),
		AllowInsecure:  cfg.AllowInsecureRemote,
		Holdoff:        cfg.DebounceHoldoff.D(),
		MaxDelay:       cfg.DebounceMaxDelay.D(),
		Logger:         log.With("component", "remote"),
		Registerer:     reg,
		KubeMetrics:    m,
		Publish:        s.onRemote,
		Remove:         s.onRemove,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func restConfig(cfg Config) (*rest.Config, error) {
	if cfg.InCluster {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster: %w", err)
		}
		return c, nil
	}
	c, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return c, nil
}

// Run implements Source.
func (s *KubeSource) Run(ctx context.Context, publish PublishFunc) error {
	s.mu.Lock()
	s.publish = publish
	s.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { _ = s.ctl.Run(ctx) })
	wg.Go(func() {
		if err := s.ctl.WatchSecrets(ctx, s.restCfg); err != nil {
			s.log.Error("remote secrets: cannot watch", "err", err)
		}
	})
	localErr := make(chan error, 1)
	wg.Go(func() { localErr <- s.local.Run(ctx, s.onLocal) })

	// the first publish waits for the local sync and for the remote clusters
	// to settle (bounded by their sync timeout)
	wg.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-s.localSynced:
		}
		if s.ctl.WaitReady(ctx) != nil {
			return
		}
		s.mu.Lock()
		s.ready = true
		s.pushLocked()
		s.mu.Unlock()
		s.log.Info("kubernetes source ready", "remoteClusters", len(s.ctl.Statuses()))
	})
	select {
	case <-ctx.Done():
		return nil
	case err := <-localErr:
		return err
	}
}

func (s *KubeSource) onLocal(mesh *model.MeshState, objErrs []error, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.localMesh, s.localErrs = mesh, objErrs
	s.syncOnce.Do(func() { close(s.localSynced) })
	s.pushLocked()
}

func (s *KubeSource) onRemote(cs *model.ClusterState, objErrs []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remotes[cs.ID] = cs
	s.remoteErrs[cs.ID] = objErrs
	s.pushLocked()
}

func (s *KubeSource) onRemove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.remotes, id)
	delete(s.remoteErrs, id)
	s.pushLocked()
}

// pushLocked publishes the local state with every remote cluster the local
// state does not have itself (s.mu held: publish is never concurrent).
func (s *KubeSource) pushLocked() {
	if !s.ready || s.localMesh == nil {
		return
	}
	out := s.localMesh
	errs := slices.Clone(s.localErrs)
	for _, id := range slices.Sorted(maps.Keys(s.remotes)) {
		if out.Cluster(id) == nil {
			out = out.WithCluster(s.remotes[id])
		}
		for _, e := range s.remoteErrs[id] {
			errs = append(errs, fmt.Errorf("remote cluster %s: %w", id, e))
		}
	}
	s.publish(out, errs, nil)
}

// AdminHandlers are mounted on the daemon's admin server.
func (s *KubeSource) AdminHandlers() map[string]http.Handler {
	return map[string]http.Handler{"GET /debug/clusters": s.ctl.Handler(s.local.Status)}
}

// SetFederatedSecrets takes the remote secrets federation learned by gossip.
func (s *KubeSource) SetFederatedSecrets(secrets map[string][]byte) {
	if err := s.ctl.ReplaceFederated(secrets); err != nil {
		s.log.Warn("remote secrets from gossip rejected", "err", err)
	}
}

// Controller is the remote-cluster controller (tests inspect it).
func (s *KubeSource) Controller() *remote.Controller { return s.ctl }

// Local is the local cluster's source (tests inspect it).
func (s *KubeSource) Local() *kube.Source { return s.local }
