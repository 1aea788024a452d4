package convert

import (
	"cmp"
	"strconv"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// grpcRules is istiod's convertGRPCRoute for every rule of r, one route per
// match: service and method become a path match, header matches and
// modifiers, mirrors and weighted backends as for an HTTPRoute; false if a
// rule cannot be converted (the route is then left out).
func (c *gwapi) grpcRules(r *gwv1.GRPCRoute) ([]model.HTTPRoute, bool) {
	ns := cmp.Or(r.Namespace, DefaultNamespace)
	var out []model.HTTPRoute
	ok := true
	for n, rule := range r.Spec.Rules {
		field := idx("spec.rules", n)
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.GRPCRouteMatch{{}}
		}
		for mi, m := range matches {
			hr, good := c.grpcRule(r, ns, rule, n, m, len(rule.Matches) > 0, field, mi)
			if !good {
				ok = false
				continue
			}
			out = append(out, hr)
		}
	}
	return out, ok
}

func (c *gwapi) grpcRule(r *gwv1.GRPCRoute, ns string, rule gwv1.GRPCRouteRule, n int, m gwv1.GRPCRouteMatch, hasMatch bool, field string, mi int) (model.HTTPRoute, bool) {
	bad := func(f, format string, args ...any) (model.HTTPRoute, bool) {
		c.errorf(KindGRPCRoute, &r.ObjectMeta, f, format, args...)
		c.routeError(ruleErrorReason(f), format, args...)
		return model.HTTPRoute{}, false
	}
	out := model.HTTPRoute{Name: ns + "." + r.Name + "." + strconv.Itoa(n)}
	if rule.Name != nil {
		out.Name = string(*rule.Name)
	}
	if hasMatch {
		mf := idx(field+".matches", mi)
		hm := model.HTTPMatch{}
		if mm := m.Method; mm != nil {
			if mm.Method == nil && mm.Service == nil {
				return bad(mf+".method", "gRPC match must have method or service defined")
			}
			svc, meth := ptrOr(mm.Service, ""), ptrOr(mm.Method, "")
			switch t := ptrOr(mm.Type, gwv1.GRPCMethodMatchExact); t {
			case gwv1.GRPCMethodMatchExact:
				switch {
				case mm.Method == nil:
					hm.URI = &model.StringMatch{Kind: "prefix", Prefix: "/" + svc + "/"}
				case mm.Service == nil:
					hm.URI = &model.StringMatch{Kind: "regex", Regex: "/[^/]+/" + meth}
				default:
					hm.URI = &model.StringMatch{Kind: "exact", Exact: "/" + svc + "/" + meth}
				}
			case gwv1.GRPCMethodMatchRegularExpression:
				switch {
				case mm.Method == nil:
					hm.URI = &model.StringMatch{Kind: "regex", Regex: "/" + svc + "/.+"}
				case mm.Service == nil:
					hm.URI = &model.StringMatch{Kind: "regex", Regex: "/[^/]+/" + meth}
				default:
					hm.URI = &model.StringMatch{Kind: "regex", Regex: "/" + svc + "/" + meth}
				}
				if err := validateRegex(hm.URI.Regex); err != nil {
					return bad(mf+".method", "%v", err)
				}
			default:
				return bad(mf+".method.type", "unknown type: %q is not supported method match type", t)
			}
		}
		for hi, h := range m.Headers {
			sm, err := gwStringMatch(string(ptrOr(h.Type, gwv1.GRPCHeaderMatchExact)), h.Value)
			if err != nil {
				return bad(idx(mf+".headers", hi), "%v", err)
			}
			if hm.Headers == nil {
				hm.Headers = map[string]model.StringMatch{}
			}
			hm.Headers[string(h.Name)] = sm
		}
		out.Match = []model.HTTPMatch{hm}
	}
	for fi, f := range rule.Filters {
		ff := idx(field+".filters", fi)
		switch f.Type {
		case gwv1.GRPCRouteFilterRequestHeaderModifier, gwv1.GRPCRouteFilterResponseHeaderModifier:
			hf := f.RequestHeaderModifier
			if f.Type == gwv1.GRPCRouteFilterResponseHeaderModifier {
				hf = f.ResponseHeaderModifier
			}
			if hf == nil {
				continue
			}
			ops, err := gwHeaderOps(hf)
			if err != nil {
				return bad(ff, "%v", err)
			}
			if out.Headers == nil {
				out.Headers = &model.Headers{}
			}
			if f.Type == gwv1.GRPCRouteFilterRequestHeaderModifier {
				out.Headers.Request = ops
			} else {
				out.Headers.Response = ops
			}
		case gwv1.GRPCRouteFilterRequestMirror:
			if f.RequestMirror == nil {
				continue
			}
			d, err := c.backend(KindGRPCRoute, ns, f.RequestMirror.BackendRef)
			if dropped(err) { // the route's error stays the backend's
				c.errorf(KindGRPCRoute, &r.ObjectMeta, ff+".requestMirror.backendRef", "%s", err.message)
				return model.HTTPRoute{}, false
			}
			mir := model.HTTPMirror{Destination: d}
			if fr := f.RequestMirror.Fraction; fr != nil {
				v := 100 * float64(fr.Numerator) / float64(ptrOr(fr.Denominator, 100))
				mir.Percentage = &v
			} else if p := f.RequestMirror.Percent; p != nil {
				v := float64(*p)
				mir.Percentage = &v
			}
			out.Mirrors = append(out.Mirrors, mir)
		default:
			return bad(ff+".type", "unsupported filter type %q", f.Type)
		}
	}
	var refs []gwv1.GRPCBackendRef
	var weights []int32
	for _, b := range rule.BackendRefs {
		if w := ptrOr(b.Weight, 1); w > 0 {
			refs, weights = append(refs, b), append(weights, w)
		}
	}
	if len(refs) == 0 {
		out.DirectResponse = &model.HTTPDirectResponse{Status: 500}
		return out, true
	}
	if len(weights) == 1 {
		weights[0] = 0
	}
	for bi, b := range refs {
		if len(b.Filters) > 0 {
			return bad(idx(field+".backendRefs", bi)+".filters", "filters on a GRPCRoute backendRef are not supported by meshgate")
		}
		d, err := c.backend(KindGRPCRoute, ns, b.BackendObjectReference)
		if dropped(err) {
			c.errorf(KindGRPCRoute, &r.ObjectMeta, idx(field+".backendRefs", bi), "%s; backend dropped", err.message)
			continue
		}
		out.Route = append(out.Route, model.HTTPRouteDestination{Destination: d, Weight: weights[bi]})
	}
	if len(out.Route) == 0 {
		out.DirectResponse = &model.HTTPDirectResponse{Status: 500}
	}
	return out, true
}
