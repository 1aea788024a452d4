package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/translate"
)

// PublishFunc receives a source's complete states: mesh with objErrs (the
// objects that were skipped), or err when nothing could be loaded.
type PublishFunc func(mesh *model.MeshState, objErrs []error, err error)

// Source delivers complete mesh states. Run blocks until ctx is done (nil)
// or the source fails; publish is called from Run's goroutines, never
// concurrently with itself, and must not block for long.
type Source interface {
	Run(ctx context.Context, publish PublishFunc) error
}

// FileSource watches a directory of YAML (discovery/file).
type FileSource struct{ Options file.Options }

// Run implements Source.
func (f FileSource) Run(ctx context.Context, publish PublishFunc) error {
	return file.Watch(ctx, f.Options, publish)
}

// Daemon is a running `meshgate run`: the source, the xDS server on its
// gRPC listener and the admin HTTP server.
type Daemon struct {
	cfg        Config
	log        *slog.Logger
	reg        *prometheus.Registry
	xds        *server.Server
	source     Source
	xdsLis     net.Listener
	adminLis   net.Listener
	m          sourceMetrics
	lastErrs   map[string]bool
	id         *identityProvider
	mesh       *mesher
	fed        *federation.Node // nil without gossip
	fedStarted chan struct{}    // closed once Run has started (or skipped) federation
	own        *ownSecret       // the gossiped remote secret of this cluster, or nil
	secure     *securePort      // the secure xDS port, or nil
}

// New validates cfg, builds the daemon and binds its listeners. src nil means
// the file source on cfg.ConfigDir.
func New(cfg Config, log *slog.Logger, src Source) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, reg: prometheus.NewRegistry(), source: src, lastErrs: map[string]bool{}, fedStarted: make(chan struct{})}
	if d.source == nil && (cfg.Kubeconfig != "" || cfg.InCluster) {
		ks, err := NewKubeSource(cfg, log, d.reg)
		if err != nil {
			return nil, err
		}
		d.source = ks
	}
	if d.source == nil {
		d.source = FileSource{Options: file.Options{Paths: []string{cfg.ConfigDir}, ClusterID: cfg.ClusterID,
			Network: cfg.Network, DomainSuffix: cfg.DomainSuffix}}
	}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if d.m, err = newSourceMetrics(d.reg); err != nil {
		return nil, err
	}
	if d.id, err = newIdentity(context.Background(), cfg, log.With("component", "identity"), d.reg); err != nil {
		return nil, err
	}
	d.mesh = &mesher{update: d.serve}
	d.xds, err = server.New(server.Options{
		ClusterID: cfg.ClusterID,
		Translate: translate.Options{DomainSuffix: cfg.DomainSuffix, TrustDomain: cfg.TrustDomain,
			EnableMySQLFilter: cfg.EnableMySQLFilter, EnableRedisFilter: cfg.EnableRedisFilter, EnableQUICListeners: cfg.EnableQUICListeners},
		Secrets:        d.id,
		EnvoyEndpoints: server.EnvoyEndpoints,
		Holdoff:        time.Duration(cfg.DebounceHoldoff),
		MaxDelay:       time.Duration(cfg.DebounceMaxDelay),
		Logger:         log.With("component", "xds"),
		Registerer:     d.reg,
	})
	if err != nil {
		return nil, err
	}
	if cfg.secureAddress() != "" {
		var restCfg *rest.Config
		if ks, ok := d.source.(*KubeSource); ok {
			restCfg = ks.restCfg
		}
		if d.secure, err = newSecurePort(cfg, d.id, restCfg, d.xds, log.With("component", "secure-xds"), d.reg); err != nil {
			return nil, err
		}
	}
	if d.xdsLis, err = net.Listen("tcp", cfg.XDSAddress); err != nil {
		d.closeSecure()
		return nil, fmt.Errorf("xds-address: %w", err)
	}
	if d.adminLis, err = net.Listen("tcp", cfg.AdminAddress); err != nil {
		d.xdsLis.Close()
		d.closeSecure()
		return nil, fmt.Errorf("admin-address: %w", err)
	}
	return d, nil
}

// XDSAddr and AdminAddr are the bound addresses.
func (d *Daemon) XDSAddr() string   { return d.xdsLis.Addr().String() }
func (d *Daemon) AdminAddr() string { return d.adminLis.Addr().String() }

