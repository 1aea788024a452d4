package translate

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/meshgate/meshgate/discovery/model"
)

// Index is the part of a translation that does not depend on the proxy:
// services merged across clusters, resolved VirtualServices, DestinationRules
// by host. Build it once per MeshState and translate many proxies with it.
// An Index is read-only after BuildIndex and safe for concurrent use.
type Index struct {
	mesh  *model.MeshState
	opts  Options
	local *model.ClusterState

	services  map[string]*service // by hostname
	hostnames []string            // sorted keys of services
	// drIndex holds the DestinationRules as istiod consolidates them
	// (destinationrules.go).
	drIndex     *drIndex
	vss         []*virtualService
	vsByGateway map[string][]*virtualService // "ns/name" (or "mesh") → bound VirtualServices, in order
	gateways    map[string]*model.Gateway    // "ns/name" → gateway (local cluster)
	// errs are cross-object problems found while indexing (reported once per Result).
	errs []error

	gwOnce sync.Once
	gw     *gatewayIndex
}

// service is one hostname as the mesh sees it: the same Service in every
// cluster that has it (namespace sameness), or a ServiceEntry host.
type service struct {
	Hostname  string
	Name      string
	Namespace string
	Ports     []model.ServicePort
	// Instances are the per-cluster Services (nil for ServiceEntry hosts).
	Instances []instance
	// Entry is set for ServiceEntry hosts.
	Entry *model.ServiceEntry
	// exportTo is the ServiceEntry's exportTo, or the Service's
	// networking.istio.io/exportTo annotation (of the local cluster's Service,
	// else the first cluster's); empty: the mesh default.
	exportTo []string
}

// AnnotationExportTo is istiod's Service annotation naming the namespaces a
// Service is visible in (comma-separated, as a ServiceEntry's exportTo).
const AnnotationExportTo = "networking.istio.io/exportTo"

// serviceExportTo reads a Service's exportTo annotation.
func serviceExportTo(s *model.Service) []string {
	v := s.Annotations[AnnotationExportTo]
	if v == "" {
		return nil
	}
	var out []string
	for _, ns := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(ns))
	}
	return out
}

type instance struct {
	Cluster *model.ClusterState
	Svc     *model.Service
}

// service returns the service of hostname as a proxy in namespace ns sees it:
// nil when there is none or it is not exported to ns (a ServiceEntry's
// exportTo, a Service's exportTo annotation, else the mesh default
// Options.DefaultServiceExportTo; istiod then leaves the cluster out, as for
// a missing service).
func (ix *Index) service(hostname, ns string) *service {
	s := ix.services[hostname]
	if s == nil || !ix.visible(s, ns) {
		return nil
	}
	return s
}

// visible applies a service's exportTo, or the mesh default, for namespace ns.
func (ix *Index) visible(s *service, ns string) bool {
	exportTo := s.exportTo
	if len(exportTo) == 0 {
		exportTo = ix.opts.DefaultServiceExportTo
	}
	return exportedTo(exportTo, s.Namespace, ns)
}

func (s *service) port(number uint32) (model.ServicePort, bool) {
	for _, p := range s.Ports {
		if p.Port == number {
			return p, true
		}
	}
	return model.ServicePort{}, false
}

// external reports a MESH_EXTERNAL ServiceEntry host.
func (s *service) external() bool {
	return s.Entry != nil && s.Entry.Location != "MESH_INTERNAL"
}

// virtualService is a VirtualService with its references resolved as istiod
// does: short hosts to FQDNs, gateway names to "ns/name".
type virtualService struct {
	*model.VirtualService
	Key      string // "ns/name"
	hosts    []string
	gateways []string
}

// BuildIndex indexes mesh for translation.
func BuildIndex(mesh *model.MeshState, opts Options) *Index {
	if opts.DomainSuffix == "" {
		opts.DomainSuffix = model.DefaultDomainSuffix
	}
	if opts.TrustDomain == "" {
		opts.TrustDomain = opts.DomainSuffix
	}
	ix := &Index{
		mesh:     mesh,
		opts:     opts,
		local:    mesh.Local(),
		services: map[string]*service{},
		// gateways and vsByGateway are made by their first entry (an
		// endpoint-only change's narrowed mesh has neither)
	}
	ix.indexServices()
	ix.indexConfig()
	return ix
}

