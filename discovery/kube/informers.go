package kube

import (
	"fmt"
	"net/http"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	istiolisters "istio.io/client-go/pkg/listers/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
	mcsinformers "sigs.k8s.io/mcs-api/pkg/client/informers/externalversions"
	mcslisters "sigs.k8s.io/mcs-api/pkg/client/listers/apis/v1alpha1"

	"github.com/meshgate/meshgate/discovery/convert"
)

// Client-side rate limits: informers list once and then watch, but a daemon
// with many credential Secrets starts many watches at once.
const (
	clientQPS   = 50
	clientBurst = 100
	userAgent   = "meshgate"
)

// clientConfig copies cfg, wraps its transport with the health tracker and
// raises the default rate limits.
func clientConfig(cfg *rest.Config, h *health) *rest.Config {
	c := rest.CopyConfig(cfg)
	prev := c.WrapTransport
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return &roundTripper{next: rt, h: h}
	}
	if c.QPS == 0 {
		c.QPS = clientQPS
	}
	if c.Burst == 0 {
		c.Burst = clientBurst
	}
	if c.UserAgent == "" {
		c.UserAgent = userAgent
	}
	return c
}

// informerSet holds the cluster-wide informers of one source.
type informerSet struct {
	core  informers.SharedInformerFactory
	istio istioinformers.SharedInformerFactory // nil when ServicesOnly
	mcs   mcsinformers.SharedInformerFactory   // nil without a ServiceExports client

	namespaces corelisters.NamespaceLister
	services   corelisters.ServiceLister
	pods       corelisters.PodLister
	slices     discoverylisters.EndpointSliceLister
	nodes      corelisters.NodeLister

	gateways         istiolisters.GatewayLister
	virtualServices  istiolisters.VirtualServiceLister
	destinationRules istiolisters.DestinationRuleLister
	serviceEntries   istiolisters.ServiceEntryLister
	ingresses        networkinglisters.IngressLister
	ingressClasses   networkinglisters.IngressClassLister
	serviceExports   mcslisters.ServiceExportLister
	gatewayAPI       *gatewayAPISet // nil: the cluster serves no Gateway API

	synced []cache.InformerSynced
}

// newInformerSet creates (but does not start) the informers; onEvent is
// called on every add, update and delete.
// mc, when not nil, adds the ServiceExports informer.
func newInformerSet(kc kubernetes.Interface, ic istioclient.Interface, gc *gatewayAPIClient, mc mcsclient.Interface, servicesOnly bool, onEvent func()) (*informerSet, error) {
	s := &informerSet{core: informers.NewSharedInformerFactoryWithOptions(kc, 0, informers.WithTransform(slim))}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onEvent() },
		UpdateFunc: func(any, any) { onEvent() },
		DeleteFunc: func(any) { onEvent() },
	}
	add := func(inf cache.SharedIndexInformer) error {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("kube source: add event handler: %w", err)
		}
		s.synced = append(s.synced, inf.HasSynced)
		return nil
	}
	core := s.core.Core().V1()
	nsInf, svcInf, podInf := core.Namespaces(), core.Services(), core.Pods()
	esInf := s.core.Discovery().V1().EndpointSlices()
	s.namespaces, s.services, s.pods, s.slices = nsInf.Lister(), svcInf.Lister(), podInf.Lister(), esInf.Lister()
	for _, inf := range []cache.SharedIndexInformer{nsInf.Informer(), svcInf.Informer(), podInf.Informer(), esInf.Informer()} {
		if err := add(inf); err != nil {
			return nil, err
		}
	}
	// Nodes give pods their locality. Their status changes all the time and
	// is dropped (slimNode): only a change of locality is an event.
	nodeInf := core.Nodes()
	s.nodes = nodeInf.Lister()
	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { onEvent() },
		UpdateFunc: func(prev, cur any) {
			p, ok1 := prev.(*corev1.Node)
			c, ok2 := cur.(*corev1.Node)
			if !ok1 || !ok2 || convert.NodeLocality(p.Labels) != convert.NodeLocality(c.Labels) {
				onEvent()
			}
		},
		DeleteFunc: func(any) { onEvent() },
	}); err != nil {
		return nil, fmt.Errorf("kube source: add event handler: %w", err)
	}
	s.synced = append(s.synced, nodeInf.Informer().HasSynced)
	if mc != nil {
		s.mcs = mcsinformers.NewSharedInformerFactoryWithOptions(mc, 0, mcsinformers.WithTransform(slim))
		se := s.mcs.Multicluster().V1alpha1().ServiceExports()
		s.serviceExports = se.Lister()
		if err := add(se.Informer()); err != nil {
			return nil, err
		}
	}
	if servicesOnly {
		return s, nil
	}
	ing, ingc := s.core.Networking().V1().Ingresses(), s.core.Networking().V1().IngressClasses()
	s.ingresses, s.ingressClasses = ing.Lister(), ingc.Lister()
	for _, inf := range []cache.SharedIndexInformer{ing.Informer(), ingc.Informer()} {
		if err := add(inf); err != nil {
			return nil, err
		}
	}
	s.istio = istioinformers.NewSharedInformerFactoryWithOptions(ic, 0, istioinformers.WithTransform(slim))
	net := s.istio.Networking().V1()
	gw, vs, dr, se := net.Gateways(), net.VirtualServices(), net.DestinationRules(), net.ServiceEntries()
	s.gateways, s.virtualServices, s.destinationRules, s.serviceEntries = gw.Lister(), vs.Lister(), dr.Lister(), se.Lister()
	for _, inf := range []cache.SharedIndexInformer{gw.Informer(), vs.Informer(), dr.Informer(), se.Informer()} {
		if err := add(inf); err != nil {
			return nil, err
		}
	}
	var err error
	if s.gatewayAPI, err = newGatewayAPISet(gc, add); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *informerSet) start(stop <-chan struct{}) {
	s.core.Start(stop)
	if s.istio != nil {
		s.istio.Start(stop)
	}
	if s.mcs != nil {
		s.mcs.Start(stop)
	}
	s.gatewayAPI.start(stop)
}

