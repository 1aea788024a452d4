package translate

import (
	"encoding/binary"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

const maxDirectResponseBodyBytes = 1 << 20

// routeItem is one contribution to a route configuration: the routes of a
// VirtualService bound to a gateway, built once per configuration (istiod's
// cache by gateway and VirtualService) for the server that first meets it.
type routeItem struct {
	vs      *virtualService
	port    uint32
	gateway string
	isTLS   bool
	http3   bool // the configuration advertises HTTP/3 (alt-svc)
	routes  []*routev3.Route
	// part is the builder that built the routes; errs and refs are the
	// ranges of its errors and cluster references they added.
	part       *builder
	errs, refs [2]int
}

// routeUse is a VirtualService meeting a server: the hosts they share and
// the item of its routes.
type routeUse struct {
	inter []string
	item  int32
}

// routePlan is what routeConfig puts together for one configuration.
type routePlan struct {
	name    string
	servers []*gwServer
	uses    [][]routeUse // per server
	items   []int32      // of the configuration, in the order they were met
}

// routeConfigs builds the route configurations names (in their order) as
// trackedRouteConfig does each, with their RouteDeps and errors.
//
// The routes of every (gateway, VirtualService) item are built on every
// CPU, each worker a contiguous run of the items with a builder of its own
// (the index and the proxy are only read; each worker lists the cluster
// references it finds, added to clusterRefs afterwards); the configurations are then put together in order, taking
// each item's errors and references in the order a single loop meets them,
// so the result is the one routeConfig gives on one goroutine.
func (b *builder) routeConfigs(mg *mergedGateway, names []string) []*routev3.RouteConfiguration {
	n := 0 // at most this many items: slices that large grow by a quarter, copying 5 times their size
	for _, name := range names {
		for _, s := range mg.serversByRoute[name] {
			n += len(b.ix.vsByGateway[s.GatewayName])
		}
	}
	items := make([]routeItem, 0, n)
	plans := make([]routePlan, len(names))
	for i, name := range names {
		plans[i] = b.planRoutes(mg, name, &items)
	}
	b.buildRouteItems(items)
	out := make([]*routev3.RouteConfiguration, len(names))
	for i := range plans {
		p := &plans[i]
		from := len(b.out.Errors)
		refs := []string{}
		for _, it := range p.items {
			x := &items[it]
			b.out.Errors = append(b.out.Errors, x.part.out.Errors[x.errs[0]:x.errs[1]]...)
			refs = append(refs, x.part.routeRefs[x.refs[0]:x.refs[1]]...)
		}
		out[i] = b.assembleRoutes(p, items)
		slices.Sort(refs)
		d := RouteDeps{Clusters: slices.Compact(refs)}
		if len(b.out.Errors) > from {
			d.Errors = slices.Clone(b.out.Errors[from:])
		}
		b.out.RouteDeps[p.name] = d
	}
	return out
}

// planRoutes finds the items of configuration name (appended to items)
// and where each is used.
func (b *builder) planRoutes(mg *mergedGateway, name string, items *[]routeItem) routePlan {
	p := routePlan{name: name, servers: mg.serversByRoute[name]}
	p.uses = make([][]routeUse, len(p.servers))
	type cacheKey struct{ gw, vs string }
	n := 0
	for _, s := range p.servers {
		n += len(b.ix.vsByGateway[s.GatewayName])
	}
	seen := make(map[cacheKey]int32, n)
	for si, s := range p.servers {
		for _, vs := range b.ix.virtualServicesForGateway(s.GatewayName, b.proxy.Namespace) {
			inter := hostIntersection(hostsForNamespace(s.Hosts, vs.Namespace), vs.hosts)
			if len(inter) == 0 {
				continue
			}
			ck := cacheKey{s.GatewayName, vs.Key}
			it, ok := seen[ck]
			if !ok {
				it = int32(len(*items))
				seen[ck] = it
				*items = append(*items, routeItem{vs: vs, port: s.Port.Number, gateway: s.GatewayName,
					isTLS: s.TLS != nil, http3: mg.http3Routes[name]})
				p.items = append(p.items, it)
			}
			p.uses[si] = append(p.uses[si], routeUse{inter: inter, item: it})
		}
	}
	return p
}

// buildRouteItems builds the routes of every item.
func (b *builder) buildRouteItems(items []routeItem) {
	workers := min(runtime.GOMAXPROCS(0), len(items)/minRouteItemsPerWorker)
	build := func(part *builder, items []routeItem) {
		for i := range items {
			x := &items[i]
			x.part = part
			x.errs[0], x.refs[0] = len(part.out.Errors), len(part.routeRefs)
			x.routes = part.httpRoutes(x.vs, x.port, x.gateway, x.isTLS)
			if x.http3 {
				for _, r := range x.routes {
					r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, altSvcHeader(x.port))
				}
			}
			x.errs[1], x.refs[1] = len(part.out.Errors), len(part.routeRefs)
		}
	}
	newPart := func(items []routeItem) *builder {
		n := 0 // the most cluster references items can have: slices that large grow by a quarter
		for i := range items {
			n += maxClusterRefs(items[i].vs)
		}
		refs := make([]namedRef, 0, n)
		return &builder{ix: b.ix, proxy: b.proxy, out: &Result{}, newRefs: &refs,
			tcpClusters: b.tcpClusters, tlsHostsByPort: b.tlsHostsByPort, rds: b.rds, credentials: map[string]credential{},
			routeRefs: make([]string, 0, n)}
	}
	parts := make([]*builder, max(workers, 1))
	if workers <= 1 {
		parts[0] = newPart(items)
		build(parts[0], items)
	} else {
		var wg sync.WaitGroup
		for w := range parts {
			lo, hi := w*len(items)/workers, (w+1)*len(items)/workers
			part := newPart(items[lo:hi])
			parts[w] = part
			wg.Go(func() { build(part, items[lo:hi]) })
		}
		wg.Wait()
	}
	n := len(b.clusterRefs)
	for _, part := range parts {
		n += len(*part.newRefs)
	}
	if n > 2*len(b.clusterRefs)+64 { // made once at its size rather than grown and rehashed
		refs := make(map[string]clusterRef, n)
		maps.Copy(refs, b.clusterRefs)
		b.clusterRefs = refs
	}
	for _, part := range parts {
		for _, r := range *part.newRefs { // a name always has the same reference
			b.clusterRefs[r.name] = r.ref
		}
		b.out.Warnings = append(b.out.Warnings, part.out.Warnings...)
	}
}

