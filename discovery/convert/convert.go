package convert

import (
	"fmt"
	"maps"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/meshgate/meshgate/discovery/model"
)

// DefaultNamespace is given to objects that name no namespace.
const DefaultNamespace = "default"

// Inputs are one cluster's objects. Istio objects of every served API version
// (networking.istio.io/v1, v1beta1, v1alpha3) share the v1 client types: their
// specs are the same istio.io/api Go types. Nil entries are ignored.
type Inputs struct {
	Namespaces []*corev1.Namespace
	Services   []*corev1.Service
	Pods       []*corev1.Pod
	// PodInfos are Pods as the file source keeps them (PodInfoOf): read
	// as Pods are.
	PodInfos       []*PodInfo
	Endpoints      []*corev1.Endpoints
	EndpointSlices []*discoveryv1.EndpointSlice
	Secrets        []*corev1.Secret
	// Nodes are the Nodes, slimmed to name and locality: where the pods on
	// them run, for pods without a locality label. Empty when the source
	// reads no Nodes.
	Nodes []*Node

	Gateways         []*networkingv1.Gateway
	VirtualServices  []*networkingv1.VirtualService
	DestinationRules []*networkingv1.DestinationRule
	ServiceEntries   []*networkingv1.ServiceEntry

	// Kubernetes Ingress (networking.k8s.io/v1) of class istio.
	Ingresses      []*knetworkingv1.Ingress
	IngressClasses []*knetworkingv1.IngressClass

	// ServiceExports are the Multi-Cluster Services API's exports
	// (multicluster.x-k8s.io; v1alpha1 and v1beta1 share the shape).
	ServiceExports []*mcsv1alpha1.ServiceExport
	// GatewayAPI are the Gateway API objects (gatewayapi.go).
	GatewayAPI GatewayAPIInputs
}

// Options label and shape the converted state.
type Options struct {
	// ClusterID is the id of the cluster the inputs come from.
	ClusterID string
	// Network is the cluster's network: the network of endpoints whose pod and
	// namespace carry no topology.istio.io/network label.
	Network string
	// DomainSuffix is the cluster DNS domain (default cluster.local).
	DomainSuffix string
	// Source, if set, names where an object came from (model.Meta.Source).
	Source func(kind model.Kind, namespace, name string) string
}

func (o Options) domainSuffix() string {
	if o.DomainSuffix == "" {
		return model.DefaultDomainSuffix
	}
	return o.DomainSuffix
}

// Cluster converts one cluster's objects into a normalized ClusterState.
// errs holds a *model.FieldError for every problem found; the objects they
// name were left out of the state.
func Cluster(in Inputs, opts Options) (*model.ClusterState, []error) {
	c := &model.ClusterState{ID: opts.ClusterID, Network: opts.Network}
	var errs []error
	add := func(e []error) { errs = append(errs, e...) }

	namespaceLabels := map[string]map[string]string{}
	for _, ns := range in.Namespaces {
		if ns == nil {
			continue
		}
		n := Namespace(ns)
		n.Source = opts.source(model.KindNamespace, n.Meta)
		namespaceLabels[n.Name] = n.Labels
		c.Namespaces = append(c.Namespaces, n)
	}
	for _, s := range in.Secrets {
		if s == nil {
			continue
		}
		if sec, ok := Secret(s); ok {
			sec.Source = opts.source(model.KindSecret, sec.Meta)
			c.Secrets = append(c.Secrets, sec)
		}
	}

	eps := newEndpointIndex(in, opts.Network, namespaceLabels)
	for _, s := range in.Services {
		if s == nil {
			continue
		}
		svc, e := Service(s, opts.domainSuffix())
		if len(e) > 0 {
			add(e)
			continue
		}
		svc.Source = opts.source(model.KindService, svc.Meta)
		svc.Endpoints = eps.endpointsFor(s)
		c.Services = append(c.Services, svc)
	}
	c.NetworkGateways = model.DeriveNetworkGateways(opts.ClusterID, c.Services)

	c.Gateways = convertAll(in.Gateways, Gateway, model.KindGateway, opts, &errs,
		func(g *model.Gateway) *model.Meta { return &g.Meta })
	c.VirtualServices = convertAll(in.VirtualServices, VirtualService, model.KindVirtualService, opts, &errs,
		func(v *model.VirtualService) *model.Meta { return &v.Meta })
	igws, ivss, ierrs := Ingresses(in.Ingresses, in.IngressClasses, in.Services, opts.domainSuffix())
	c.Gateways = append(c.Gateways, igws...)
	c.VirtualServices = append(c.VirtualServices, ivss...)
	add(ierrs)
	ggws, gvss, gstatus, gerrs := GatewayAPIWithStatus(in.GatewayAPI, in.Services, in.Secrets, in.Namespaces, c.Services, opts.domainSuffix())
	c.GatewayAPIStatus = gstatus
	c.Gateways = append(c.Gateways, ggws...)
	c.VirtualServices = append(c.VirtualServices, gvss...)
	add(gerrs)
	c.DestinationRules = convertAll(in.DestinationRules, DestinationRule, model.KindDestinationRule, opts, &errs,
		func(d *model.DestinationRule) *model.Meta { return &d.Meta })
	c.ServiceEntries = convertAll(in.ServiceEntries, ServiceEntry, model.KindServiceEntry, opts, &errs,
		func(e *model.ServiceEntry) *model.Meta { return &e.Meta })
	c.ServiceExports = convertAll(in.ServiceExports, ServiceExport, model.KindServiceExport, opts, &errs,
		func(e *model.ServiceExport) *model.Meta { return &e.Meta })
	c.Normalize()
	return c, errs
}