func (ix *Index) indexServices() {
	// The local cluster first, so that its ports win when clusters disagree.
	clusters := slices.Clone(ix.mesh.Clusters)
	slices.SortStableFunc(clusters, func(a, b *model.ClusterState) int {
		return cmp.Compare(boolRank(a.ID != ix.local.ID), boolRank(b.ID != ix.local.ID))
	})
	for _, c := range clusters {
		for i := range c.Services {
			s := &c.Services[i]
			e := ix.services[s.Hostname]
			if e == nil {
				e = &service{Hostname: s.Hostname, Name: s.Name, Namespace: s.Namespace, Ports: s.Ports, exportTo: serviceExportTo(s)}
				ix.services[s.Hostname] = e
			}
			e.Instances = append(e.Instances, instance{Cluster: c, Svc: s})
		}
	}
	ix.indexClusterSet()
	// ServiceEntries of the local cluster (config is local).
	for i := range ix.local.ServiceEntries {
		se := &ix.local.ServiceEntries[i]
		for _, h := range se.Hosts {
			h = resolveShortName(h, se.Namespace, ix.opts.DomainSuffix)
			if _, exists := ix.services[h]; exists {
				continue // a Kubernetes Service of the same name wins
			}
			e := &service{Hostname: h, Name: se.Name, Namespace: se.Namespace, Entry: se, exportTo: se.ExportTo}
			for _, p := range se.Ports {
				e.Ports = append(e.Ports, model.ServicePort{Name: p.Name, Port: p.Number, TargetPort: p.TargetPort, Protocol: "TCP", AppProtocol: string(p.Protocol)})
			}
			if se.WorkloadSelector != nil {
				e.Instances = ix.selectedWorkloads(se)
			}
			ix.services[h] = e
		}
	}
	ix.hostnames = model.SortedKeys(ix.services)
}

// selectedWorkloads are the endpoints of a ServiceEntry with a
// workloadSelector, as istiod's ServiceEntry controller finds them: the Pods of
// the entry's namespace, in every cluster, whose labels match. meshgate's model
// knows the Pods that back a Service (through its EndpointSlices); each such
// Pod counts once, on the entry's port (its targetPort, else its number).
// Pods behind no Service and WorkloadEntry objects are not in the model.
func (ix *Index) selectedWorkloads(se *model.ServiceEntry) []instance {
	var out []instance
	for _, c := range ix.mesh.Clusters {
		seen := map[string]bool{}
		sel := &model.Service{Meta: model.Meta{Name: se.Name, Namespace: se.Namespace}}
		for i := range c.Services {
			s := &c.Services[i]
			if s.Namespace != se.Namespace {
				continue
			}
			for _, ep := range s.Endpoints {
				if seen[ep.Address] || !model.LabelsMatch(se.WorkloadSelector, ep.Labels) {
					continue
				}
				seen[ep.Address] = true
				ep.Ports = nil // the entry's ports apply
				sel.Endpoints = append(sel.Endpoints, ep)
			}
		}
		if len(sel.Endpoints) > 0 {
			slices.SortFunc(sel.Endpoints, func(a, b model.Endpoint) int { return cmp.Compare(a.Address, b.Address) })
			out = append(out, instance{Cluster: c, Svc: sel})
		}
	}
	return out
}

