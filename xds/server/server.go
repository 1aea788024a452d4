package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/log"
	"github.com/envoyproxy/go-control-plane/pkg/server/sotw/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/meshgate/meshgate/discovery/debounce"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// TranslateFunc builds the configuration of one proxy (translate.Translate,
// translate.GRPC, or a test double). It must be pure and safe to call from
// the rebuild goroutine; its non-endpoint output must not depend on
// endpoints (the server skips it when only endpoints changed, see
// model.MeshState.ConfigHash).
type TranslateFunc func(mesh *model.MeshState, proxy translate.Proxy, opts translate.Options) (*translate.Result, error)

// EndpointsFunc builds only the endpoints of one proxy: the fast path for
// endpoint-only changes. clusters are the EDS clusters of the group's last
// full build (the configuration did not change, so neither did they). Same
// contract as TranslateFunc.
type EndpointsFunc func(mesh *model.MeshState, proxy translate.Proxy, opts translate.Options, clusters []string) ([]*endpointv3.ClusterLoadAssignment, error)

// EnvoyEndpoints is the EndpointsFunc of translate.Translate.
func EnvoyEndpoints(mesh *model.MeshState, proxy translate.Proxy, opts translate.Options, clusters []string) ([]*endpointv3.ClusterLoadAssignment, error) {
	eps, err := translate.EndpointsFor(mesh, proxy, opts, clusters)
	if err != nil {
		return nil, err // the proxies keep their last good endpoints (buildEndpoints)
	}
	return eps, nil
}

// Config is a Server's configuration: plain values that flags and files map
// onto. Start from DefaultConfig; a zero field takes its default.
type Config struct {
	// ClusterID is the CLUSTER_ID of nodes that send none. Default
	// "Kubernetes" (Istio's default cluster id).
	ClusterID string
	// Translate are the mesh-wide translation options. Default
	// translate.DefaultOptions() (used when both DomainSuffix and
	// TrustDomain are empty).
	Translate translate.Options
	// Holdoff is the quiet time after a change before a rebuild; MaxDelay
	// caps the wait from the first change of a burst. Defaults 100ms
	// (Istio's PILOT_DEBOUNCE_AFTER) and 1s.
	Holdoff, MaxDelay time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{ClusterID: model.DefaultClusterID, Translate: translate.DefaultOptions(), Holdoff: 100 * time.Millisecond, MaxDelay: time.Second}
}

// Options are a Server's collaborators (not configuration). The zero value
// is usable.
type Options struct {
	// Envoy builds the configuration of Envoy nodes (default translate.Translate).
	Envoy TranslateFunc
	// GRPC builds the configuration of proxyless gRPC nodes, GENERATOR=grpc
	// (default translate.GRPC).
	GRPC TranslateFunc
	// EnvoyEndpoints and GRPCEndpoints, when set, build only the endpoints;
	// the server calls them when only endpoints changed. Unset, it calls the
	// full translator and uses only its Endpoints (nothing else is hashed
	// or published either way).
	EnvoyEndpoints, GRPCEndpoints EndpointsFunc
	// EnvoyRoutes, when set, translates again only the route
	// configurations a VirtualService change touches (EnvoyRoutes, the one
	// of translate.Translate); the server calls it when only
	// VirtualServices changed and falls back to Envoy when it declines.
	// Unset, such a change translates everything again. gRPC nodes always
	// get a full translation.
	EnvoyRoutes RoutesFunc
	// Secrets, when set, adds identity secrets (default, ROOTCA) to every
	// proxy's SDS resources.
	Secrets SecretProvider
	// Logger receives structured logs (default slog.Default()).
	Logger *slog.Logger
	// Registerer receives the metrics (default: a private registry).
	Registerer prometheus.Registerer
}