// SecureXDSAddr is the secure xDS port's bound address ("" without).
func (d *Daemon) SecureXDSAddr() string {
	if d.secure == nil {
		return ""
	}
	return d.secure.addr()
}

func (d *Daemon) closeSecure() {
	if d.secure != nil {
		d.secure.lis.Close()
	}
}

// Server is the xDS server (tests inspect it).
func (d *Daemon) Server() *server.Server { return d.xds }

// Run serves until ctx is done or the source fails, then shuts down
// gracefully: no new connections, every xDS stream closed, the admin server
// drained. A clean stop returns nil.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("meshgate starting", "xds", d.XDSAddr(), "admin", d.AdminAddr(), "config-dir", d.cfg.ConfigDir,
		"kubeconfig", d.cfg.Kubeconfig, "in-cluster", d.cfg.InCluster, "cluster", d.cfg.ClusterID, "network", d.cfg.Network,
		"secure-xds", d.SecureXDSAddr())
	if !isLoopback(d.cfg.XDSAddress) {
		d.log.Warn("plaintext xDS is served off loopback (insecure-xds): any client that reaches it can claim any identity and get its keys", "xds", d.XDSAddr())
	}
	gs := grpc.NewServer()
	d.xds.Register(gs)
	mux := d.xds.AdminMux(d.reg)
	if h, ok := d.source.(adminHandlers); ok {
		for pattern, handler := range h.AdminHandlers() {
			mux.Handle(pattern, handler)
		}
	}
	admin := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var seeds func(context.Context) ([]string, error)
	ks, kube := d.source.(*KubeSource)
	if kube {
		seeds = gossipSeeds(ks.Controller().ClusterConfigs, d.cfg.Namespace, d.log.With("component", "federation"))
	}
	fed, err := startFederation(runCtx, d.cfg, d.log.With("component", "federation"), d.reg, d.mesh, seeds, d.id.ca)
	if err != nil {
		d.adminLis.Close()
		d.xdsLis.Close()
		d.closeSecure()
		return err
	}
	if fed != nil {
		d.fed = fed
		defer fed.Close()
		mux.Handle("/federation/", fed.AdminHandler())
		if fs, ok := d.source.(federatedSecrets); ok {
			defer fed.OnRemoteSecretsChange(fs.SetFederatedSecrets)()
		}
		if kube && d.cfg.RemoteSecretServer != "" {
			d.own = &ownSecret{cfg: ks.restCfg, cluster: d.cfg.ClusterID, namespace: d.cfg.Namespace,
				server: d.cfg.RemoteSecretServer, ttl: d.cfg.RemoteSecretTTL.D(), retry: time.Minute,
				log: d.log.With("component", "federation"), changed: d.republishLocal}
			go d.own.run(runCtx)
		}
	}
	close(d.fedStarted)
	xdsDone := make(chan struct{})
	go func() { _ = d.xds.Run(runCtx); close(xdsDone) }()
	go d.id.run(runCtx, d.xds.SecretsChanged)
	go func() { _ = gs.Serve(d.xdsLis) }()
	if d.secure != nil {
		go func() { _ = d.secure.serve() }()
	}
	go func() { _ = admin.Serve(d.adminLis) }()
	srcErr := make(chan error, 1)
	go func() { srcErr <- d.source.Run(runCtx, d.publish) }()

	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "reason", context.Cause(ctx))
	case err = <-srcErr:
		if err == nil {
			err = errors.New("source stopped")
		}
		err = fmt.Errorf("configuration source: %w", err)
		d.log.Error("configuration source failed; shutting down", "err", err)
	}
	d.shutdown(gs, admin, cancel, xdsDone)
	return err
}

// shutdown stops accepting connections, ends every xDS stream, and drains
// the admin server, within ShutdownTimeout.
func (d *Daemon) shutdown(gs *grpc.Server, admin *http.Server, cancel context.CancelFunc, xdsDone <-chan struct{}) {
	deadline := time.Now().Add(time.Duration(d.cfg.ShutdownTimeout))
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }() // closes the listener first
	cancel()                                          // ends the xDS streams, so GracefulStop can finish
	<-xdsDone
	select {
	case <-stopped:
	case <-time.After(time.Until(deadline)):
		d.log.Warn("graceful stop timed out; closing connections")
		gs.Stop()
	}
	hctx, hcancel := context.WithDeadline(context.Background(), deadline)
	defer hcancel()
	if d.secure != nil {
		d.secure.stop(hctx)
	}
	if err := admin.Shutdown(hctx); err != nil {
		_ = admin.Close()
	}
	d.log.Info("shutdown complete")
}

