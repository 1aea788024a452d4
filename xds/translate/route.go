package translate

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

const maxDirectResponseBodyBytes = 1 << 20

// vhostBuild is a virtual host being assembled; keys identifies the route list
// (gateway + VirtualService per contribution) so identical lists can collapse.
type vhostBuild struct {
	vh   *routev3.VirtualHost
	keys []string
}

// routeConfig builds RDS route config name for the proxy, the way istiod's
// buildGatewayHTTPRouteConfig does: one virtual host per intersecting host,
// hosts with identical routes collapsed, catch-all routes last.
func (b *builder) routeConfig(mg *mergedGateway, name string) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{
		Name:                           name,
		ValidateClusters:               wrapperspb.Bool(false),
		IgnorePortInHostMatching:       true,
		MaxDirectResponseBodySizeBytes: wrapperspb.UInt32(maxDirectResponseBodyBytes),
	}
	servers := mg.serversByRoute[name]
	if len(servers) == 0 {
		return rc
	}
	type cacheKey struct{ gw, vs string }
	cache := map[cacheKey][]*routev3.Route{}
	vhosts := map[string]*vhostBuild{}
	for _, s := range servers {
		port := s.Port.Number
		redirect := s.TLS != nil && s.TLS.HTTPSRedirect
		for _, vs := range b.ix.virtualServicesForGateway(s.GatewayName, b.proxy.Namespace) {
			inter := hostIntersection(hostsForNamespace(s.Hosts, vs.Namespace), vs.hosts)
			if len(inter) == 0 {
				continue
			}
			ck := cacheKey{s.GatewayName, vs.Key}
			routes, ok := cache[ck]
			if !ok {
				routes = b.httpRoutes(vs, port, s.GatewayName, s.TLS != nil)
				if mg.http3Routes[name] {
					for _, r := range routes {
						r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, altSvcHeader(port))
					}
				}
				cache[ck] = routes
			}
			if len(routes) == 0 {
				continue
			}
			for _, h := range inter {
				h = strings.ToLower(h)
				if vb := vhosts[h]; vb != nil {
					vb.vh.Routes = append(vb.vh.Routes, routes...)
					vb.keys = append(vb.keys, s.GatewayName+"|"+vs.Key)
					if redirect {
						vb.vh.RequireTls = routev3.VirtualHost_ALL
					}
					continue
				}
				vh := &routev3.VirtualHost{
					Name: h + ":" + u32s(port), Domains: []string{h},
					Routes: slices.Clone(routes), IncludeRequestAttemptCount: true,
				}
				if redirect {
					vh.RequireTls = routev3.VirtualHost_ALL
				}
				vhosts[h] = &vhostBuild{vh: vh, keys: []string{s.GatewayName + "|" + vs.Key}}
			}
		}
		if redirect {
			for _, h := range s.Hosts {
				h = strings.ToLower(h)
				if vb := vhosts[h]; vb != nil {
					vb.vh.RequireTls = routev3.VirtualHost_ALL
					continue
				}
				vhosts[h] = &vhostBuild{vh: &routev3.VirtualHost{
					Name: h + ":" + u32s(port), Domains: []string{h},
					IncludeRequestAttemptCount: true, RequireTls: routev3.VirtualHost_ALL,
				}, keys: []string{"redirect"}}
			}
		}
	}
	if len(vhosts) == 0 {
		rc.VirtualHosts = []*routev3.VirtualHost{{
			Name: "blackhole:" + u32s(servers[0].Port.Number), Domains: []string{"*"}, Routes: []*routev3.Route{},
		}}
		return rc
	}
	for _, vb := range collapseVirtualHosts(vhosts) {
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
	var out []*vhostBuild
	primary := map[string]*vhostBuild{}
	hosts := model.SortedKeys(in)
	slices.SortStableFunc(hosts, compareHostNames)
	for _, h := range hosts {
		vb := in[h]
		key := strings.Join(vb.keys, ",") + "#" + vb.vh.RequireTls.String()
		if p := primary[key]; p != nil {
			p.vh.Domains = append(p.vh.Domains, vb.vh.Domains...)
			continue
		}
		primary[key] = vb
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
	r := &routev3.Route{Name: name, Match: routeMatch(m, vs.RouteSemantics == model.RouteSemanticsIngress || vs.RouteSemantics == model.RouteSemanticsGateway)}
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
		r.Action = &routev3.Route_Route{Route: b.routeAction(vs, hr, port, authority, r)}
	}
	b.applyPerFilterConfig(r, hr)
	return r
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
