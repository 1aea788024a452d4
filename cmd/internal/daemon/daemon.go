package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/cmd/internal/ui"
	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/gwstatus"
	"github.com/meshgate/meshgate/discovery/mcs"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/discovery/multicluster"
	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/xds/sds"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/translate"
)

// Daemon is a running `meshgate run`: the source, the xDS server on its
// gRPC listener and the admin HTTP server, and federation when gossip is on.
type Daemon struct {
	cfg        Config
	log        *slog.Logger
	reg        *prometheus.Registry
	xds        *server.Server
	source     discovery.Source
	rest       *rest.Config // the local API server (Kubernetes mode), else nil
	xdsLis     net.Listener
	monLis     net.Listener // monitoring: /metrics, /healthz, /readyz
	admin      *adminAPI    // the privileged admin API
	m          sourceMetrics
	sources    *sourceReport // the source's rejected input: logs, metrics, /debug/sources
	id         *sds.Provider
	mesh       *mesher
	gw         *gatewayHealth                  // probes of other networks' gateways; nil when off
	fed        *federation.Node                // nil without gossip
	fedAuth    *federation.X509Auth            // signs the local cluster's records
	fedStarted chan struct{}                   // closed once Run has started (or skipped, or failed to start) federation
	own        *remote.SecretRenewer           // the gossiped remote secret of this cluster, or nil
	mcs        *mcs.Writer                     // ServiceImports and ServiceExport conditions, or nil
	gwStatus   *gwstatus.Writer                // Gateway API status (Kubernetes mode), or nil
	lead       *leadership                     // leader-elect: this replica's side of the election, or nil
	secure     *securePort                     // the secure xDS port, or nil
	served     atomic.Pointer[model.MeshState] // the mesh last handed to the xDS server (the /ui page)
	startedAt  time.Time
}

// New validates cfg, builds the daemon and binds its listeners. src nil means
// the Kubernetes source (kubeconfig, in-cluster) or the file source on
// cfg.ConfigDir.
func New(cfg Config, log *slog.Logger, src discovery.Source) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, reg: prometheus.NewRegistry(), source: src, fedStarted: make(chan struct{})}
	if err := d.newSource(); err != nil {
		return nil, err
	}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if d.m, err = newSourceMetrics(d.reg); err != nil {
		return nil, err
	}
	if d.sources, err = newSourceReport(log.With("component", "source"), d.reg); err != nil {
		return nil, err
	}
	if d.id, err = sds.New(context.Background(), sds.Config{TrustDomain: cfg.TrustDomain, CACerts: cfg.CACerts,
		CADir: cfg.IdentityCADir, SVIDTTL: cfg.SVIDTTL.D()}, sds.Options{Logger: log.With("component", "identity"), Registerer: d.reg}); err != nil {
		return nil, err
	}
	d.mesh = newMesher()
	if d.gw, err = newGatewayHealth(cfg, d.id.CA(), d.mesh.again, d.mesh.localChanged, log.With("component", "gateway-health"), d.reg); err != nil {
		return nil, err
	}
	d.xds, err = server.New(server.Config{
		ClusterID: cfg.ClusterID,
		Translate: d.translateOptions(),
		Holdoff:   cfg.DebounceHoldoff.D(),
		MaxDelay:  cfg.DebounceMaxDelay.D(),
	}, server.Options{
		Secrets:        d.id,
		EnvoyEndpoints: server.EnvoyEndpoints,
		EnvoyRoutes:    server.EnvoyRoutes,
		Logger:         log.With("component", "xds"),
		Registerer:     d.reg,
	})
	if err != nil {
		return nil, err
	}
	if err := d.newFederation(); err != nil {
		return nil, err
	}
	if cfg.secureAddress() != "" {
		if d.secure, err = newSecurePort(cfg, d.id, d.rest, d.xds, log.With("component", "secure-xds"), d.reg); err != nil {
			return nil, err
		}
	}
	if d.xdsLis, err = net.Listen("tcp", cfg.XDSAddress); err != nil {
		d.closeSecure()
		return nil, fmt.Errorf("xds-address: %w", err)
	}
	if d.monLis, err = net.Listen("tcp", cfg.MonitoringAddress); err != nil {
		d.xdsLis.Close()
		d.closeSecure()
		return nil, fmt.Errorf("monitoring-address: %w", err)
	}
	if d.admin, err = newAdminAPI(cfg, d.id, d.rest, log.With("component", "admin"), d.reg); err != nil {
		d.xdsLis.Close()
		d.monLis.Close()
		d.closeSecure()
		return nil, err
	}
	return d, nil
}