// shutdown waits for the informers' goroutines after stop was closed.
func (s *informerSet) shutdown() {
	s.core.Shutdown()
	if s.istio != nil {
		s.istio.Shutdown()
	}
	if s.mcs != nil {
		s.mcs.Shutdown()
	}
	s.gatewayAPI.shutdown()
}

// inputs lists every cached object (Secrets excepted). The objects are the
// caches' own: convert only reads them.
func (s *informerSet) inputs() convert.Inputs {
	var in convert.Inputs
	all := labels.Everything()
	in.Namespaces, _ = s.namespaces.List(all)
	in.Services, _ = s.services.List(all)
	in.Pods, _ = s.pods.List(all)
	in.EndpointSlices, _ = s.slices.List(all)
	nodes, _ := s.nodes.List(all)
	for _, n := range nodes {
		in.Nodes = append(in.Nodes, convert.SlimNode(n))
	}
	if s.mcs != nil {
		in.ServiceExports, _ = s.serviceExports.List(all)
	}
	if s.istio != nil {
		in.Gateways, _ = s.gateways.List(all)
		in.VirtualServices, _ = s.virtualServices.List(all)
		in.DestinationRules, _ = s.destinationRules.List(all)
		in.ServiceEntries, _ = s.serviceEntries.List(all)
		in.Ingresses, _ = s.ingresses.List(all)
		in.IngressClasses, _ = s.ingressClasses.List(all)
		in.GatewayAPI = s.gatewayAPI.inputs()
	}
	return in
}

// lastAppliedAnnotation is kubectl's copy of the whole object; for a Secret
// it holds the data.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// slim is the informers' transform: it drops what the model never reads
// before objects enter the caches (managed fields, kubectl's last-applied
// copy, everything of a Pod but its name, labels, service account, node,
// phase and IPs, and everything of a Node but its name and topology labels).
// It saves memory in large clusters and keeps Secret data out of
// annotations.
func slim(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		return convert.SlimPod(p), nil
	}
	if n, ok := obj.(*corev1.Node); ok {
		return slimNode(n), nil
	}
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			if _, has := a[lastAppliedAnnotation]; has {
				a2 := make(map[string]string, len(a))
				for k, v := range a {
					if k != lastAppliedAnnotation {
						a2[k] = v
					}
				}
				m.SetAnnotations(a2)
			}
		}
	}
	return obj, nil
}

// slimNode keeps a Node's name and the labels convert.NodeLocality reads.
func slimNode(n *corev1.Node) *corev1.Node {
	var labels map[string]string
	for _, k := range []string{convert.LabelRegion, convert.LabelZone, convert.LabelSubzone, convert.LabelRegionBeta, convert.LabelZoneBeta} {
		if v, ok := n.Labels[k]; ok {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = v
		}
	}
	return &corev1.Node{
		TypeMeta: n.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion, Labels: labels, DeletionTimestamp: n.DeletionTimestamp,
		},
	}
}
