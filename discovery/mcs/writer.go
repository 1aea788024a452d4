package mcs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
	mcsinformers "sigs.k8s.io/mcs-api/pkg/client/informers/externalversions"
	mcslisters "sigs.k8s.io/mcs-api/pkg/client/listers/apis/v1alpha1"

	"github.com/meshgate/meshgate/discovery/model"
)

// Label and value that mark the ServiceImports meshgate manages.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "meshgate"
)

// DefaultRetryInterval is Config.RetryInterval's default.
const DefaultRetryInterval = 10 * time.Second

// Config is a Writer's configuration. ClusterID is required.
type Config struct {
	// ClusterID is the local cluster: whose ServiceExports get conditions.
	ClusterID string
	// ClusterSetIPPrefix, if valid, is where ClusterSetIP imports get their
	// VIP (spec.ips): model.AllocateClusterSetIPs, the same address in
	// every cluster configured with the same prefix. Unset: no VIP (the
	// gateways answer the clusterset hostname).
	ClusterSetIPPrefix netip.Prefix
	// RetryInterval is how soon a reconcile that failed is tried again
	// without any new event. Default DefaultRetryInterval.
	RetryInterval time.Duration
}

// Options are a Writer's collaborators. REST is required.
type Options struct {
	REST   *rest.Config
	Logger *slog.Logger // default slog.Default()
	// Registerer, if set, receives meshgate_mcs_writes_total.
	Registerer prometheus.Registerer
}

// Writer keeps the local cluster's ServiceImports and ServiceExport
// conditions in line with the newest mesh state.
type Writer struct {
	cfg     Config
	log     *slog.Logger
	client  mcsclient.Interface
	factory mcsinformers.SharedInformerFactory
	exports mcslisters.ServiceExportLister
	imports mcslisters.ServiceImportLister
	synced  []cache.InformerSynced
	writes  *prometheus.CounterVec
	now     func() metav1.Time

	kick chan struct{}
	mu   sync.Mutex
	mesh *model.MeshState // newest, from Update
}

// New creates a Writer; nothing runs before Run.
func New(cfg Config, opts Options) (*Writer, error) {
	if cfg.ClusterID == "" {
		return nil, errors.New("mcs writer: ClusterID is required")
	}
	if opts.REST == nil {
		return nil, errors.New("mcs writer: Options.REST is required")
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c, err := mcsclient.NewForConfig(opts.REST)
	if err != nil {
		return nil, fmt.Errorf("mcs writer: %w", err)
	}
	w := &Writer{cfg: cfg, log: opts.Logger, client: c, kick: make(chan struct{}, 1), now: metav1.Now,
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_mcs_writes_total",
			Help: "Writes of Multi-Cluster Services API objects, by kind, operation and result (ok, error)."}, []string{"kind", "op", "result"})}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(w.writes); err != nil {
			return nil, fmt.Errorf("mcs writer: register metrics: %w", err)
		}
	}
	return w, nil
}

// informers makes the informers of one Run (a stopped informer cannot run
// again: each leadership term gets its own).
func (w *Writer) informers() error {
	w.factory = mcsinformers.NewSharedInformerFactory(w.client, 0)
	se, si := w.factory.Multicluster().V1alpha1().ServiceExports(), w.factory.Multicluster().V1alpha1().ServiceImports()
	w.exports, w.imports, w.synced = se.Lister(), si.Lister(), nil
	for _, inf := range []cache.SharedIndexInformer{se.Informer(), si.Informer()} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { w.wake() }, UpdateFunc: func(any, any) { w.wake() }, DeleteFunc: func(any) { w.wake() },
		}); err != nil {
			return fmt.Errorf("mcs writer: %w", err)
		}
		w.synced = append(w.synced, inf.HasSynced)
	}
	return nil
}

// Update hands the writer the newest mesh state (the composed one: local
// and remote clusters). It never blocks; m is not modified.
func (w *Writer) Update(m *model.MeshState) {
	w.mu.Lock()
	w.mesh = m
	w.mu.Unlock()
	w.wake()
}