// translateOptions are the translator's options cfg sets.
func (d *Daemon) translateOptions() translate.Options {
	c := d.cfg
	return translate.Options{DomainSuffix: c.DomainSuffix, TrustDomain: c.TrustDomain,
		EnableMySQLFilter: c.EnableMySQLFilter, EnableRedisFilter: c.EnableRedisFilter, EnableQUICListeners: c.EnableQUICListeners,
		DefaultServiceExportTo: c.DefaultServiceExportTo}
}

// newSource builds the source cfg names when New was given none.
func (d *Daemon) newSource() error {
	cfg := d.cfg
	switch {
	case d.source != nil:
	case cfg.Kubeconfig != "" || cfg.InCluster:
		var err error
		if d.rest, err = restConfig(cfg); err != nil {
			return err
		}
		d.source, err = multicluster.New(multicluster.Config{
			ClusterID:            cfg.ClusterID,
			Network:              cfg.Network,
			Namespace:            cfg.Namespace,
			MeshID:               cfg.MeshID,
			DomainSuffix:         cfg.DomainSuffix,
			CredentialNamespaces: cfg.CredentialNamespaces,
			RemoteSyncTimeout:    cfg.RemoteSyncTimeout.D(),
			AllowInsecureRemote:  cfg.AllowInsecureRemote,
			ServiceExports:       cfg.MulticlusterServices,
			Holdoff:              cfg.DebounceHoldoff.D(),
			MaxDelay:             cfg.DebounceMaxDelay.D(),
		}, multicluster.Options{REST: d.rest, Logger: d.log, Registerer: d.reg, Pin: d.pinRemote})
		if err != nil {
			return err
		}
		d.gwStatus, err = gwstatus.New(gwstatus.Config{ClusterID: cfg.ClusterID},
			gwstatus.Options{REST: d.rest, Logger: d.log.With("component", "gatewayapi-status"), Registerer: d.reg})
		if err != nil || !cfg.MulticlusterServices {
			return err
		}
		var vipPrefix netip.Prefix
		if cfg.ClusterSetIPCIDR != "" {
			if vipPrefix, err = netip.ParsePrefix(cfg.ClusterSetIPCIDR); err != nil {
				return fmt.Errorf("clusterset-ip-cidr: %w", err)
			}
		}
		d.mcs, err = mcs.New(mcs.Config{ClusterID: cfg.ClusterID, ClusterSetIPPrefix: vipPrefix},
			mcs.Options{REST: d.rest, Logger: d.log.With("component", "mcs"), Registerer: d.reg})
		return err
	default:
		met, err := file.NewMetrics(d.reg) // the source stage of convergence
		if err != nil {
			return err
		}
		d.source = file.Source{Config: file.Config{Paths: []string{cfg.ConfigDir}, ClusterID: cfg.ClusterID,
			Network: cfg.Network, DomainSuffix: cfg.DomainSuffix}, Options: file.Options{Logger: d.log.With("component", "file"), Metrics: met}}
	}
	return nil
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

// newFederation builds the gossip node when gossip-address is set (Run runs
// it) and, in Kubernetes mode with remote-secret-server, the renewer of the
// remote secret it gossips. The records it publishes are signed with a key
// that the CA certifies for this cluster (renewed at half life by Run).
func (d *Daemon) newFederation() error {
	g := d.cfg.GossipConfig
	if g.BindAddress == "" {
		return nil
	}
	log := d.log.With("component", "federation")
	fc := federation.DefaultConfig()
	fc.BindAddr, fc.AdvertiseAddr, fc.Seeds = g.BindAddress, g.AdvertiseAddress, g.Join
	fc.MeshID, fc.ClusterID = g.MeshID, d.cfg.ClusterID
	fc.ExportMode = d.cfg.ExportMode
	fc.KeyringFile, fc.Insecure = g.KeyringFile, g.Insecure
	if g.FailStaticWindow > 0 {
		fc.FailStaticWindow = g.FailStaticWindow.D()
	}
	if g.SyncTimeout > 0 {
		fc.SyncTimeout = g.SyncTimeout.D()
	}
	fc.TrustPinsFile, fc.NodeNameFile = g.TrustPinsFile, g.NameFile
	fc.AdmitClusters, fc.AdmitAnyCluster = g.AdmitClusters, g.AdmitAnyCluster
	fc.Elected = g.LeaderElect
	if len(g.TrustPins) > 0 {
		fc.TrustPins = map[string][]byte{}
		for _, p := range g.TrustPins {
			cluster, path, _ := strings.Cut(p, "=") // Validate checked the form
			pem, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("trust-pin %s: %w", p, err)
			}
			fc.TrustPins[cluster] = pem
		}
	}
	if g.TrustPinsFile == "" {
		log.Warn("federation: trust pins are kept in memory only: after a restart, remote clusters admitted by id only " +
			"(admit-cluster, without trust-pin or a remote secret's trust bundle) are pinned again at first contact; set trust-pins-file")
	}
	auth, err := federation.NewX509Auth(d.id.CA(), d.cfg.ClusterID, federation.DefaultSigningTTL)
	if err != nil {
		return fmt.Errorf("federation: %w", err)
	}
	// members shows each cluster's last convergence as the xDS server measured it
	opts := federation.Options{Logger: log, Registerer: d.reg, Auth: auth, Convergence: d.xds.LastConvergence}
	if d.gw != nil { // a dead peer whose gateways still answer keeps its endpoints
		opts.DataPlaneServing = func(c *model.ClusterState) bool { return d.gw.serving(c.NetworkGateways) }
	}
	// The sealing key comes from the CA key, which replicas share: every
	// replica opens the remote secrets sealed for the cluster.
	if seed, err := d.id.CA().DeriveSecret("federation sealing key"); err != nil {
		log.Warn("the remote-secret sealing key is made at each start: only the leading replica will open other clusters' remote secrets", "err", err)
	} else {
		opts.SealingSeed = seed
	}
	ms, kube := d.source.(*multicluster.Source)
	if kube {
		opts.SeedSource = ms.Controller().PeerSeeds // join through remote secrets
		ms.Controller().SetPublishers(d.publishers) // /debug/clusters names each cluster's leader
	}
	n, err := federation.New(fc, opts)
	if err != nil {
		return fmt.Errorf("federation: %w", err)
	}
	if d.cfg.IdentityCADir == "" && d.cfg.CACerts == "" {
		log.Warn("federation: the CA is ephemeral: after a restart this cluster's records are signed under a new CA, " +
			"which peers that pinned the previous one reject until they restart; set ca-dir or cacerts")
	}
	n.Subscribe(d.mesh.setRemote)
	// explain says how each remote cluster was learned, or why it is gone
	d.xds.SetHistory(n.History)
	d.mesh.ready = n.Synced() // serve gateways once the mesh is learned (or the sync timeout passed)
	d.fed, d.fedAuth = n, auth
	if g.LeaderElect {
		if err := d.newElection(log); err != nil {
			return err
		}
	}
	if kube && d.cfg.RemoteSecretServer != "" {
		d.own, err = remote.NewSecretRenewer(remote.RenewerConfig{Cluster: d.cfg.ClusterID, Namespace: d.cfg.Namespace,
			Server: d.cfg.RemoteSecretServer, TTL: d.cfg.RemoteSecretTTL.D()},
			remote.RenewerOptions{REST: d.rest, Logger: log, Changed: d.mesh.localChanged})
	}
	return err
}