// adminHandlers is a Source with endpoints of its own on the admin server
// (the Kubernetes source's /debug/clusters).
type adminHandlers interface {
	AdminHandlers() map[string]http.Handler
}

// federatedSecrets is a Source that takes the remote secrets federation
// learns by gossip.
type federatedSecrets interface {
	SetFederatedSecrets(map[string][]byte)
}

// publish takes a source's state: a load that failed keeps the last good
// state; object errors are logged (once while they persist) and counted.
func (d *Daemon) publish(mesh *model.MeshState, objErrs []error, err error) {
	if err != nil {
		d.log.Error("configuration load failed; keeping the last good configuration", "err", err)
		d.m.loadFailures.Inc()
		return
	}
	now := map[string]bool{}
	for _, e := range objErrs {
		now[e.Error()] = true
		if !d.lastErrs[e.Error()] {
			d.log.Warn("configuration object skipped", "err", e)
		}
	}
	d.lastErrs = now
	d.m.objectErrors.Set(float64(len(now)))
	if mesh == nil {
		return
	}
	d.m.loads.Inc()
	// The local cluster publishes its trust domain and CA roots (federation
	// carries them to the other clusters); ROOTCA holds every cluster's roots.
	if local := mesh.Cluster(mesh.LocalCluster); local != nil && local.TrustDomain == "" {
		local.TrustDomain, local.TrustBundle = d.cfg.TrustDomain, d.id.rootsPEM()
	}
	d.mesh.setSource(mesh)
	d.publishLocal(mesh)
}

// publishLocal hands the local cluster (and its remote secret, when the
// daemon mints one) to federation.
func (d *Daemon) publishLocal(mesh *model.MeshState) {
	if d.fed == nil || mesh == nil {
		return
	}
	if local := mesh.Cluster(mesh.LocalCluster); local != nil {
		if err := d.fed.SetLocal(local, d.own.get()); err != nil {
			d.log.Error("federation: cannot publish the local cluster", "err", err)
		}
	}
}

// republishLocal publishes the last source state again (a new remote secret).
func (d *Daemon) republishLocal() {
	d.mesh.mu.Lock()
	m := d.mesh.source
	d.mesh.mu.Unlock()
	d.publishLocal(m)
}

// serve hands a composed mesh (source + federation) to the xDS server; ROOTCA
// follows the trust bundles of every cluster in it.
func (d *Daemon) serve(m *model.MeshState) {
	if d.id.setBundles(m.Clusters) {
		d.xds.SecretsChanged()
	}
	d.xds.Update(m)
}

// GossipAddr is the federation address once Run has started gossip ("" without).
func (d *Daemon) GossipAddr() string {
	select {
	case <-d.fedStarted:
	default:
		return ""
	}
	if d.fed == nil {
		return ""
	}
	return d.fed.Addr()
}

type sourceMetrics struct {
	loads, loadFailures prometheus.Counter
	objectErrors        prometheus.Gauge
}

func newSourceMetrics(r prometheus.Registerer) (sourceMetrics, error) {
	m := sourceMetrics{
		loads: prometheus.NewCounter(prometheus.CounterOpts{Name: "meshgate_source_loads_total",
			Help: "Complete configuration states received from the source."}),
		loadFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "meshgate_source_load_failures_total",
			Help: "Source loads that failed entirely; the last good configuration was kept."}),
		objectErrors: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshgate_source_object_errors",
			Help: "Objects the source skipped in its last load (each logged with object and field)."}),
	}
	return m, errors.Join(r.Register(m.loads), r.Register(m.loadFailures), r.Register(m.objectErrors))
}

// NewLogger returns the slog logger cfg asks for, writing to w.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := cfg.level()
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// SignalContext is done on SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

// RunUntilSignal runs a daemon until SIGTERM or SIGINT, the whole of
// `meshgate run` after configuration.
func RunUntilSignal(cfg Config, log *slog.Logger, src Source) error {
	ctx, stop := SignalContext()
	defer stop()
	d, err := New(cfg, log, src)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