func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run runs the informers and the reconcile loop until ctx ends; it returns
// nil then, or an error when the caches never sync. Each Run makes its own
// informers, so a Writer may run again after a Run ended (a new leadership
// term); two Runs must not overlap.
func (w *Writer) Run(ctx context.Context) error {
	if err := w.informers(); err != nil {
		return err
	}
	w.wake() // the newest mesh, written in the previous term or not
	w.factory.Start(ctx.Done())
	defer w.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("mcs writer: caches did not sync")
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		case <-retry.C:
		}
		w.mu.Lock()
		m := w.mesh
		w.mu.Unlock()
		if m == nil {
			continue
		}
		if err := w.Reconcile(ctx, m); err != nil && ctx.Err() == nil {
			w.log.Warn("mcs: reconcile incomplete; retrying", "err", err, "in", w.cfg.RetryInterval)
			retry.Reset(w.cfg.RetryInterval)
		}
	}
}

// Reconcile makes the local cluster's ServiceImports and ServiceExport
// conditions those of m, from the informers' caches (call it from Run's
// goroutine only). Every failed write is in the returned error; the others
// are done.
func (w *Writer) Reconcile(ctx context.Context, m *model.MeshState) error {
	local := m.Cluster(w.cfg.ClusterID)
	if local == nil {
		return nil // no local state yet
	}
	set := model.ClusterSet(m)
	var errs []error
	errs = append(errs, w.reconcileImports(ctx, local, set)...)
	errs = append(errs, w.reconcileExports(ctx, local, set)...)
	return errors.Join(errs...)
}

// count counts a write and wraps its error. A write that lost a race with
// the informers' cache (AlreadyExists, Conflict: the cache lags behind the
// server) is no error: the event that updates the cache wakes the loop
// again.
func (w *Writer) count(kind, op string, err error) error {
	result := "ok"
	switch {
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		w.writes.WithLabelValues(kind, op, "stale").Inc()
		return errStale
	case err != nil:
		result = "error"
	}
	w.writes.WithLabelValues(kind, op, result).Inc()
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, kind, err)
	}
	return nil
}

// errStale is a write that lost a race with the cache (see count).
var errStale = errors.New("stale cache")

// desiredImport is the ServiceImport of a clusterset service; vip is its
// ClusterSetIP (invalid: none).
func (w *Writer) desiredImport(cs *model.ClusterSetService, vip netip.Addr) *mcsv1alpha1.ServiceImport {
	si := &mcsv1alpha1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: cs.Name, Namespace: cs.Namespace, Labels: map[string]string{LabelManagedBy: ManagedBy}},
		Spec:       mcsv1alpha1.ServiceImportSpec{Type: mcsv1alpha1.ServiceImportType(cs.Type)},
	}
	if vip.IsValid() {
		si.Spec.IPs = []string{vip.String()}
		si.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		if vip.Is6() {
			si.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}
	}
	for _, p := range cs.Ports {
		sp := mcsv1alpha1.ServicePort{Name: p.Name, Port: int32(p.Port), Protocol: corev1.Protocol(p.Protocol)}
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		if p.AppProtocol != "" {
			ap := p.AppProtocol
			sp.AppProtocol = &ap
		}
		si.Spec.Ports = append(si.Spec.Ports, sp)
	}
	for _, c := range slices.Sorted(slices.Values(cs.Clusters)) {
		si.Status.Clusters = append(si.Status.Clusters, mcsv1alpha1.ClusterStatus{Cluster: c})
	}
	si.Status.Conditions = []metav1.Condition{w.readyCondition(cs, vip)}
	// meshgate writes no EndpointSlices for imports (see the package doc):
	// said so, for consumers that would look for them
	si.Status.EndpointSliceObjects = mcsv1alpha1.EndpointSliceObjectsAbsent
	return si
}

// readyCondition is the import's Ready condition (the MCS API's reasons):
// True when every field meshgate writes is there, False Pending when a
// ClusterSetIP import found no free address in the prefix.
func (w *Writer) readyCondition(cs *model.ClusterSetService, vip netip.Addr) metav1.Condition {
	c := metav1.Condition{Type: string(mcsv1alpha1.ServiceImportConditionReady), Status: metav1.ConditionTrue,
		Reason: string(mcsv1alpha1.ServiceImportReasonReady)}
	p := w.cfg.ClusterSetIPPrefix
	switch {
	case cs.Type == model.ImportHeadless:
		c.Message = "headless import of " + cs.Hostname
	case !p.IsValid():
		c.Message = cs.Hostname + " is answered by the mesh's gateways; no ClusterSetIP is allocated (no clusterset IP prefix configured)"
	case vip.IsValid():
		c.Message = "ClusterSetIP " + vip.String() + " allocated from " + p.String()
	default:
		c.Status, c.Reason = metav1.ConditionFalse, string(mcsv1alpha1.ServiceImportReasonPending)
		c.Message = fmt.Sprintf("no free ClusterSetIP in %s for %s after %d probes", p, cs.Hostname, model.MaxClusterSetIPProbes)
	}
	return c
}

