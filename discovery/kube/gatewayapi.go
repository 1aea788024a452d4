package kube

import (
	"cmp"
	"context"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"

	"github.com/meshgate/meshgate/discovery/convert"
)

// gatewayAPIVersion is the version of gateway.networking.k8s.io the source
// watches (served by every kind it reads since Gateway API v1.5).
const gatewayAPIVersion = convert.GatewayAPIGroup + "/v1"

// gatewayAPISet is the Gateway API part of an informer set: one informer
// per kind the API server serves at v1 when the set is made. Clusters
// without the Gateway API CRDs get none (and no failing watches); CRDs
// installed (or removed) later are noticed by gatewayAPILoop, which asks
// the API server every Config.GatewayAPIRecheck and replaces the informer
// set when the kinds served changed.
type gatewayAPISet struct {
	factory gwinformers.SharedInformerFactory
	list    []func(*convert.GatewayAPIInputs)
	kinds   []string // the resources watched, in gatewayAPIResources' order
}

// gatewayAPIResources are the Gateway API resources the source reads.
var gatewayAPIResources = []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes", "tcproutes", "referencegrants"}

// servedGatewayAPI returns the resources of gatewayAPIResources the API
// server serves at v1.
func servedGatewayAPI(dc discovery.DiscoveryInterface) ([]string, error) {
	return ServedResources(dc, gatewayAPIVersion, gatewayAPIResources)
}

// ServedResources returns those of want (resource names, in want's order)
// that the API server serves in groupVersion: none, without error, when it
// serves no such group version (its CRDs are not installed).
func ServedResources(dc discovery.DiscoveryInterface, groupVersion string, want []string) ([]string, error) {
	res, err := dc.ServerResourcesForGroupVersion(groupVersion)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	served := map[string]bool{}
	for _, r := range res.APIResources {
		served[r.Name] = true
	}
	var out []string
	for _, r := range want {
		if served[r] {
			out = append(out, r)
		}
	}
	return out, nil
}

// watchedKinds are the Gateway API resources s watches (nil s: none).
func (s *gatewayAPISet) watchedKinds() []string {
	if s == nil {
		return nil
	}
	return s.kinds
}

// gatewayAPIClient reads the Gateway API: gc through the source's health
// tracker, dc outside it (a group the API server does not serve is no
// failure of the API server).
type gatewayAPIClient struct {
	gc gwclient.Interface
	dc discovery.DiscoveryInterface
}

func newGatewayAPIClient(tracked, untracked *rest.Config) (*gatewayAPIClient, error) {
	gc, err := gwclient.NewForConfig(tracked)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(untracked)
	if err != nil {
		return nil, err
	}
	return &gatewayAPIClient{gc: gc, dc: dc}, nil
}

