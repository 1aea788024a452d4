package translate

import (
	"maps"
	"slices"
	"strings"

	"github.com/meshgate/meshgate/discovery/model"
)

// Delegate VirtualServices, as istiod merges them (model/virtualservice.go
// and virtualservice_controller.go): a VirtualService without hosts is a
// delegate; a root VirtualService's http route with `delegate` is replaced by
// the delegate's routes, each with its match conditions narrowed by the
// root's (a delegate route whose matches conflict with the root's is
// dropped) and the root's rewrite, timeout, retries, fault, mirrors, CORS
// policy and header operations where the delegate sets none. The delegate's
// short host names resolve in its own namespace. A missing delegate, or one
// not exported to the root's namespace, leaves out that route (istiod logs
// it; meshgate reports it).

// mergeDelegates returns vs with its delegate routes merged, or vs itself when
// it has none.
func (ix *Index) mergeDelegates(vs *model.VirtualService, delegates map[string]*model.VirtualService) *model.VirtualService {
	if !slices.ContainsFunc(vs.HTTP, func(r model.HTTPRoute) bool { return r.Delegate != nil }) {
		return vs
	}
	out := *vs
	out.HTTP = nil
	ref := model.RefOf(model.KindVirtualService, vs.Meta)
	for i, r := range vs.HTTP {
		if r.Delegate == nil {
			out.HTTP = append(out.HTTP, r)
			continue
		}
		ns := r.Delegate.Namespace
		if ns == "" {
			ns = vs.Namespace
		}
		field := fieldIndex("spec.http", i) + ".delegate"
		d := delegates[ns+"/"+r.Delegate.Name]
		switch {
		case d == nil:
			ix.errs = append(ix.errs, model.Errorf(ref, field, "delegate VirtualService %s/%s not found (a delegate has no hosts); route skipped", ns, r.Delegate.Name))
			continue
		case !exportedTo(d.ExportTo, d.Namespace, vs.Namespace):
			ix.errs = append(ix.errs, model.Errorf(ref, field, "delegate VirtualService %s/%s is not exported to namespace %s; route skipped", ns, r.Delegate.Name, vs.Namespace))
			continue
		}
		for _, dr := range d.HTTP {
			if m, ok := mergeHTTPRoute(r, ix.resolveDelegateHosts(dr, d.Namespace)); ok {
				out.HTTP = append(out.HTTP, m)
			}
		}
	}
	return &out
}

// resolveDelegateHosts makes a delegate route's destination hosts fully
// qualified in the delegate's namespace.
func (ix *Index) resolveDelegateHosts(r model.HTTPRoute, ns string) model.HTTPRoute {
	r.Route = slices.Clone(r.Route)
	for i := range r.Route {
		r.Route[i].Destination.Host = resolveShortName(r.Route[i].Destination.Host, ns, ix.opts.DomainSuffix)
	}
	r.Mirrors = slices.Clone(r.Mirrors)
	for i := range r.Mirrors {
		r.Mirrors[i].Destination.Host = resolveShortName(r.Mirrors[i].Destination.Host, ns, ix.opts.DomainSuffix)
	}
	return r
}

// mergeHTTPRoute is istiod's mergeHTTPRoute; false when the matches conflict.
func mergeHTTPRoute(root, d model.HTTPRoute) (model.HTTPRoute, bool) {
	match, conflict := mergeHTTPMatches(root.Match, d.Match)
	if conflict {
		return model.HTTPRoute{}, false
	}
	d.Match = match
	switch {
	case d.Name == "":
		d.Name = root.Name
	case root.Name != "":
		d.Name = root.Name + "-" + d.Name
	}
	if d.Rewrite == nil {
		d.Rewrite = root.Rewrite
	}
	if d.DirectResponse == nil {
		d.DirectResponse = root.DirectResponse
	}
	if d.Timeout == nil {
		d.Timeout = root.Timeout
	}
	if d.Retries == nil {
		d.Retries = root.Retries
	}
	if d.Fault == nil {
		d.Fault = root.Fault
	}
	if d.Mirrors == nil {
		d.Mirrors = root.Mirrors
	}
	if d.CorsPolicy == nil {
		d.CorsPolicy = root.CorsPolicy
	}
	if d.Headers == nil {
		d.Headers = root.Headers
	}
	return d, true
}

// mergeHTTPMatches is istiod's mergeHTTPMatchRequests: every delegate match
// must fit at least one root match; it is narrowed by each root match it fits.
func mergeHTTPMatches(root, d []model.HTTPMatch) (out []model.HTTPMatch, conflict bool) {
	if len(root) == 0 {
		return d, false
	}
	if len(d) == 0 {
		return root, false
	}
	for _, sub := range d {
		found := false
		for _, rm := range root {
			if matchConflict(rm, sub) {
				continue
			}
			out = append(out, mergeHTTPMatch(rm, sub))
			found = true
		}
		if !found {
			return nil, true
		}
	}
	return out, len(out) == 0
}

