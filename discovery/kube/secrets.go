package kube

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// caSuffix names the Secret holding a credential's CA (Istio's rule:
// credentialName foo takes its client CA from foo-cacert when foo has none).
const caSuffix = "-cacert"

// secretRef is a namespace/name.
type secretRef struct{ namespace, name string }

// secretWatches keeps one field-selected informer per credential Secret
// (metadata.name=<name> in one namespace), so that the source never lists
// or watches any other Secret.
type secretWatches struct {
	client  kubernetes.Interface
	onEvent func()
	health  *health
	watches map[secretRef]*secretWatch
	// retiring tracks watches stopped by restart that are still winding
	// down; stopAll waits for them.
	retiring sync.WaitGroup
}

type secretWatch struct {
	inf  cache.SharedIndexInformer
	stop chan struct{}
	done chan struct{}
}

func newSecretWatches(client kubernetes.Interface, h *health, onEvent func()) *secretWatches {
	return &secretWatches{client: client, onEvent: onEvent, health: h, watches: map[secretRef]*secretWatch{}}
}

// healthKey is the resource key (see resourceKey) of a Secret's watch.
func (r secretRef) healthKey() string {
	return "/api/v1/namespaces/" + r.namespace + "/secrets?fieldSelector=" + r.selector()
}

func (r secretRef) selector() string {
	return fields.OneTermEqualSelector("metadata.name", r.name).String()
}

// reconcile starts a watch for every wanted Secret that has none and stops
// the watches of Secrets no longer wanted. It returns the new watches.
func (w *secretWatches) reconcile(want map[secretRef]bool) []*secretWatch {
	for ref, sw := range w.watches {
		if !want[ref] {
			close(sw.stop)
			<-sw.done
			delete(w.watches, ref)
			w.health.forget(ref.healthKey())
		}
	}
	var started []*secretWatch
	for _, ref := range slices.SortedFunc(maps.Keys(want), func(a, b secretRef) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	}) {
		if _, ok := w.watches[ref]; ok {
			continue
		}
		sw := w.start(ref)
		w.watches[ref] = sw
		started = append(started, sw)
	}
	return started
}

func (w *secretWatches) start(ref secretRef) *secretWatch {
	sel := ref.selector()
	inf := coreinformers.NewFilteredSecretInformer(w.client, ref.namespace, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.FieldSelector = sel })
	_ = inf.SetTransform(slim) // cannot fail before Run
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.onEvent() },
		UpdateFunc: func(any, any) { w.onEvent() },
		DeleteFunc: func(any) { w.onEvent() },
	})
	sw := &secretWatch{inf: inf, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sw.done)
		inf.Run(sw.stop)
	}()
	return sw
}

// waitSynced waits until the given watches have synced, at most d.
func waitSynced(ctx context.Context, ws []*secretWatch, d time.Duration) {
	if len(ws) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	synced := make([]cache.InformerSynced, len(ws))
	for i, sw := range ws {
		synced[i] = sw.inf.HasSynced
	}
	cache.WaitForCacheSync(ctx.Done(), synced...)
}

// list returns every watched Secret that exists.
func (w *secretWatches) list() []*corev1.Secret {
	var out []*corev1.Secret
	for _, sw := range w.watches {
		for _, o := range sw.inf.GetStore().List() {
			if s, ok := o.(*corev1.Secret); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func (w *secretWatches) stopAll() {
	w.reconcile(nil)
	w.retiring.Wait()
}

// credentialNames returns the Secret names the configuration refers to:
// Gateway servers' credentialName and credentialNames, DestinationRule TLS
// credentialName (top level, per port, per subset) and Ingress TLS
// secretName (the credentialName of the Gateway generated for it), each
// with its <name>-cacert companion. Names that are not valid Secret names
// are left out (no Secret can have them).
func credentialNames(gws []*networkingv1.Gateway, drs []*networkingv1.DestinationRule, ings []*knetworkingv1.Ingress) []string {
	set := map[string]bool{}
	add := func(n string) {
		if n == "" || len(validation.IsDNS1123Subdomain(n)) > 0 {
			return
		}
		set[n] = true
		if len(validation.IsDNS1123Subdomain(n+caSuffix)) == 0 {
			set[n+caSuffix] = true
		}
	}
	for _, g := range gws {
		if g == nil {
			continue
		}
		for _, s := range g.Spec.GetServers() {
			add(s.GetTls().GetCredentialName())
			for _, n := range s.GetTls().GetCredentialNames() {
				add(n)
			}
		}
	}
	policy := func(tp *networking.TrafficPolicy) {
		add(tp.GetTls().GetCredentialName())
		for _, pl := range tp.GetPortLevelSettings() {
			add(pl.GetTls().GetCredentialName())
		}
	}
	for _, d := range drs {
		if d == nil {
			continue
		}
		policy(d.Spec.GetTrafficPolicy())
		for _, ss := range d.Spec.GetSubsets() {
			policy(ss.GetTrafficPolicy())
		}
	}
	for _, ing := range ings {
		if ing == nil {
			continue
		}
		for _, t := range ing.Spec.TLS {
			add(t.SecretName)
		}
	}
	return slices.Sorted(maps.Keys(set))
}