// withDefaults fills the zero fields of cfg and opts.
func withDefaults(cfg Config, opts Options) (Config, Options) {
	def := DefaultConfig()
	if cfg.ClusterID == "" {
		cfg.ClusterID = def.ClusterID
	}
	if cfg.Translate.DomainSuffix == "" && cfg.Translate.TrustDomain == "" {
		cfg.Translate = def.Translate
	}
	if cfg.Holdoff <= 0 {
		cfg.Holdoff = def.Holdoff
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = def.MaxDelay
	}
	if opts.Envoy == nil {
		opts.Envoy = translate.Translate
	}
	if opts.GRPC == nil {
		opts.GRPC = translate.GRPC
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	return cfg, opts
}

// Server is meshgate's xDS control plane: it serves ADS (state of the world
// and delta) to Envoy gateways and proxyless gRPC clients.
type Server struct {
	cfg     Config
	opts    Options
	log     *slog.Logger
	cpLog   log.Logger
	m       *metrics
	snaps   cache.SnapshotCache
	xds     serverv3.Server
	xdsCtx  context.Context
	stopXDS context.CancelFunc
	deb     *debounce.Debouncer
	ready   atomic.Bool
	streams sync.Map // stream id -> *stream
	// reqs: a state-of-the-world request → what the watch it opens needs,
	// from OnStreamRequest to that watch: what an endpoint request asks for
	// (edsAsk), the *stream of a cluster or listener request.
	reqs sync.Map
	// history, when set (SetHistory), is federation's record of the remote
	// clusters, for explain.
	history atomic.Pointer[func() []model.ClusterProvenance]

	mu           sync.Mutex
	proxies      map[string]*proxy
	groups       map[string]*group
	mesh         *model.MeshState
	meshDirty    bool
	secretsDirty bool
	pendingSince time.Time // arrival of the oldest change not yet built

	// convMu guards lastConv (convergence.go); taken after proxy.mu is
	// released, never with another lock.
	convMu   sync.Mutex
	lastConv map[string]lastConvergence

	// Owned by the rebuild goroutine: the mesh state last built (what the
	// next one is compared with) and the object errors being reported.
	built    *model.MeshState
	differ   differ
	lastErrs map[string]bool
}

// New returns a Server; call Register to serve it on a gRPC server and Run
// to process configuration.
func New(cfg Config, opts Options) (*Server, error) {
	cfg, opts = withDefaults(cfg, opts)
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("xds server metrics: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		opts:    opts,
		log:     opts.Logger,
		m:       m,
		deb:     debounce.New(cfg.Holdoff, cfg.MaxDelay),
		proxies: map[string]*proxy{},
		groups:  map[string]*group{},
	}
	s.cpLog = cpLogger{s.log}
	// ads=false: the cache must answer requests that name a subset of the
	// resources (gRPC clients always do; Envoy does for RDS, EDS and SDS).
	s.snaps = cache.NewSnapshotCache(false, cache.IDHash{}, s.cpLog)
	s.xdsCtx, s.stopXDS = context.WithCancel(context.Background())
	// Ordered ADS: responses leave in the order the caches produce them,
	// which make-before-break relies on.
	s.xds = serverv3.NewServer(s.xdsCtx, muxCache{s}, callbacks{s}, sotw.WithOrderedADS(), sotw.WithLogger(s.cpLog))
	return s, nil
}

// Register adds the aggregated discovery service to g.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// Run rebuilds configuration after changes until ctx is done, then ends every
// xDS stream (so a graceful gRPC stop can complete). It blocks.
func (s *Server) Run(ctx context.Context) error {
	defer s.stopXDS()
	s.deb.Run(ctx, s.rebuild)
	return nil
}

// Update hands the server a new complete mesh state. It never blocks for
// long; the rebuild happens later (debounced) on the Run goroutine.
func (s *Server) Update(mesh *model.MeshState) {
	if mesh == nil {
		return
	}
	s.mu.Lock()
	s.mesh = mesh
	s.meshDirty = true
	if s.pendingSince.IsZero() {
		s.pendingSince = time.Now()
	}
	s.mu.Unlock()
	s.deb.Trigger()
}

// SecretsChanged tells the server that the SecretProvider has new material;
// every group is rebuilt.
func (s *Server) SecretsChanged() {
	s.mu.Lock()
	s.secretsDirty = true
	if s.pendingSince.IsZero() {
		s.pendingSince = time.Now()
	}
	s.mu.Unlock()
	s.deb.Trigger()
}

// Ready reports whether the first complete configuration has been built.
func (s *Server) Ready() bool { return s.ready.Load() }

// rebuild runs on the debouncer goroutine: a full rebuild of every group
// when configuration changed, endpoints only when only endpoints changed, and
// a first build for groups that have none.
func (s *Server) rebuild() {
	s.m.rebuilds.Inc()
	s.mu.Lock()
	mesh, since := s.mesh, s.pendingSince
	meshDirty, secretsDirty := s.meshDirty, s.secretsDirty
	s.meshDirty, s.secretsDirty, s.pendingSince = false, false, time.Time{}
	groups := slices.Collect(maps.Values(s.groups))
	s.mu.Unlock()
	if mesh == nil {
		return // no complete load yet: nothing may be published
	}
	var diff meshDiff
	prevBuilt := s.built
	if meshDirty {
		diff = s.differ.diff(s.built, mesh)
		s.built = mesh
	}
	endpointsOnly := meshDirty && !diff.config && !secretsDirty
	var changedAt change // zero: a first build for a new proxy, not a change
	if meshDirty || secretsDirty {
		changedAt.at = since
	}
	changedAt.origins = originsOf(prevBuilt, mesh)
	start := time.Now()
	errs := map[string]int{}
	var full, eps, routes int
	var installs []func()
	// Translate everything first, report object errors, then publish: a
	// proxy never sees configuration whose problems were not yet reported.
	for _, g := range groups {
		var install func()
		switch {
		case !g.built():
			full++
			install = s.buildGroup(g, mesh, changedAt, errs)
		case endpointsOnly:
			if len(diff.hosts) == 0 {
				continue // nothing this server serves changed (a generation)
			}
			eps++
			install = s.buildEndpoints(g, mesh, diff, changedAt)
		case meshDirty && diff.vs != nil && !secretsDirty:
			var incremental bool
			install, incremental = s.buildRoutes(g, mesh, diff, changedAt, errs)
			if incremental {
				routes++
			} else {
				full++
			}
		case meshDirty || secretsDirty:
			full++
			install = s.buildGroup(g, mesh, changedAt, errs)
		}
		if install != nil {
			installs = append(installs, install)
		}
	}
	everyGroup := (meshDirty && !endpointsOnly) || secretsDirty
	if full > 0 || routes > 0 || everyGroup {
		s.reportObjectErrors(errs, everyGroup)
	}
	// Metrics and readiness first: a proxy that sees the new configuration
	// (installed last) also sees them.
	switch {
	case full > 0:
		s.m.rebuildDuration.WithLabelValues("full").Observe(time.Since(start).Seconds())
	case routes > 0:
		s.m.rebuildDuration.WithLabelValues("routes").Observe(time.Since(start).Seconds())
	case eps > 0:
		s.m.rebuildDuration.WithLabelValues("endpoints").Observe(time.Since(start).Seconds())
	}
	if !s.ready.Swap(true) {
		s.log.Info("first configuration built; ready", "groups", len(groups))
	}
	for _, install := range installs {
		install()
	}
}

func (s *Server) translator(n Node) TranslateFunc {
	if n.Generator == node.GeneratorGRPC {
		return s.opts.GRPC
	}
	return s.opts.Envoy
}

// buildGroup translates the whole configuration of a group and returns what
// installs it (nil after a system error: the group keeps its last good build).
func (s *Server) buildGroup(g *group, mesh *model.MeshState, changedAt change, errs map[string]int) func() {
	res, err := s.translator(g.node)(mesh, g.node.Proxy, s.cfg.Translate)
	if err == nil && res == nil {
		err = errors.New("translator returned no result")
	}
	var b *build
	if err == nil {
		b, err = s.newGroupBuild(g, mesh, res, changedAt)
	}
	if err != nil {
		s.log.Error("translation failed; proxies keep their last good configuration", "group", g.key, "err", err)
		s.m.translateFailures.Inc()
		g.mu.Lock()
		g.lastErr, g.stale = err.Error(), true
		for _, e := range g.objErrs { // still in the configuration being served
			errs[e]++
		}
		g.mu.Unlock()
		return nil
	}
	objErrs := make([]string, 0, len(res.Errors))
	for _, e := range res.Errors {
		msg := mesh.Locate(e).Error()
		errs[msg]++
		objErrs = append(objErrs, msg)
	}
	if len(b.kinds[kListener].items) == 0 && g.node.Generator == "" {
		if g.warnedEmpty.CompareAndSwap(false, true) {
			s.log.Warn("no listeners for these gateways: no Gateway selects their labels (or none translates)",
				"namespace", g.node.Namespace, "labels", g.node.Labels, "network", g.node.Network)
		}
	} else {
		g.warnedEmpty.Store(false)
	}
	return func() {
		g.mu.Lock()
		g.objErrs, g.lastErr, g.stale = objErrs, "", false
		g.mu.Unlock()
		eps := res.Endpoints
		if eps == nil {
			eps = []*endpointv3.ClusterLoadAssignment{} // none: stale ones go
		}
		if err := g.install(b, eps, changedAt); err != nil {
			s.log.Error("installing configuration", "group", g.key, "err", err)
		}
	}
}

func (s *Server) newGroupBuild(g *group, mesh *model.MeshState, res *translate.Result, changedAt change) (*build, error) {
	secrets := asResources(res.Secrets)
	if s.opts.Secrets != nil {
		ids, err := s.opts.Secrets.IdentitySecrets(g.node)
		if err != nil {
			return nil, fmt.Errorf("identity secrets: %w", err)
		}
		secrets = append(secrets, asResources(ids)...)
	}
	var byKind [numKinds][]types.Resource
	byKind[kCluster] = asResources(res.Clusters)
	byKind[kListener] = asResources(res.Listeners)
	byKind[kRoute] = asResources(res.Routes)
	byKind[kSecret] = secrets
	b, err := newBuild(byKind, changedAt)
	if err != nil {
		return nil, err
	}
	b.routeDeps, b.listenerClusters = depsOf(mesh, res.RouteDeps), res.ListenerClusters
	return b, nil
}

// endpoints recomputes the endpoint resources of g that depend on the
// endpoints that changed (d), with the fast path of g's generator (names are those
// resources; nil means every endpoint resource: the full translator ran).
func (s *Server) endpoints(g *group, mesh *model.MeshState, d meshDiff) (eps []*endpointv3.ClusterLoadAssignment, names []string, err error) {
	n := g.node
	fast := s.opts.EnvoyEndpoints
	if n.Generator == node.GeneratorGRPC {
		fast = s.opts.GRPCEndpoints
	}
	if names, ok := g.endpointNames(d.hosts, d.allHosts); fast != nil && ok {
		if len(names) == 0 {
			return nil, names, nil
		}
		eps, err := fast(mesh, n.Proxy, s.cfg.Translate, names)
		return eps, names, err
	}
	res, err := s.translator(n)(mesh, n.Proxy, s.cfg.Translate)
	if err == nil && res == nil {
		err = errors.New("translator returned no result")
	}
	if err != nil {
		return nil, nil, err
	}
	if res.Endpoints == nil {
		return []*endpointv3.ClusterLoadAssignment{}, nil, nil
	}
	return res.Endpoints, nil, nil
}

// buildEndpoints computes a group's endpoints that depend on d and
// returns what installs them.
func (s *Server) buildEndpoints(g *group, mesh *model.MeshState, d meshDiff, changedAt change) func() {
	eps, names, err := s.endpoints(g, mesh, d)
	if err != nil {
		s.log.Error("endpoint translation failed; proxies keep their last good endpoints", "group", g.key, "err", err)
		s.m.translateFailures.Inc()
		return nil
	}
	if names != nil && len(names) == 0 {
		return nil // none of the group's clusters uses these hosts
	}
	return func() {
		var err error
		if names == nil {
			err = g.install(nil, eps, changedAt)
		} else {
			err = g.installEndpoints(eps, names, changedAt)
		}
		if err != nil {
			s.log.Error("installing endpoints", "group", g.key, "err", err)
		}
	}
}

// reportObjectErrors logs each distinct object error once while it
// persists (not once per group or per rebuild) and counts it per rebuild.
// complete says every group was rebuilt, so errors absent now are resolved.
func (s *Server) reportObjectErrors(errs map[string]int, complete bool) {
	if s.lastErrs == nil {
		s.lastErrs = map[string]bool{}
	}
	for _, e := range slices.Sorted(maps.Keys(errs)) {
		s.m.objectErrors.Inc()
		if !s.lastErrs[e] {
			s.log.Warn("configuration object skipped", "err", e, "groups", errs[e])
		}
	}
	if complete {
		for e := range s.lastErrs {
			if _, ok := errs[e]; !ok {
				s.log.Info("configuration object error resolved", "err", e)
				delete(s.lastErrs, e)
			}
		}
	}
	for e := range errs {
		s.lastErrs[e] = true
	}
	s.m.objectErrorsCurrent.Set(float64(len(s.lastErrs)))
}

// cpLogger sends go-control-plane's logs to slog; its chatty Info level
// becomes Debug. Messages are formatted only when their level is enabled
// (go-control-plane logs maps on every watch).
type cpLogger struct{ l *slog.Logger }

func (c cpLogger) log(level slog.Level, f string, a []any) {
	if c.l.Enabled(context.Background(), level) {
		c.l.Log(context.Background(), level, fmt.Sprintf(f, a...), "component", "go-control-plane")
	}
}

func (c cpLogger) Debugf(f string, a ...any) { c.log(slog.LevelDebug, f, a) }
func (c cpLogger) Infof(f string, a ...any)  { c.log(slog.LevelDebug, f, a) }
func (c cpLogger) Warnf(f string, a ...any)  { c.log(slog.LevelWarn, f, a) }
func (c cpLogger) Errorf(f string, a ...any) { c.log(slog.LevelError, f, a) }
