package translate

import (
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/meshgate/meshgate/discovery/model"
)

// RouteDeps is what the translation of one route configuration used beyond
// the VirtualServices bound to it (Result.RouteDeps).
type RouteDeps struct {
	// Clusters are the names of the clusters its routes refer to (sorted,
	// distinct), built or not (a missing service still gives a name).
	Clusters []string
	// Errors are the object errors its translation reported, Envoy
	// validation included, in Result.Errors order.
	Errors []error
}

// RouteUpdate is the route configurations a VirtualService change touches,
// translated again (RoutesFor).
type RouteUpdate struct {
	// Names are the route configurations translated again, sorted; Routes
	// those of them that passed Envoy validation (as Translate, which
	// drops the rest), sorted by name.
	Names  []string
	Routes []*routev3.RouteConfiguration
	// Deps are the RouteDeps of each of Names.
	Deps map[string]RouteDeps
}

// RoutesFor translates again the route configurations of proxy that a
// change of VirtualServices touches: touched are the changed
// VirtualServices, each in its old and its new version (one of them only
// when it was added or removed), and names are the route configurations of
// the proxy's last full translation (the keys of its Result.RouteDeps).
// mesh must differ from the one of that translation only in the
// VirtualServices of its local cluster: then listeners do not change (so
// neither does names), and a route configuration depends only on the
// VirtualServices bound to its servers. What it returns for a name is
// exactly what Translate gives for it; the caller keeps every other
// resource, after checking with the RouteDeps that the clusters referred to
// stay the same (Result.ListenerClusters) and that the errors did.
//
// ok is false when the change may reach beyond the route configurations,
// and then only a full Translate is right: a touched VirtualService with tcp
// or tls routes (listeners), a delegate or a root that delegates (delegation
// errors and merges), one that names a Gateway that does not exist (an
// index error).
func RoutesFor(mesh *model.MeshState, proxy Proxy, opts Options, touched []*model.VirtualService, names []string) (up *RouteUpdate, ok bool) {
	for _, vs := range touched {
		if len(vs.Hosts) == 0 || len(vs.TCP) > 0 || len(vs.TLS) > 0 {
			return nil, false
		}
		for _, r := range vs.HTTP {
			if r.Delegate != nil {
				return nil, false
			}
		}
	}
	ix := BuildIndex(mesh, opts)
	p := ix.completeProxy(proxy)
	b := &builder{
		ix: ix, proxy: &p, out: &Result{RouteDeps: map[string]RouteDeps{}},
		tlsHostsByPort: map[uint32]map[string]string{},
		clusterRefs:    map[string]clusterRef{},
		credentials:    map[string]credential{},
		tcpClusters:    map[string]bool{},
	}
	type binding struct {
		gateways []string
		hosts    []string
		ns       string
	}
	binds := make([]binding, 0, len(touched))
	for _, vs := range touched {
		bd := binding{ns: vs.Namespace}
		for _, h := range vs.Hosts {
			bd.hosts = append(bd.hosts, resolveShortName(h, vs.Namespace, opts.DomainSuffix))
		}
		for _, g := range vs.Gateways {
			rg := resolveGatewayName(g, vs.Namespace)
			if rg != model.MeshGateway && ix.gateways[rg] == nil {
				return nil, false
			}
			bd.gateways = append(bd.gateways, rg)
		}
		binds = append(binds, bd)
	}
	up = &RouteUpdate{Deps: map[string]RouteDeps{}}
	var discard []error
	mg := ix.mergeGateways(&p, &discard)
	if mg == nil {
		return up, true
	}
	// A VirtualService reaches the route configuration of a server when it
	// is bound to the server's Gateway and their hosts intersect
	// (routeConfig); exportTo is not looked at, so a change of it is
	// covered either way.
	touches := func(name string) bool {
		for _, s := range mg.serversByRoute[name] {
			for _, bd := range binds {
				if slices.Contains(bd.gateways, s.GatewayName) &&
					len(hostIntersection(hostsForNamespace(s.Hosts, bd.ns), bd.hosts)) > 0 {
					return true
				}
			}
		}
		return false
	}
	for _, name := range names {
		if touches(name) {
			up.Names = append(up.Names, name)
		}
	}
	b.out.Routes = append(b.out.Routes, b.routeConfigs(mg, up.Names)...)
	slices.Sort(up.Names)
	b.out.Routes = b.keepValidRoutes(b.out.Routes)
	b.sortOutput()
	up.Routes, up.Deps = b.out.Routes, b.out.RouteDeps
	return up, true
}