// convertAll converts every object with conv, keeping the valid ones and
// appending the errors of the others to errs.
func convertAll[In, Out any](objs []*In, conv func(*In) (Out, []error), kind model.Kind, opts Options, errs *[]error,
	metaOf func(*Out) *model.Meta,
) []Out {
	var out []Out
	for _, o := range objs {
		if o == nil {
			continue
		}
		v, e := conv(o)
		if len(e) > 0 {
			*errs = append(*errs, e...)
			continue
		}
		m := metaOf(&v)
		m.Source = opts.source(kind, *m)
		out = append(out, v)
	}
	return out
}

func (o Options) source(k model.Kind, m model.Meta) string {
	if o.Source == nil {
		return ""
	}
	return o.Source(k, m.Namespace, m.Name)
}

// lastAppliedAnnotation is kubectl's copy of the whole object (for a Secret:
// its data). It is dropped so that key material never reaches the model's
// metadata and hashes do not depend on how the object was applied.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// meta builds model.Meta from Kubernetes object metadata.
func meta(om *metav1.ObjectMeta) model.Meta {
	m := model.Meta{Name: om.Name, Namespace: om.Namespace}
	if m.Namespace == "" {
		m.Namespace = DefaultNamespace
	}
	if len(om.Labels) > 0 {
		m.Labels = maps.Clone(om.Labels)
	}
	if len(om.Annotations) > 0 {
		a := maps.Clone(om.Annotations)
		delete(a, lastAppliedAnnotation)
		if len(a) > 0 {
			m.Annotations = a
		}
	}
	return m
}

// fieldErrs collects the FieldErrors of one object.
type fieldErrs struct {
	ref  model.Ref
	list []error
}

func newFieldErrs(kind model.Kind, om *metav1.ObjectMeta) *fieldErrs {
	ns := om.Namespace
	if ns == "" && kind != model.KindNamespace {
		ns = DefaultNamespace
	}
	return &fieldErrs{ref: model.Ref{Kind: kind, Namespace: ns, Name: om.Name}}
}

func (f *fieldErrs) add(field, format string, args ...any) {
	f.list = append(f.list, model.Errorf(f.ref, field, format, args...))
}

// addErr records err (if not nil) at field.
func (f *fieldErrs) addErr(field string, err error) {
	if err != nil {
		f.add(field, "%v", err)
	}
}

// idx is the path of element i of a list field: idx("spec.servers", 1) = "spec.servers[1]".
func idx(base string, i int) string { return fmt.Sprintf("%s[%d]", base, i) }

// key is the path of a map entry: key("spec.selector", "app") = "spec.selector[app]".
func key(base, k string) string { return fmt.Sprintf("%s[%s]", base, k) }