// maxClusterRefs is the most clusters httpRoutes can name for vs: every
// destination and mirror of every route, once per match.
func maxClusterRefs(vs *virtualService) int {
	n := 0
	for i := range vs.HTTP {
		hr := &vs.HTTP[i]
		n += (len(hr.Route) + len(hr.Mirrors)) * max(len(hr.Match), 1)
	}
	return n
}

// minRouteItemsPerWorker: below this many items per CPU, buildRouteItems
// stays on one goroutine.
var minRouteItemsPerWorker = 64 // a variable for tests

// vhostBuild is a virtual host being assembled; keys identifies the route list
// (the items of its contributions, redirectKey for a redirect-only host) so
// identical lists can collapse.
type vhostBuild struct {
	vh   *routev3.VirtualHost
	keys []int32
	// the virtual host, its domain and its first key, allocated together
	vhMsg routev3.VirtualHost
	dom   [1]string
	key0  [1]int32
}

// redirectKey is the key of a host that only a server's httpsRedirect adds.
const redirectKey = -1

func newVhostBuild(h, name string, key int32) *vhostBuild {
	vb := &vhostBuild{}
	vb.vh, vb.dom[0], vb.key0[0] = &vb.vhMsg, h, key
	vb.keys = vb.key0[:]
	vb.vh.Name, vb.vh.Domains, vb.vh.IncludeRequestAttemptCount = name, vb.dom[:], true
	return vb
}

