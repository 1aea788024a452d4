package gwstatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"
	gwlisters "sigs.k8s.io/gateway-api/pkg/client/listers/apis/v1"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/model"
)

// DefaultRetryInterval is Config.RetryInterval's default.
const DefaultRetryInterval = 10 * time.Second

// Config is a Writer's configuration. ClusterID is required.
type Config struct {
	// ClusterID is the local cluster: whose status is written.
	ClusterID string
	// RetryInterval is how soon a reconcile that failed is tried again
	// without any new event. Default DefaultRetryInterval.
	RetryInterval time.Duration
	// RecheckInterval is how often Run asks the API server which Gateway
	// API kinds it serves (one discovery request), to write the status of
	// kinds whose CRDs were installed after it started. Default
	// DefaultRecheckInterval.
	RecheckInterval time.Duration
}

// DefaultRecheckInterval is Config.RecheckInterval's default (that of the
// Kubernetes source's kube.DefaultGatewayAPIRecheck).
const DefaultRecheckInterval = 30 * time.Second

// Options are a Writer's collaborators. REST is required.
type Options struct {
	REST   *rest.Config
	Logger *slog.Logger // default slog.Default()
	// Registerer, if set, receives meshgate_gatewayapi_status_writes_total.
	Registerer prometheus.Registerer
}

// Writer writes the local cluster's Gateway API status.
type Writer struct {
	cfg    Config
	log    *slog.Logger
	client gwclient.Interface
	dc     discovery.DiscoveryInterface
	writes *prometheus.CounterVec
	now    func() metav1.Time

	kick chan struct{}
	mu   sync.Mutex
	want *model.GatewayAPIStatus // newest, from Update
	have bool                    // Update was called with a local cluster
}

// New creates a Writer; nothing runs before Run.
func New(cfg Config, opts Options) (*Writer, error) {
	if cfg.ClusterID == "" {
		return nil, errors.New("gateway api status: ClusterID is required")
	}
	if opts.REST == nil {
		return nil, errors.New("gateway api status: Options.REST is required")
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.RecheckInterval <= 0 {
		cfg.RecheckInterval = DefaultRecheckInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c, err := gwclient.NewForConfig(opts.REST)
	if err != nil {
		return nil, fmt.Errorf("gateway api status: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(opts.REST)
	if err != nil {
		return nil, fmt.Errorf("gateway api status: %w", err)
	}
	w := &Writer{cfg: cfg, log: opts.Logger, client: c, dc: dc, kick: make(chan struct{}, 1), now: metav1.Now,
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_gatewayapi_status_writes_total",
			Help: "Writes of Gateway API status subresources, by kind and result (ok, stale, error)."}, []string{"kind", "result"})}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(w.writes); err != nil {
			return nil, fmt.Errorf("gateway api status: register metrics: %w", err)
		}
	}
	return w, nil
}

// Update hands the writer the newest mesh state; only its local cluster's
// GatewayAPIStatus is read. It never blocks; m is not modified.
func (w *Writer) Update(m *model.MeshState) {
	local := m.Cluster(w.cfg.ClusterID)
	if local == nil {
		return
	}
	w.mu.Lock()
	w.want, w.have = local.GatewayAPIStatus, true
	w.mu.Unlock()
	w.wake()
}

func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// listers are the caches of one Run.
type listers struct {
	classes  gwlisters.GatewayClassLister
	gateways gwlisters.GatewayLister
	http     gwlisters.HTTPRouteLister
	grpc     gwlisters.GRPCRouteLister
	tls      gwlisters.TLSRouteLister
	tcp      gwlisters.TCPRouteLister
}

// Run runs informers on the Gateway API kinds the API server serves and
// the reconcile loop until ctx ends; it returns nil then, or an error when
// the caches never sync. Every RecheckInterval it asks the API server
// again which kinds it serves: when they changed (CRDs installed or
// removed), the informers are replaced by a set for the kinds served now,
// so CRDs installed after Run started are written without a restart. Each
// Run makes its own informers, so a Writer may run again after a Run ended
// (a new leadership term).
func (w *Writer) Run(ctx context.Context) error {
	var last []string
	logged := false
	for {
		served, err := w.served()
		switch {
		case err != nil:
			// an API server that does not answer now is no reason to stop the daemon
			w.log.Warn("gateway api status: cannot ask the API server what it serves; retrying", "err", err, "in", w.cfg.RetryInterval)
			if !sleep(ctx, w.cfg.RetryInterval) {
				return nil
			}
			continue
		case len(served) == 0:
			if !logged {
				w.log.Info("gateway api status: the API server serves no gateway.networking.k8s.io/v1 kind; asking again", "every", w.cfg.RecheckInterval)
				logged = true
			}
			if !sleep(ctx, w.cfg.RecheckInterval) {
				return nil
			}
			continue
		}
		logged = false
		if last != nil {
			w.log.Info("gateway api status: the kinds served changed; new informers", "served", served, "before", last)
		}
		last = served
		if err := w.runServed(ctx, served); err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// statusResources are the Gateway API resources whose status is written.
var statusResources = []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes", "tcproutes"}

// served returns the resources of statusResources the API server serves at
// v1 (none, without error, when it serves no such group version).
func (w *Writer) served() ([]string, error) {
	return kube.ServedResources(w.dc, convert.GatewayAPIGroup+"/v1", statusResources)
}

// runServed runs informers on the kinds served and the reconcile loop
// until ctx ends (nil) or a recheck finds the kinds served changed (nil,
// ctx not done).
func (w *Writer) runServed(ctx context.Context, kinds []string) error {
	served := map[string]bool{}
	for _, r := range kinds {
		served[r] = true
	}
	factory := gwinformers.NewSharedInformerFactory(w.client, 0)
	defer factory.Shutdown()
	v1 := factory.Gateway().V1()
	var l listers
	var synced []cache.InformerSynced
	add := func(resource string, inf cache.SharedIndexInformer, set func()) error {
		if !served[resource] {
			return nil
		}
		set()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { w.wake() }, UpdateFunc: func(any, any) { w.wake() }, DeleteFunc: func(any) { w.wake() },
		}); err != nil {
			return err
		}
		synced = append(synced, inf.HasSynced)
		return nil
	}
	for _, k := range []struct {
		resource string
		inf      cache.SharedIndexInformer
		set      func()
	}{
		{"gatewayclasses", v1.GatewayClasses().Informer(), func() { l.classes = v1.GatewayClasses().Lister() }},
		{"gateways", v1.Gateways().Informer(), func() { l.gateways = v1.Gateways().Lister() }},
		{"httproutes", v1.HTTPRoutes().Informer(), func() { l.http = v1.HTTPRoutes().Lister() }},
		{"grpcroutes", v1.GRPCRoutes().Informer(), func() { l.grpc = v1.GRPCRoutes().Lister() }},
		{"tlsroutes", v1.TLSRoutes().Informer(), func() { l.tls = v1.TLSRoutes().Lister() }},
		{"tcproutes", v1.TCPRoutes().Informer(), func() { l.tcp = v1.TCPRoutes().Lister() }},
	} {
		if err := add(k.resource, k.inf, k.set); err != nil {
			return fmt.Errorf("gateway api status: %w", err)
		}
	}
	// this set's informers stop when runServed returns (ctx ended, or the
	// kinds served changed): stop is closed before Shutdown waits for them
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("gateway api status: caches did not sync")
	}
	w.wake()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	recheck := time.NewTicker(w.cfg.RecheckInterval)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-recheck.C:
			if now, err := w.served(); err == nil && !slices.Equal(now, kinds) {
				return nil // Run makes informers for the kinds served now
			}
			continue
		case <-w.kick:
		case <-retry.C:
		}
		w.mu.Lock()
		want, have := w.want, w.have
		w.mu.Unlock()
		if !have {
			continue // no state yet: nothing is known about any object
		}
		if err := w.reconcile(ctx, &l, want); err != nil && ctx.Err() == nil {
			w.log.Warn("gateway api status: writes incomplete; retrying", "err", err, "in", w.cfg.RetryInterval)
			retry.Reset(w.cfg.RetryInterval)
		}
	}
}

