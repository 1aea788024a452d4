package server

import (
	"maps"
	"slices"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// RoutesFunc translates again only the route configurations of one proxy
// that a change of VirtualServices touches (translate.RoutesFor's
// contract): the fast path for VirtualService-only changes. ok false asks
// for a full translation.
type RoutesFunc func(mesh *model.MeshState, proxy translate.Proxy, opts translate.Options, touched []*model.VirtualService, names []string) (*translate.RouteUpdate, bool)

// EnvoyRoutes is the RoutesFunc of translate.Translate.
func EnvoyRoutes(mesh *model.MeshState, proxy translate.Proxy, opts translate.Options, touched []*model.VirtualService, names []string) (*translate.RouteUpdate, bool) {
	return translate.RoutesFor(mesh, proxy, opts, touched, names)
}

// routeDeps is translate.RouteDeps with the errors located, as the group
// reports them.
type routeDeps struct {
	clusters []string
	errs     []string
}

// depsOf keeps a translation's route dependencies (nil when it has none).
func depsOf(mesh *model.MeshState, deps map[string]translate.RouteDeps) map[string]routeDeps {
	if deps == nil {
		return nil
	}
	out := make(map[string]routeDeps, len(deps))
	for n, d := range deps {
		out[n] = routeDeps{clusters: d.Clusters, errs: locate(mesh, d.Errors)}
	}
	return out
}

func locate(mesh *model.MeshState, errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, mesh.Locate(e).Error())
	}
	return out
}

// routesBuild is prev with the route configurations of up in place of
// theirs, when that is what a full translation of mesh gives (meshDiff.vs:
// only VirtualServices changed): the rebuilt configurations report the same
// errors as before (so the group's errors stay as they are) and every
// cluster name that appears in or disappears from them (taken together) is
// still named by a listener or another route configuration (so the clusters, their
// endpoints and the listeners stay as they are). ok false asks for a full
// rebuild.
func routesBuild(prev *build, up *translate.RouteUpdate, mesh *model.MeshState, ch change) (b *build, ok bool) {
	deps := maps.Clone(prev.routeDeps)
	var before, after []string // the clusters the rebuilt configurations name
	for _, n := range up.Names {
		old, had := prev.routeDeps[n]
		nd := up.Deps[n]
		d := routeDeps{clusters: nd.Clusters, errs: locate(mesh, nd.Errors)}
		if !had || !slices.Equal(old.errs, d.errs) {
			return nil, false
		}
		before, after = append(before, old.clusters...), append(after, d.clusters...)
		deps[n] = d
	}
	slices.Sort(before)
	slices.Sort(after)
	for _, c := range symmetricDiff(slices.Compact(before), slices.Compact(after)) {
		if !namedElsewhere(prev, c, up.Names) {
			return nil, false
		}
	}
	routes := prev.kinds[kRoute]
	items := maps.Clone(routes.items)
	for _, n := range up.Names {
		delete(items, n) // dropped by validation: errors said so, and they did not change
	}
	for _, rc := range up.Routes {
		raw, h, err := marshal(rc)
		if err != nil {
			return nil, false
		}
		items[rc.GetName()] = item{res: rc, raw: raw, hash: h}
	}
	b = &build{kinds: prev.kinds, changedAt: ch.at, origins: ch.origins, routeDeps: deps, listenerClusters: prev.listenerClusters}
	b.kinds[kRoute] = typed{items: items}.sealed()
	b.snap = b.snapshot()
	return b, true
}

// namedElsewhere reports whether cluster c is named by b's listeners or by
// a route configuration other than skip's.
func namedElsewhere(b *build, c string, skip []string) bool {
	if _, ok := slices.BinarySearch(b.listenerClusters, c); ok {
		return true
	}
	for n, d := range b.routeDeps {
		if slices.Contains(skip, n) {
			continue
		}
		if _, ok := slices.BinarySearch(d.clusters, c); ok {
			return true
		}
	}
	return false
}

// symmetricDiff is what is in exactly one of two sorted lists.
func symmetricDiff(a, b []string) []string {
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return out
}

// buildRoutes rebuilds only the route configurations of g that the changed
// VirtualServices (d.vs) touch, reusing every other resource of its build,
// and returns what installs it; incremental false says it did a full
// rebuild instead (buildGroup) because the change may reach further
// (translate.RoutesFor, routesBuild) or g has no fast path.
func (s *Server) buildRoutes(g *group, mesh *model.MeshState, d meshDiff, changedAt change, errs map[string]int) (install func(), incremental bool) {
	fast := s.opts.EnvoyRoutes
	g.mu.Lock()
	prev, objErrs, stale := g.target, g.objErrs, g.stale
	g.mu.Unlock()
	if fast == nil || g.node.Generator == node.GeneratorGRPC || prev == nil || prev.routeDeps == nil || stale {
		return s.buildGroup(g, mesh, changedAt, errs), false
	}
	up, ok := fast(mesh, g.node.Proxy, s.cfg.Translate, d.vs, slices.Sorted(maps.Keys(prev.routeDeps)))
	var b *build
	if ok {
		b, ok = routesBuild(prev, up, mesh, changedAt)
	}
	if !ok {
		return s.buildGroup(g, mesh, changedAt, errs), false
	}
	for _, e := range objErrs { // unchanged, and still in the configuration
		errs[e]++
	}
	if len(up.Names) == 0 {
		return nil, true // none of g's route configurations is touched
	}
	return func() {
		if err := g.install(b, nil, changedAt); err != nil {
			s.log.Error("installing configuration", "group", g.key, "err", err)
		}
	}, true
}