// indexClusterSet adds the Multi-Cluster Services hosts
// <name>.<namespace>.svc.clusterset.local of the services some cluster
// exports (model.ClusterSet): their ports are the clusterset's (the oldest
// export's where exports conflict), their endpoints those of the exporting
// clusters only, and their visibility the exportTo annotation of the oldest
// export's Service (else the mesh default), as for any Service.
func (ix *Index) indexClusterSet() {
	for _, cs := range model.ClusterSet(ix.mesh) {
		if _, exists := ix.services[cs.Hostname]; exists {
			continue // a Service whose cluster domain is clusterset.local
		}
		e := &service{Hostname: cs.Hostname, Name: cs.Name, Namespace: cs.Namespace, Ports: cs.Ports, exportTo: serviceExportTo(cs.Exports[0])}
		for i, id := range cs.Clusters {
			e.Instances = append(e.Instances, instance{Cluster: ix.mesh.Cluster(id), Svc: cs.Exports[i]})
		}
		ix.services[cs.Hostname] = e
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (ix *Index) indexConfig() {
	l := ix.local
	for i := range l.Gateways {
		g := &l.Gateways[i]
		if ix.gateways == nil {
			ix.gateways = map[string]*model.Gateway{}
		}
		ix.gateways[g.NamespacedName()] = g
	}
	ix.indexDestinationRules()
	delegates := map[string]*model.VirtualService{}
	for i := range l.VirtualServices {
		if vs := &l.VirtualServices[i]; len(vs.Hosts) == 0 {
			delegates[vs.NamespacedName()] = vs
		}
	}
	for i := range l.VirtualServices {
		vs := &l.VirtualServices[i]
		if len(vs.Hosts) == 0 {
			continue // a delegate: merged into the roots that name it
		}
		vs = ix.mergeDelegates(vs, delegates)
		r := &virtualService{VirtualService: vs, Key: vs.NamespacedName()}
		for _, h := range vs.Hosts {
			r.hosts = append(r.hosts, resolveShortName(h, vs.Namespace, ix.opts.DomainSuffix))
		}
		gws := vs.Gateways
		if len(gws) == 0 {
			gws = []string{model.MeshGateway}
		}
		for fi, g := range gws {
			rg := resolveGatewayName(g, vs.Namespace)
			r.gateways = append(r.gateways, rg)
			if rg != model.MeshGateway && ix.gateways[rg] == nil {
				ix.errs = append(ix.errs, model.Errorf(model.RefOf(model.KindVirtualService, vs.Meta),
					fieldIndex("spec.gateways", fi), "gateway %q not found", rg))
			}
		}
		ix.vss = append(ix.vss, r)
		for _, g := range slices.Compact(slices.Sorted(slices.Values(r.gateways))) {
			if ix.vsByGateway == nil {
				ix.vsByGateway = map[string][]*virtualService{}
			}
			ix.vsByGateway[g] = append(ix.vsByGateway[g], r)
		}
	}
}

// RootNamespace is the mesh's root config namespace (Istio's default).
const RootNamespace = model.IstioSystemNamespace

// virtualServicesForGateway returns the VirtualServices bound to gateway
// ("ns/name") and visible from namespace, in index order.
func (ix *Index) virtualServicesForGateway(gateway, namespace string) []*virtualService {
	bound := ix.vsByGateway[gateway]
	out := make([]*virtualService, 0, len(bound))
	for _, vs := range bound {
		if exportedTo(vs.ExportTo, vs.Namespace, namespace) {
			out = append(out, vs)
		}
	}
	return out
}

// exportedTo applies Istio's exportTo: empty or "*" is public, "." the
// object's own namespace, else a list of namespaces.
func exportedTo(exportTo []string, own, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		switch e {
		case "*":
			return true
		case ".":
			if own == ns {
				return true
			}
		default:
			if e == ns {
				return true
			}
		}
	}
	return false
}

// gatewaysForProxy returns the local Gateways whose selector matches the proxy labels, in order.
func (ix *Index) gatewaysForProxy(p *Proxy) []*model.Gateway {
	var out []*model.Gateway
	for i := range ix.local.Gateways {
		g := &ix.local.Gateways[i]
		if model.LabelsMatch(g.Selector, p.Labels) {
			out = append(out, g)
		}
	}
	return out
}

// serviceTarget maps a service port of a Service that selects the proxy to the
// port the proxy's pod listens on.
type serviceTarget struct {
	Port       uint32
	TargetPort uint32
	Protocol   string // TCP, UDP
}

// proxyServiceTargets finds the gateway's own Services and returns their
// port → targetPort pairs: the Services whose endpoints include the proxy's IP,
// or, when the IP is unknown or not among the endpoints (the xDS server
// translates once for all replicas of a gateway), the Services in the proxy's
// namespace whose selector matches its labels, as Kubernetes selects pods.
func (ix *Index) proxyServiceTargets(p *Proxy) []serviceTarget {
	c := ix.mesh.Cluster(p.ClusterID)
	if c == nil {
		c = ix.local
	}
	var out []serviceTarget
	if p.IP != "" {
		for i := range c.Services {
			s := &c.Services[i]
			for j := range s.Endpoints {
				if s.Endpoints[j].Address == p.IP {
					out = appendTargets(out, s, &s.Endpoints[j])
					break
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Namespace != p.Namespace || len(s.Selector) == 0 || !model.LabelsMatch(s.Selector, p.Labels) {
			continue
		}
		var ep *model.Endpoint
		if len(s.Endpoints) > 0 {
			ep = &s.Endpoints[0]
		}
		out = appendTargets(out, s, ep)
	}
	return out
}

// appendTargets adds a service's port → targetPort pairs; a named targetPort
// is resolved through an endpoint (whose ports are keyed by service port name).
func appendTargets(out []serviceTarget, s *model.Service, ep *model.Endpoint) []serviceTarget {
	for _, sp := range s.Ports {
		tp := sp.TargetPort
		if ep != nil {
			if v, ok := ep.Port(sp.Name); ok {
				tp = v
			}
		}
		if tp == 0 {
			if sp.TargetPortName != "" {
				continue // unresolved named port: not a listener port we can know
			}
			tp = sp.Port
		}
		out = append(out, serviceTarget{Port: sp.Port, TargetPort: tp, Protocol: sp.Protocol})
	}
	return out
}