// assembleRoutes puts route configuration p together from its items' routes,
// the way istiod's buildGatewayHTTPRouteConfig does: one virtual host per
// intersecting host, hosts with identical routes collapsed, catch-all
// routes last.
func (b *builder) assembleRoutes(p *routePlan, items []routeItem) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{
		Name:                           p.name,
		ValidateClusters:               wrapperspb.Bool(false),
		IgnorePortInHostMatching:       true,
		MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(maxDirectResponseBodyBytes),
	}
	if len(p.servers) == 0 {
		return rc
	}
	vhosts := map[string]*vhostBuild{}
	for si, s := range p.servers {
		suffix := ":" + u32s(s.Port.Number)
		redirect := s.TLS != nil && s.TLS.HTTPSRedirect
		for _, u := range p.uses[si] {
			routes := items[u.item].routes
			if len(routes) == 0 {
				continue
			}
			for _, h := range u.inter {
				h = strings.ToLower(h)
				if vb := vhosts[h]; vb != nil {
					vb.vh.Routes = append(vb.vh.Routes, routes...)
					vb.keys = append(vb.keys, u.item)
					if redirect {
						vb.vh.RequireTls = routev3.VirtualHost_ALL
					}
					continue
				}
				vb := newVhostBuild(h, h+suffix, u.item)
				vb.vh.Routes = slices.Clone(routes)
				if redirect {
					vb.vh.RequireTls = routev3.VirtualHost_ALL
				}
				vhosts[h] = vb
			}
		}
		if redirect {
			for _, h := range s.Hosts {
				h = strings.ToLower(h)
				if vb := vhosts[h]; vb != nil {
					vb.vh.RequireTls = routev3.VirtualHost_ALL
					continue
				}
				vb := newVhostBuild(h, h+suffix, redirectKey)
				vb.vh.RequireTls = routev3.VirtualHost_ALL
				vhosts[h] = vb
			}
		}
	}
	if len(vhosts) == 0 {
		rc.VirtualHosts = []*routev3.VirtualHost{{
			Name: "blackhole:" + u32s(p.servers[0].Port.Number), Domains: []string{"*"}, Routes: []*routev3.Route{},
		}}
		return rc
	}
	collapsed := collapseVirtualHosts(vhosts)
	rc.VirtualHosts = make([]*routev3.VirtualHost, 0, len(collapsed))
	for _, vb := range collapsed {
		vb.vh.Routes = sortCatchAllLast(vb.vh.Routes)
		rc.VirtualHosts = append(rc.VirtualHosts, vb.vh)
	}
	slices.SortFunc(rc.VirtualHosts, func(a, b *routev3.VirtualHost) int { return strings.Compare(a.Name, b.Name) })
	return rc
}

// collapseVirtualHosts merges hosts whose route lists come from the same
// contributions (and agree on require_tls) into one virtual host with several
// domains. Hosts are visited in istiod's order (host.Names: non-wildcards
// first, longest first, then alphabetical); the first one names the merged host.
func collapseVirtualHosts(in map[string]*vhostBuild) []*vhostBuild {
	out := make([]*vhostBuild, 0, len(in))
	type oneKey struct {
		key int32
		tls routev3.VirtualHost_TlsRequirementType
	}
	single := make(map[oneKey]*vhostBuild, len(in)) // most hosts have one contribution
	var multi map[string]*vhostBuild
	hosts := make([]string, 0, len(in))
	for h := range in {
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, compareHostNames) // a total order: the same as sorting the names first
	var buf []byte
	for _, h := range hosts {
		vb := in[h]
		var p *vhostBuild
		if len(vb.keys) == 1 {
			k := oneKey{vb.keys[0], vb.vh.RequireTls}
			if p = single[k]; p == nil {
				single[k] = vb
			}
		} else {
			buf = buf[:0]
			for _, k := range vb.keys {
				buf = binary.LittleEndian.AppendUint32(buf, uint32(k))
			}
			buf = binary.LittleEndian.AppendUint32(buf, uint32(vb.vh.RequireTls))
			if p = multi[string(buf)]; p == nil {
				if multi == nil {
					multi = map[string]*vhostBuild{}
				}
				multi[string(buf)] = vb
			}
		}
		if p != nil {
			p.vh.Domains = append(p.vh.Domains, vb.vh.Domains...)
			continue
		}
		out = append(out, vb)
	}
	return out
}

// compareHostNames orders hosts as istiod's host.Names does: wildcards last,
// longer names first, equal lengths alphabetically.
func compareHostNames(a, b string) int {
	aw, bw := strings.HasPrefix(a, "*"), strings.HasPrefix(b, "*")
	switch {
	case aw != bw && aw:
		return 1
	case aw != bw:
		return -1
	case len(a) != len(b):
		return len(b) - len(a)
	}
	return strings.Compare(a, b)
}

func sortCatchAllLast(routes []*routev3.Route) []*routev3.Route {
	first := slices.IndexFunc(routes, isCatchAll)
	if first < 0 || first == len(routes)-1 {
		return routes // already in order (one contribution stops at its catch-all)
	}
	var normal, catchAll []*routev3.Route
	for _, r := range routes {
		if isCatchAll(r) {
			catchAll = append(catchAll, r)
		} else {
			normal = append(normal, r)
		}
	}
	return append(normal, catchAll...)
}