func mergeHTTPMatch(root, d model.HTTPMatch) model.HTTPMatch {
	out := d
	switch {
	case out.Name == "":
		out.Name = root.Name
	case root.Name != "":
		out.Name = root.Name + "-" + out.Name
	}
	if out.URI == nil {
		out.URI = root.URI
	}
	if out.Scheme == nil {
		out.Scheme = root.Scheme
	}
	if out.Method == nil {
		out.Method = root.Method
	}
	if out.Authority == nil {
		out.Authority = root.Authority
	}
	out.Headers = mergeMaps(root.Headers, d.Headers)
	out.WithoutHeaders = mergeMaps(root.WithoutHeaders, d.WithoutHeaders)
	out.QueryParams = mergeMaps(root.QueryParams, d.QueryParams)
	if out.Port == 0 {
		out.Port = root.Port
	}
	out.SourceLabels = mergeMaps(root.SourceLabels, d.SourceLabels)
	if out.SourceNamespace == "" {
		out.SourceNamespace = root.SourceNamespace
	}
	if len(out.Gateways) == 0 {
		out.Gateways = root.Gateways
	}
	return out
}

// mergeMaps is istiod's maps.MergeCopy: a copy of base with overlay's entries
// over it (nil when both are empty).
func mergeMaps[V any](base, overlay map[string]V) map[string]V {
	if len(base) == 0 && len(overlay) == 0 {
		return nil
	}
	out := maps.Clone(base)
	if out == nil {
		out = map[string]V{}
	}
	maps.Copy(out, overlay)
	return out
}

// matchConflict is istiod's hasConflict: the delegate match asks for
// something the root match excludes.
func matchConflict(root, leaf model.HTTPMatch) bool {
	roots := []*model.StringMatch{root.URI, root.Scheme, root.Method, root.Authority}
	leaves := []*model.StringMatch{leaf.URI, leaf.Scheme, leaf.Method, leaf.Authority}
	for i := range roots {
		if stringMatchConflict(roots[i], leaves[i]) {
			return true
		}
	}
	for _, x := range []struct{ root, leaf map[string]model.StringMatch }{
		{root.Headers, leaf.Headers}, {root.WithoutHeaders, leaf.WithoutHeaders}, {root.QueryParams, leaf.QueryParams},
	} {
		for k, lv := range x.leaf {
			var rv *model.StringMatch
			if v, ok := x.root[k]; ok {
				rv = &v
			}
			if stringMatchConflict(rv, &lv) {
				return true
			}
		}
	}
	if root.IgnoreURICase != leaf.IgnoreURICase {
		return true
	}
	if root.Port > 0 && leaf.Port > 0 && root.Port != leaf.Port {
		return true
	}
	if root.SourceNamespace != "" && leaf.SourceNamespace != root.SourceNamespace {
		return true
	}
	for k, v := range leaf.SourceLabels {
		if rv, ok := root.SourceLabels[k]; ok && rv != v {
			return true
		}
	}
	if len(root.Gateways) > 0 && len(leaf.Gateways) > 0 {
		if len(root.Gateways) < len(leaf.Gateways) {
			return true
		}
		for _, g := range leaf.Gateways {
			if !slices.Contains(root.Gateways, g) {
				return true
			}
		}
	}
	return false
}

// stringMatchConflict is istiod's: unset on either side never conflicts; a
// regex on one side conflicts with any match on the other; under an exact
// root only the same exact fits; under a prefix root a longer prefix or an
// exact value starting with it fits.
func stringMatchConflict(root, leaf *model.StringMatch) bool {
	if root == nil || leaf == nil {
		return false
	}
	// istiod reads the oneof through getters: an empty value counts as unset
	rRegex, rPrefix, rExact := root.Regex, root.Prefix, root.Exact
	lRegex, lPrefix, lExact := leaf.Regex, leaf.Prefix, leaf.Exact
	if rRegex != "" && (lRegex != "" || lPrefix != "" || lExact != "") {
		return true
	}
	if lRegex != "" && (rRegex != "" || rPrefix != "" || rExact != "") {
		return true
	}
	if rExact != "" {
		return lPrefix != "" || lExact != rExact
	}
	if rPrefix != "" {
		if lPrefix != "" {
			return !strings.HasPrefix(lPrefix, rPrefix)
		}
		if lExact != "" {
			return !strings.HasPrefix(lExact, rPrefix)
		}
	}
	return true
}