// pinRemote makes the trust bundle a remote secret carries its cluster's
// federation pin (an operator pin: the operator applied the secret). The
// remote controller calls it from its secret watch, once Run runs.
func (d *Daemon) pinRemote(cluster string, bundle []byte) {
	if d.fed == nil {
		return
	}
	if err := d.fed.Pin(cluster, bundle); err != nil {
		d.log.Error("federation: cannot pin the trust bundle of a remote secret", "remoteCluster", cluster, "err", err)
	}
}

// XDSAddr and MonitoringAddr are the bound addresses; AdminAddr is
// HOST:PORT or unix:PATH.
func (d *Daemon) XDSAddr() string        { return d.xdsLis.Addr().String() }
func (d *Daemon) MonitoringAddr() string { return d.monLis.Addr().String() }
func (d *Daemon) AdminAddr() string      { return d.admin.addr() }

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

// Run serves until ctx is done or a part fails, then shuts down gracefully:
// no new connections, every xDS stream closed, the admin server drained.
// Every long-running part (federation, the remote secret renewer, the xDS
// server, identity renewal, gRPC (plaintext and secure), admin HTTP, the
// source) runs in one
// errgroup; the first real error stops the others and is returned. A clean
// stop (ctx done) returns nil.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("meshgate starting", "xds", d.XDSAddr(), "monitoring", d.MonitoringAddr(), "admin", d.AdminAddr(), "admin-authn", d.admin.auth != nil, "config-dir", d.cfg.ConfigDir,
		"kubeconfig", d.cfg.Kubeconfig, "in-cluster", d.cfg.InCluster, "cluster", d.cfg.ClusterID, "network", d.cfg.Network,
		"secure-xds", d.SecureXDSAddr())
	if !isLoopback(d.cfg.XDSAddress) {
		d.log.Warn("plaintext xDS is served off loopback (insecure-xds): any client that reaches it can claim any identity and get its keys", "xds", d.XDSAddr())
	}
	gs := grpc.NewServer()
	d.xds.Register(gs)
	mon := &http.Server{Handler: d.xds.MonitoringMux(d.reg), ReadHeaderTimeout: 10 * time.Second}
	mux := d.xds.AdminMux()
	mux.Handle("/debug/sources", d.sources)
	d.startedAt = time.Now()
	page := ui.Handler(d.uiState)
	mux.Handle("/ui", page)
	mux.Handle("/ui/", page)
	mux.Handle("/debug/gateways", d.gw.handler())
	// Go's profiles, for whoever may use the admin API (as istiod serves
	// them on its debug port); not the command line. net/http/pprof also
	// registers on http.DefaultServeMux, which nothing here serves
	// (TestTwoSurfaces: the monitoring port has none).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if h, ok := d.source.(adminHandlers); ok {
		for pattern, handler := range h.AdminHandlers() {
			mux.Handle(pattern, handler)
		}
	}
	admin := &http.Server{Handler: d.admin.handler(mux), ReadHeaderTimeout: 10 * time.Second}

	g, gctx := errgroup.WithContext(ctx)
	// Federation first: the source's states are published into it.
	if d.fed != nil {
		mux.Handle("/federation/", d.fed.AdminHandler())
	} else {
		mux.HandleFunc("/federation/", federationOff)
	}
	if d.fed != nil {
		if fs, ok := d.source.(federatedSecrets); ok {
			defer d.fed.OnRemoteSecretsChange(fs.SetFederatedSecrets)()
		}
		g.Go(func() error { return stopped(gctx, "federation", d.fed.Run(gctx)) })
		select {
		case <-d.fed.Started():
			d.log.Info("federation started", "gossip", d.fed.Addr(), "mesh", d.cfg.GossipConfig.MeshID, "seeds", d.cfg.GossipConfig.Join)
		case <-gctx.Done(): // it could not start (or ctx ended first)
			close(d.fedStarted)
			d.xdsLis.Close()
			d.monLis.Close()
			d.admin.lis.Close()
			d.closeSecure()
			return g.Wait()
		}
	}
	close(d.fedStarted)
	if d.fed != nil {
		g.Go(func() error { // the signing certificate of the records, renewed at half life
			federation.RenewSigner(gctx, d.fed, d.fedAuth, d.id.CA(), d.cfg.ClusterID, federation.DefaultSigningTTL)
			return nil
		})
	}
	// The mesher hands states on to the xDS server and federation.
	g.Go(func() error { return stopped(gctx, "mesher", d.mesh.run(gctx, d.serve, d.publishLocal)) })
	if d.gw != nil {
		g.Go(func() error { return stopped(gctx, "gateway probes", d.gw.probe.Run(gctx)) })
	}
	if d.lead != nil { // replicas: only the leader publishes and renews the remote secret
		g.Go(func() error { return stopped(gctx, "leader election", d.lead.el.Run(gctx)) })
	}
	switch {
	case d.own != nil && d.lead != nil:
		g.Go(func() error { return stopped(gctx, "remote secret", d.lead.whileLeading(gctx, d.own.Run)) })
	case d.own != nil:
		g.Go(func() error { return stopped(gctx, "remote secret", d.own.Run(gctx)) })
	}
	switch { // replicas: only the leader writes ServiceImports and ServiceExport conditions
	case d.mcs != nil && d.lead != nil:
		g.Go(func() error { return stopped(gctx, "mcs writer", d.lead.whileLeading(gctx, d.mcs.Run)) })
	case d.mcs != nil:
		g.Go(func() error { return stopped(gctx, "mcs writer", d.mcs.Run(gctx)) })
	}
	switch { // replicas: only the leader writes the Gateway API status
	case d.gwStatus != nil && d.lead != nil:
		g.Go(func() error { return stopped(gctx, "gateway api status", d.lead.whileLeading(gctx, d.gwStatus.Run)) })
	case d.gwStatus != nil:
		g.Go(func() error { return stopped(gctx, "gateway api status", d.gwStatus.Run(gctx)) })
	}
	xdsDone := make(chan struct{})
	g.Go(func() error { defer close(xdsDone); return stopped(gctx, "xds server", d.xds.Run(gctx)) })
	g.Go(func() error { return stopped(gctx, "identity", d.id.Run(gctx, d.xds.SecretsChanged)) })
	g.Go(func() error {
		if err := gs.Serve(d.xdsLis); !errors.Is(err, grpc.ErrServerStopped) {
			return stopped(gctx, "xds-address", err)
		}
		return nil
	})
	if d.secure != nil {
		g.Go(func() error {
			if err := d.secure.serve(); !errors.Is(err, grpc.ErrServerStopped) {
				return stopped(gctx, "secure-xds-address", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		if err := mon.Serve(d.monLis); !errors.Is(err, http.ErrServerClosed) {
			return stopped(gctx, "monitoring-address", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := admin.Serve(d.admin.lis); !errors.Is(err, http.ErrServerClosed) {
			return stopped(gctx, "admin-address", err)
		}
		return nil
	})
	g.Go(func() error {
		err := d.source.Run(gctx, d.publish)
		if err == nil && gctx.Err() == nil {
			err = errors.New("source stopped")
		}
		return stopped(gctx, "configuration source", err)
	})
	g.Go(func() error {
		<-gctx.Done()
		if ctx.Err() != nil {
			d.log.Info("shutting down", "reason", context.Cause(ctx))
		} else {
			d.log.Error("a part of the daemon failed; shutting down", "err", context.Cause(gctx))
		}
		d.shutdown(gs, []*http.Server{mon, admin}, xdsDone)
		return nil
	})
	return g.Wait()
}

// stopped is the result of a part's Run: nil, or a context error once ctx
// has ended (a clean stop), is no error; anything else is named after part.
func stopped(ctx context.Context, part string, err error) error {
	if err == nil || (ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))) {
		return nil
	}
	return fmt.Errorf("%s: %w", part, err)
}

// shutdown stops accepting connections, waits for the xDS server to end
// every stream (its Run returns once ctx is done), and drains the HTTP
// servers (monitoring, admin), within ShutdownTimeout.
func (d *Daemon) shutdown(gs *grpc.Server, web []*http.Server, xdsDone <-chan struct{}) {
	deadline := time.Now().Add(time.Duration(d.cfg.ShutdownTimeout))
	graceful := make(chan struct{})
	go func() { gs.GracefulStop(); close(graceful) }() // closes the listener first
	<-xdsDone                                          // the streams have ended, so GracefulStop can finish
	select {
	case <-graceful:
	case <-time.After(time.Until(deadline)):
		d.log.Warn("graceful stop timed out; closing connections")
		gs.Stop()
	}
	hctx, hcancel := context.WithDeadline(context.Background(), deadline)
	defer hcancel()
	if d.secure != nil {
		d.secure.stop(hctx)
	}
	for _, s := range web {
		if err := s.Shutdown(hctx); err != nil {
			_ = s.Close()
		}
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
// state; rejected input (objErrs; the sources keep the last good version of
// a rejected object) is logged here, once while it persists, with its file
// or cluster and field (the sources log only their reload summaries),
// counted and listed on /debug/sources (sources.go). It runs on the
// source's goroutine (never concurrently) and only records the state for
// the mesher.
func (d *Daemon) publish(mesh *model.MeshState, objErrs []error, err error) {
	if err != nil {
		d.log.Error("configuration load failed; keeping the last good configuration", "err", err)
		d.m.loadFailures.Inc()
		d.sources.failed(err)
		return
	}
	d.sources.loaded(objErrs)
	d.m.objectErrors.Set(float64(len(objErrs)))
	if mesh == nil {
		return
	}
	d.m.loads.Inc()
	// The local cluster publishes its trust domain and CA roots (federation
	// carries them to the other clusters); ROOTCA holds every cluster's roots.
	if local := mesh.Cluster(mesh.LocalCluster); local != nil && local.TrustDomain == "" {
		local.TrustDomain, local.TrustBundle = d.cfg.TrustDomain, d.id.RootsPEM()
	}
	d.mesh.setSource(mesh)
}

// serve hands a composed mesh (source + federation) to the xDS server, with
// the other networks' east-west gateways that do not answer marked
// unreachable (gateways.go: translate leaves them out wherever anything else
// is left); ROOTCA follows the trust bundles of every cluster in it. The
// mesher calls it.
func (d *Daemon) serve(m *model.MeshState) {
	d.sources.checkReferences(m, d.translateOptions())
	if d.id.SetBundles(m.Clusters) {
		d.xds.SecretsChanged()
	}
	if d.mcs != nil {
		d.mcs.Update(m) // ServiceImports and ServiceExport conditions follow the whole mesh
	}
	if d.gwStatus != nil {
		d.gwStatus.Update(m) // the local cluster's Gateway API status
	}
	served := d.gw.apply(m, d.cfg.Network) // without unreachable gateways where anything else is left
	d.xds.Update(served)
	d.served.Store(served)
}

// publishLocal hands the local cluster of the source's state, with the
// gateways this daemon's probes find down, and its remote secret when the
// daemon mints one, to federation. The mesher calls it.
func (d *Daemon) publishLocal(mesh *model.MeshState) {
	if d.fed == nil {
		return
	}
	if local := mesh.Cluster(mesh.LocalCluster); local != nil {
		if report := d.gw.report(); len(report) > 0 {
			cp := *local // what the probes find down travels in the record
			cp.UnreachableGateways = report
			local = &cp
		}
		if err := d.fed.SetLocal(local, d.own.Secret()); err != nil {
			d.log.Error("federation: cannot publish the local cluster", "err", err)
		}
	}
}

// GossipAddr is the federation address once Run has started gossip ("" without).
func (d *Daemon) GossipAddr() string {
	if d.fed == nil {
		return ""
	}
	select {
	case <-d.fed.Started():
		return d.fed.Addr()
	default:
		return ""
	}
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
			Help: "Objects and documents the source rejected in its last load (each logged with object, file and field; see meshgate_config_rejected_objects)."}),
	}
	return m, errors.Join(r.Register(m.loads), r.Register(m.loadFailures), r.Register(m.objectErrors))
}

// NewLogger returns the slog logger cfg asks for (log-level, log-format),
// writing to w; a cfg that fails Validate gets text at info.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	l, err := cliflag.Logger(cfg.LogLevel, cfg.LogFormat, w)
	if err != nil {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return l
}

// SignalContext is done on SIGTERM or SIGINT.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}

// RunUntilSignal runs a daemon until SIGTERM or SIGINT, the whole of
// `meshgate run` after configuration.
func RunUntilSignal(cfg Config, log *slog.Logger, src discovery.Source) error {
	ctx, stop := SignalContext()
	defer stop()
	// client-go's klog and gRPC's grpclog are global: the process (cmd/meshgate,
	// useLogger) points them at its logger once, before anything starts;
	// tests run several daemons at once.
	d, err := New(cfg, log, src)
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
