package lastgood

import (
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
)

// Kinds of the inputs that the model has no constant for (the names the
// sources use in their errors).
const (
	KindPod           model.Kind = "Pod"
	KindEndpoints     model.Kind = "Endpoints"
	KindEndpointSlice model.Kind = "EndpointSlice"
	KindIngressClass  model.Kind = "IngressClass"
	KindNode          model.Kind = "Node"
)

// item is one input object with its key.
type item struct {
	ref model.Ref
	obj any // a pointer to one of convert.Inputs' element types
}

// refOf is the key of an object of kind: cluster-scoped kinds have no
// namespace, namespaced ones default to convert.DefaultNamespace.
func refOf(kind model.Kind, om *metav1.ObjectMeta) model.Ref {
	r := model.Ref{Kind: kind, Namespace: om.Namespace, Name: om.Name}
	switch {
	case kind == model.KindNamespace || kind == KindIngressClass || kind == KindNode || kind == convert.KindGatewayClass:
		r.Namespace = ""
	case r.Namespace == "":
		r.Namespace = convert.DefaultNamespace
	}
	return r
}

// items lists every (non-nil) object of in with its key.
func items(in *convert.Inputs) []item {
	var out []item
	add := func(kind model.Kind, om *metav1.ObjectMeta, obj any) {
		out = append(out, item{refOf(kind, om), obj})
	}
	for _, o := range in.Namespaces {
		if o != nil {
			add(model.KindNamespace, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.Services {
		if o != nil {
			add(model.KindService, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.Pods {
		if o != nil {
			add(KindPod, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.PodInfos {
		if o != nil {
			add(KindPod, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.Endpoints {
		if o != nil {
			add(KindEndpoints, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.EndpointSlices {
		if o != nil {
			add(KindEndpointSlice, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.Secrets {
		if o != nil {
			add(model.KindSecret, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.Gateways {
		if o != nil {
			add(model.KindGateway, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.VirtualServices {
		if o != nil {
			add(model.KindVirtualService, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.DestinationRules {
		if o != nil {
			add(model.KindDestinationRule, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.ServiceEntries {
		if o != nil {
			add(model.KindServiceEntry, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.Ingresses {
		if o != nil {
			add(model.KindIngress, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.IngressClasses {
		if o != nil {
			add(KindIngressClass, &o.ObjectMeta, o)
		}
	}
	for _, o := range in.Nodes {
		if o != nil {
			add(KindNode, &metav1.ObjectMeta{Name: o.Name}, o)
		}
	}
	gatewayAPIItems(&in.GatewayAPI, add)
	return out
}

// inputs reassembles objects listed by items.
func inputs(its []item) convert.Inputs {
	var in convert.Inputs
	for _, it := range its {
		switch o := it.obj.(type) {
		case *corev1.Namespace:
			in.Namespaces = append(in.Namespaces, o)
		case *corev1.Service:
			in.Services = append(in.Services, o)
		case *corev1.Pod:
			in.Pods = append(in.Pods, o)
		case *convert.PodInfo:
			in.PodInfos = append(in.PodInfos, o)
		case *corev1.Endpoints:
			in.Endpoints = append(in.Endpoints, o)
		case *discoveryv1.EndpointSlice:
			in.EndpointSlices = append(in.EndpointSlices, o)
		case *corev1.Secret:
			in.Secrets = append(in.Secrets, o)
		case *networkingv1.Gateway:
			in.Gateways = append(in.Gateways, o)
		case *networkingv1.VirtualService:
			in.VirtualServices = append(in.VirtualServices, o)
		case *networkingv1.DestinationRule:
			in.DestinationRules = append(in.DestinationRules, o)
		case *networkingv1.ServiceEntry:
			in.ServiceEntries = append(in.ServiceEntries, o)
		case *knetworkingv1.Ingress:
			in.Ingresses = append(in.Ingresses, o)
		case *knetworkingv1.IngressClass:
			in.IngressClasses = append(in.IngressClasses, o)
		case *convert.Node:
			in.Nodes = append(in.Nodes, o)
		default:
			addGatewayAPI(&in, o)
		}
	}
	return in
}