func isCatchAll(r *routev3.Route) bool {
	m := r.GetMatch()
	all := false
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		all = ps.Prefix == "/"
	case *routev3.RouteMatch_PathSeparatedPrefix:
		all = ps.PathSeparatedPrefix == "/"
	case *routev3.RouteMatch_SafeRegex:
		all = ps.SafeRegex.GetRegex() == ".*"
	}
	return all && len(m.GetHeaders()) == 0 && len(m.GetQueryParameters()) == 0 && len(m.GetDynamicMetadata()) == 0
}

// httpRoutes translates the http rules of vs that apply to gateway on port:
// one Envoy route per match, stopping after a catch-all.
func (b *builder) httpRoutes(vs *virtualService, port uint32, gateway string, isTLS bool) []*routev3.Route {
	var out []*routev3.Route
	catchAll := false
	for ri := range vs.HTTP {
		hr := &vs.HTTP[ri]
		if len(hr.Match) == 0 {
			if r := b.httpRoute(vs, ri, nil, port, gateway, isTLS); r != nil {
				out = append(out, r)
			}
			catchAll = true
		} else {
			for mi := range hr.Match {
				r := b.httpRoute(vs, ri, &hr.Match[mi], port, gateway, isTLS)
				if r == nil {
					continue
				}
				out = append(out, r)
				if isCatchAll(r) {
					catchAll = true
					break
				}
			}
		}
		if catchAll {
			break
		}
	}
	return out
}

// httpRoute is istiod's TranslateRoute for one match (nil: no match conditions).
func (b *builder) httpRoute(vs *virtualService, ri int, m *model.HTTPMatch, port uint32, gateway string, isTLS bool) *routev3.Route {
	hr := &vs.HTTP[ri]
	if m != nil {
		if m.Port != 0 && m.Port != port {
			return nil
		}
		if !b.sourceMatches(m, gateway, vs.Namespace) {
			return nil
		}
	}
	name := hr.Name
	if m != nil && m.Name != "" {
		name += "." + m.Name
	}
	rm := &routeMsgs{} // the messages most routes have, allocated together
	r := &rm.r
	r.Name, r.Match = name, &rm.match
	routeMatch(&rm.match, &rm.prefix, m, vs.RouteSemantics == model.RouteSemanticsIngress || vs.RouteSemantics == model.RouteSemanticsGateway)
	authority := ""
	if hr.Headers != nil {
		ops := headerOps(hr.Headers)
		r.RequestHeadersToAdd, r.RequestHeadersToRemove = ops.reqAdd, ops.reqRemove
		r.ResponseHeadersToAdd, r.ResponseHeadersToRemove = ops.respAdd, ops.respRemove
		authority = ops.authority
	}
	switch {
	case hr.Redirect != nil:
		if !applyRedirect(r, hr.Redirect, port, isTLS) {
			b.errorf(model.RefOf(model.KindVirtualService, vs.Meta), fieldIndex("spec.http", ri)+".redirect.redirectCode",
				"redirect code %d is not supported", hr.Redirect.RedirectCode)
			return nil
		}
	case hr.DirectResponse != nil:
		r.Action = directResponse(hr.DirectResponse)
	default:
		rm.action.Route = &rm.a
		r.Action = &rm.action
		b.routeAction(&rm.a, &rm.cluster, vs, hr, port, authority, r)
	}
	b.applyPerFilterConfig(r, hr)
	return r
}

// routeMsgs are a route with its match and forwarding action.
type routeMsgs struct {
	r       routev3.Route
	match   routev3.RouteMatch
	prefix  routev3.RouteMatch_Prefix
	action  routev3.Route_Route
	a       routev3.RouteAction
	cluster routev3.RouteAction_Cluster
}

// sourceMatches applies match.gateways (or sourceLabels/sourceNamespace, which
// match against the gateway proxy itself).
func (b *builder) sourceMatches(m *model.HTTPMatch, gateway, vsNamespace string) bool {
	if len(m.Gateways) > 0 {
		return gatewayListed(m.Gateways, gateway, vsNamespace)
	}
	if !model.LabelsMatch(m.SourceLabels, b.proxy.Labels) {
		return false
	}
	return m.SourceNamespace == "" || m.SourceNamespace == b.proxy.Namespace
}

// altSvcHeader advertises HTTP/3 on the server port, as istiod does.
func altSvcHeader(port uint32) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
		Header:       &corev3.HeaderValue{Key: "alt-svc", Value: `h3=":` + u32s(port) + `"; ma=86400`},
	}
}