// newGatewayAPISet creates the informers of the kinds served; add registers
// each informer with the set's event handler and sync list.
func newGatewayAPISet(c *gatewayAPIClient, add func(cache.SharedIndexInformer) error) (*gatewayAPISet, error) {
	if c == nil {
		return nil, nil
	}
	kinds, err := servedGatewayAPI(c.dc)
	if err != nil || len(kinds) == 0 {
		// Not served, or the API server cannot be asked now: no Gateway
		// API informers in this set. An unreachable server makes the
		// source reconnect once it answers, with a new set that asks
		// again (reconnect.go), and gatewayAPILoop asks again too;
		// informers for kinds the server may not serve would block the
		// initial sync instead.
		return nil, nil
	}
	served := map[string]bool{}
	for _, r := range kinds {
		served[r] = true
	}
	s := &gatewayAPISet{factory: gwinformers.NewSharedInformerFactoryWithOptions(c.gc, 0, gwinformers.WithTransform(slim))}
	v1 := s.factory.Gateway().V1()
	all := labels.Everything()
	type kind struct {
		resource string
		inf      cache.SharedIndexInformer
		list     func(*convert.GatewayAPIInputs)
	}
	known := []kind{
		{"gatewayclasses", v1.GatewayClasses().Informer(), func(in *convert.GatewayAPIInputs) { in.Classes, _ = v1.GatewayClasses().Lister().List(all) }},
		{"gateways", v1.Gateways().Informer(), func(in *convert.GatewayAPIInputs) { in.Gateways, _ = v1.Gateways().Lister().List(all) }},
		{"httproutes", v1.HTTPRoutes().Informer(), func(in *convert.GatewayAPIInputs) { in.HTTPRoutes, _ = v1.HTTPRoutes().Lister().List(all) }},
		{"grpcroutes", v1.GRPCRoutes().Informer(), func(in *convert.GatewayAPIInputs) { in.GRPCRoutes, _ = v1.GRPCRoutes().Lister().List(all) }},
		{"tlsroutes", v1.TLSRoutes().Informer(), func(in *convert.GatewayAPIInputs) { in.TLSRoutes, _ = v1.TLSRoutes().Lister().List(all) }},
		{"tcproutes", v1.TCPRoutes().Informer(), func(in *convert.GatewayAPIInputs) { in.TCPRoutes, _ = v1.TCPRoutes().Lister().List(all) }},
		{"referencegrants", v1.ReferenceGrants().Informer(), func(in *convert.GatewayAPIInputs) { in.Grants, _ = v1.ReferenceGrants().Lister().List(all) }},
	}
	for _, k := range known {
		if !served[k.resource] {
			continue
		}
		if err := add(k.inf); err != nil {
			return nil, err
		}
		s.list = append(s.list, k.list)
		s.kinds = append(s.kinds, k.resource)
	}
	return s, nil
}

func (s *gatewayAPISet) start(stop <-chan struct{}) {
	if s != nil {
		s.factory.Start(stop)
	}
}

func (s *gatewayAPISet) shutdown() {
	if s != nil {
		s.factory.Shutdown()
	}
}

// inputs lists the cached objects.
func (s *gatewayAPISet) inputs() convert.GatewayAPIInputs {
	var in convert.GatewayAPIInputs
	if s != nil {
		for _, l := range s.list {
			l(&in)
		}
	}
	return in
}

// gatewayAPISecrets are the Secrets the Gateways' listeners name in
// certificateRefs, in their own namespace or in another one that a
// ReferenceGrant opens to them: only those are watched, each by name.
func gatewayAPISecrets(gws []*gwv1.Gateway, grants []*gwv1.ReferenceGrant) []secretRef {
	var out []secretRef
	for _, g := range gws {
		if g == nil {
			continue
		}
		for _, l := range g.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, r := range l.TLS.CertificateRefs {
				if (r.Group != nil && *r.Group != "") || (r.Kind != nil && *r.Kind != "Secret") {
					continue
				}
				ns := cmp.Or(g.Namespace, convert.DefaultNamespace)
				if r.Namespace != nil {
					ns = string(*r.Namespace)
				}
				if ns != cmp.Or(g.Namespace, convert.DefaultNamespace) &&
					!convert.ReferenceGranted(grants, convert.KindK8sGateway, cmp.Or(g.Namespace, convert.DefaultNamespace), "", "Secret", ns, string(r.Name)) {
					continue
				}
				out = append(out, secretRef{ns, string(r.Name)})
			}
		}
	}
	return out
}

// gatewayAPILoop runs beside the debouncer after the initial sync: every
// GatewayAPIRecheck it asks the API server which Gateway API kinds it
// serves and, when they differ from those the informer set watches (CRDs
// installed or removed since), replaces the informer set (make-before-
// break, as after an outage).
func (s *Source) gatewayAPILoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.GatewayAPIRecheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		kinds, err := servedGatewayAPI(s.gc.dc)
		if err != nil {
			continue // an outage is reconnectLoop's business
		}
		s.mu.Lock()
		watched := s.inf.gatewayAPI.watchedKinds()
		s.mu.Unlock()
		if slices.Equal(kinds, watched) {
			continue
		}
		s.log.Info("kube source: the Gateway API kinds served changed; replacing the watches", "served", kinds, "watched", watched)
		s.reconnect(ctx, "the Gateway API kinds served changed")
	}
}