func (w *Writer) reconcileImports(ctx context.Context, local *model.ClusterState, set []model.ClusterSetService) []error {
	var errs []error
	namespaces := map[string]bool{}
	for _, n := range local.Namespaces {
		namespaces[n.Name] = true
	}
	want := map[string]bool{}
	vips := model.AllocateClusterSetIPs(set, w.cfg.ClusterSetIPPrefix)
	for i := range set {
		cs := &set[i]
		if !namespaces[cs.Namespace] {
			continue // namespace sameness: no namespace, no import (the MCS API's rule)
		}
		want[cs.Namespace+"/"+cs.Name] = true
		d := w.desiredImport(cs, vips[cs.Namespace+"/"+cs.Name])
		cur, err := w.imports.ServiceImports(cs.Namespace).Get(cs.Name)
		switch {
		case apierrors.IsNotFound(err):
			created, err := w.client.MulticlusterV1alpha1().ServiceImports(cs.Namespace).Create(ctx, d, metav1.CreateOptions{})
			if err = w.count("ServiceImport", "create", err); err != nil {
				errs = appendErr(errs, cs.Namespace, cs.Name, err)
				continue
			}
			w.log.Info("mcs: ServiceImport created", "namespace", cs.Namespace, "name", cs.Name, "clusters", cs.Clusters)
			cur = created
		case err != nil:
			errs = append(errs, err)
			continue
		case cur.Labels[LabelManagedBy] != ManagedBy:
			w.log.Warn("mcs: ServiceImport not managed by meshgate left alone", "namespace", cs.Namespace, "name", cs.Name, "managedBy", cur.Labels[LabelManagedBy])
			continue
		case !specEqual(cur.Spec, d.Spec):
			u := cur.DeepCopy()
			u.Spec.Type, u.Spec.Ports, u.Spec.IPs, u.Spec.IPFamilies = d.Spec.Type, d.Spec.Ports, d.Spec.IPs, d.Spec.IPFamilies
			updated, err := w.client.MulticlusterV1alpha1().ServiceImports(cs.Namespace).Update(ctx, u, metav1.UpdateOptions{})
			if err = w.count("ServiceImport", "update", err); err != nil {
				errs = appendErr(errs, cs.Namespace, cs.Name, err)
				continue
			}
			if len(cur.Spec.IPs) > 0 && !slices.Equal(cur.Spec.IPs, d.Spec.IPs) {
				w.log.Warn("mcs: ServiceImport's ClusterSetIP changed", "namespace", cs.Namespace, "name", cs.Name, "from", cur.Spec.IPs, "to", d.Spec.IPs)
			}
			cur = updated
		}
		conds, condChanged := w.mergeConditions(cur.Status.Conditions, d.Status.Conditions, cur.Generation)
		if condChanged || !slices.Equal(cur.Status.Clusters, d.Status.Clusters) || cur.Status.EndpointSliceObjects != d.Status.EndpointSliceObjects {
			u := cur.DeepCopy()
			u.Status.Clusters, u.Status.Conditions = d.Status.Clusters, conds
			u.Status.EndpointSliceObjects = d.Status.EndpointSliceObjects
			_, err := w.client.MulticlusterV1alpha1().ServiceImports(cs.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
			if err = w.count("ServiceImport", "status", err); err != nil {
				errs = appendErr(errs, cs.Namespace, cs.Name, err)
			}
		}
	}
	all, err := w.imports.List(labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy}))
	if err != nil {
		return append(errs, err)
	}
	for _, si := range all {
		if want[si.Namespace+"/"+si.Name] || si.DeletionTimestamp != nil {
			continue
		}
		err := w.client.MulticlusterV1alpha1().ServiceImports(si.Namespace).Delete(ctx, si.Name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &si.UID}})
		if apierrors.IsNotFound(err) {
			err = nil
		}
		if err = w.count("ServiceImport", "delete", err); err != nil {
			errs = appendErr(errs, si.Namespace, si.Name, err)
			continue
		}
		w.log.Info("mcs: ServiceImport deleted (no cluster exports it)", "namespace", si.Namespace, "name", si.Name)
	}
	return errs
}