// errStale is a write that lost a race with the cache: the event that
// updates the cache wakes the loop again.
var errStale = errors.New("stale cache")

func (w *Writer) count(kind string, err error) error {
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		w.writes.WithLabelValues(kind, "stale").Inc()
		return errStale
	case err != nil:
		w.writes.WithLabelValues(kind, "error").Inc()
		return fmt.Errorf("%s status: %w", kind, err)
	}
	w.writes.WithLabelValues(kind, "ok").Inc()
	return nil
}

// reconcile writes want (nil: no status of ours anywhere) over the cached
// objects. Every failed write is in the returned error.
func (w *Writer) reconcile(ctx context.Context, l *listers, want *model.GatewayAPIStatus) error {
	if want == nil {
		want = &model.GatewayAPIStatus{}
	}
	now := w.now()
	var errs []error
	fail := func(kind, ns, name string, err error) {
		if err != nil && !errors.Is(err, errStale) {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", kind, ns, name, err))
		}
	}
	if l.classes != nil {
		for i := range want.Classes {
			ws := &want.Classes[i]
			cur, err := l.classes.Get(ws.Name)
			if err != nil || cur.Generation != ws.Generation {
				continue // gone, or not the generation the status is of
			}
			st := classStatus(cur.Status, ws, now)
			if equality.Semantic.DeepEqual(st, cur.Status) {
				continue
			}
			u := cur.DeepCopy()
			u.Status = st
			_, err = w.client.GatewayV1().GatewayClasses().UpdateStatus(ctx, u, metav1.UpdateOptions{})
			fail("GatewayClass", "", ws.Name, w.count("GatewayClass", err))
		}
	}
	if l.gateways != nil {
		for i := range want.Gateways {
			ws := &want.Gateways[i]
			cur, err := l.gateways.Gateways(ws.Namespace).Get(ws.Name)
			if err != nil || cur.Generation != ws.Generation {
				continue
			}
			st := gatewayStatus(cur.Status, ws, now)
			if equality.Semantic.DeepEqual(st, cur.Status) {
				continue
			}
			u := cur.DeepCopy()
			u.Status = st
			_, err = w.client.GatewayV1().Gateways(ws.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
			if err = w.count("Gateway", err); err == nil {
				w.log.Info("gateway api status: Gateway status written", "namespace", ws.Namespace, "name", ws.Name,
					"programmed", conditionReason(ws.Conditions, string(gwv1.GatewayConditionProgrammed)))
			}
			fail("Gateway", ws.Namespace, ws.Name, err)
		}
	}
	routes := map[model.Kind]map[string]*model.RouteStatus{}
	for i := range want.Routes {
		r := &want.Routes[i]
		if routes[r.Kind] == nil {
			routes[r.Kind] = map[string]*model.RouteStatus{}
		}
		routes[r.Kind][r.Namespace+"/"+r.Name] = r
	}
	if l.http != nil {
		all, _ := l.http.List(labels.Everything())
		errs = append(errs, reconcileRoutes(ctx, w, convert.KindHTTPRoute, all, routes[convert.KindHTTPRoute], now,
			func(r *gwv1.HTTPRoute) *[]gwv1.RouteParentStatus { return &r.Status.Parents },
			func(ctx context.Context, r *gwv1.HTTPRoute) error {
				_, err := w.client.GatewayV1().HTTPRoutes(r.Namespace).UpdateStatus(ctx, r, metav1.UpdateOptions{})
				return err
			})...)
	}
	if l.grpc != nil {
		all, _ := l.grpc.List(labels.Everything())
		errs = append(errs, reconcileRoutes(ctx, w, convert.KindGRPCRoute, all, routes[convert.KindGRPCRoute], now,
			func(r *gwv1.GRPCRoute) *[]gwv1.RouteParentStatus { return &r.Status.Parents },
			func(ctx context.Context, r *gwv1.GRPCRoute) error {
				_, err := w.client.GatewayV1().GRPCRoutes(r.Namespace).UpdateStatus(ctx, r, metav1.UpdateOptions{})
				return err
			})...)
	}
	if l.tls != nil {
		all, _ := l.tls.List(labels.Everything())
		errs = append(errs, reconcileRoutes(ctx, w, convert.KindTLSRoute, all, routes[convert.KindTLSRoute], now,
			func(r *gwv1.TLSRoute) *[]gwv1.RouteParentStatus { return &r.Status.Parents },
			func(ctx context.Context, r *gwv1.TLSRoute) error {
				_, err := w.client.GatewayV1().TLSRoutes(r.Namespace).UpdateStatus(ctx, r, metav1.UpdateOptions{})
				return err
			})...)
	}
	if l.tcp != nil {
		all, _ := l.tcp.List(labels.Everything())
		errs = append(errs, reconcileRoutes(ctx, w, convert.KindTCPRoute, all, routes[convert.KindTCPRoute], now,
			func(r *gwv1.TCPRoute) *[]gwv1.RouteParentStatus { return &r.Status.Parents },
			func(ctx context.Context, r *gwv1.TCPRoute) error {
				_, err := w.client.GatewayV1().TCPRoutes(r.Namespace).UpdateStatus(ctx, r, metav1.UpdateOptions{})
				return err
			})...)
	}
	return errors.Join(errs...)
}

// route is what reconcileRoutes needs of a route type.
type route[T any] interface {
	*T
	metav1.Object
	DeepCopy() *T
}

// reconcileRoutes writes the parents of ours of every cached route: those
// of want (by namespace/name), or none for a route want does not name.
func reconcileRoutes[T any, P route[T]](ctx context.Context, w *Writer, kind model.Kind, all []P, want map[string]*model.RouteStatus,
	now metav1.Time, parents func(P) *[]gwv1.RouteParentStatus, update func(context.Context, P) error,
) []error {
	var errs []error
	for _, cur := range all {
		ws := want[cur.GetNamespace()+"/"+cur.GetName()]
		var wp []model.RouteParentStatus
		if ws != nil {
			if ws.Generation != cur.GetGeneration() {
				continue // not the generation the status is of
			}
			wp = ws.Parents
		}
		have := *parents(cur)
		st := routeParents(have, wp, cur.GetNamespace(), now)
		if equality.Semantic.DeepEqual(st, have) || (len(st) == 0 && len(have) == 0) {
			continue
		}
		u := P(cur.DeepCopy())
		*parents(u) = st
		err := w.count(string(kind), update(ctx, u))
		if err != nil && !errors.Is(err, errStale) {
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", kind, cur.GetNamespace(), cur.GetName(), err))
		}
	}
	return errs
}

func conditionReason(conds []model.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status + "/" + c.Reason
		}
	}
	return ""
}