// appendErr adds a failed write of namespace/name to errs (not a stale one).
func appendErr(errs []error, namespace, name string, err error) []error {
	if errors.Is(err, errStale) {
		return errs
	}
	return append(errs, fmt.Errorf("%s/%s: %w", namespace, name, err))
}

// mergeConditions sets want into a copy of have (observedGeneration gen),
// keeping lastTransitionTime where the status did not change, and says
// whether anything changed.
func (w *Writer) mergeConditions(have, want []metav1.Condition, gen int64) ([]metav1.Condition, bool) {
	conds := slices.Clone(have)
	changed := false
	for _, c := range want {
		c.ObservedGeneration = gen
		if old := meta.FindStatusCondition(conds, c.Type); old != nil && old.Status == c.Status &&
			old.Reason == c.Reason && old.Message == c.Message && old.ObservedGeneration == c.ObservedGeneration {
			continue
		}
		c.LastTransitionTime = w.now() // kept by SetStatusCondition when the status is unchanged
		meta.SetStatusCondition(&conds, c)
		changed = true
	}
	return conds, changed
}

func specEqual(a, b mcsv1alpha1.ServiceImportSpec) bool {
	return a.Type == b.Type && slices.Equal(a.IPs, b.IPs) && slices.Equal(a.IPFamilies, b.IPFamilies) && slices.EqualFunc(a.Ports, b.Ports, func(p, q mcsv1alpha1.ServicePort) bool {
		return p.Name == q.Name && p.Port == q.Port && p.Protocol == q.Protocol &&
			(p.AppProtocol == nil) == (q.AppProtocol == nil) && (p.AppProtocol == nil || *p.AppProtocol == *q.AppProtocol)
	})
}

// exportConditions are the Valid and Conflict conditions of the local
// export e (Conflict only when e is valid).
func exportConditions(local *model.ClusterState, set []model.ClusterSetService, e *model.ServiceExport) []metav1.Condition {
	valid, reason, msg := model.ExportValidity(local, e)
	out := []metav1.Condition{{Type: string(mcsv1alpha1.ServiceExportConditionValid), Status: condStatus(valid), Reason: reason, Message: msg}}
	if !valid {
		return out
	}
	conflict := metav1.Condition{Type: string(mcsv1alpha1.ServiceExportConditionConflict), Status: metav1.ConditionFalse,
		Reason: model.ExportReasonNoConflict, Message: "the export agrees with the clusterset"}
	i := slices.IndexFunc(set, func(cs model.ClusterSetService) bool { return cs.Namespace == e.Namespace && cs.Name == e.Name })
	if i >= 0 {
		if c, ok := set[i].Conflicts[local.ID]; ok {
			conflict.Status, conflict.Reason, conflict.Message = metav1.ConditionTrue, c.Reason, c.Message
		}
	}
	return append(out, conflict)
}

func conflictReason(conds []metav1.Condition) string {
	if len(conds) < 2 {
		return ""
	}
	return conds[1].Reason
}

func condStatus(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

func (w *Writer) reconcileExports(ctx context.Context, local *model.ClusterState, set []model.ClusterSetService) []error {
	var errs []error
	all, err := w.exports.List(labels.Everything())
	if err != nil {
		return []error{err}
	}
	for _, se := range all {
		e := local.ServiceExport(se.Namespace, se.Name)
		if e == nil {
			continue // not in the mesh state yet (the source debounces): the next Update brings it
		}
		want := exportConditions(local, set, e)
		conds, changed := w.mergeConditions(se.Status.Conditions, want, se.Generation)
		if len(want) == 1 && meta.RemoveStatusCondition(&conds, string(mcsv1alpha1.ServiceExportConditionConflict)) {
			changed = true // invalid: no Conflict condition
		}
		if !changed {
			continue
		}
		u := se.DeepCopy()
		u.Status.Conditions = conds
		_, err := w.client.MulticlusterV1alpha1().ServiceExports(se.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
		if err = w.count("ServiceExport", "status", err); err != nil {
			errs = appendErr(errs, se.Namespace, se.Name, err)
			continue
		}
		w.log.Info("mcs: ServiceExport conditions written", "namespace", se.Namespace, "name", se.Name,
			"valid", want[0].Reason, "conflict", conflictReason(want))
	}
	return errs
}
