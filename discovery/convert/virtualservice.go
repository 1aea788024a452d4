package convert

import (
	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// VirtualService validates and converts an Istio VirtualService. The
// gateways are kept verbatim ("mesh", "name", "ns/name"): the translator
// resolves them.
func VirtualService(v *networkingv1.VirtualService) (model.VirtualService, []error) {
	fe := newFieldErrs(model.KindVirtualService, &v.ObjectMeta)
	validateVirtualService(fe, v)
	if len(fe.list) > 0 {
		return model.VirtualService{}, fe.list
	}
	s := &v.Spec
	out := model.VirtualService{
		Meta:     meta(&v.ObjectMeta),
		Hosts:    cloneSlice(s.GetHosts()),
		Gateways: cloneSlice(s.GetGateways()),
		ExportTo: cloneSlice(s.GetExportTo()),
	}
	for _, r := range s.GetHttp() {
		out.HTTP = append(out.HTTP, httpRoute(r))
	}
	for _, r := range s.GetTls() {
		t := model.TLSRoute{Route: routeDestinations(r.GetRoute())}
		for _, m := range r.GetMatch() {
			t.Match = append(t.Match, model.TLSMatch{
				SNIHosts:           cloneSlice(m.GetSniHosts()),
				DestinationSubnets: cloneSlice(m.GetDestinationSubnets()),
				Port:               m.GetPort(),
				SourceLabels:       cloneMap(m.GetSourceLabels()),
				Gateways:           cloneSlice(m.GetGateways()),
				SourceNamespace:    m.GetSourceNamespace(),
			})
		}
		out.TLS = append(out.TLS, t)
	}
	for _, r := range s.GetTcp() {
		t := model.TCPRoute{Route: routeDestinations(r.GetRoute())}
		for _, m := range r.GetMatch() {
			t.Match = append(t.Match, model.L4Match{
				DestinationSubnets: cloneSlice(m.GetDestinationSubnets()),
				Port:               m.GetPort(),
				SourceLabels:       cloneMap(m.GetSourceLabels()),
				Gateways:           cloneSlice(m.GetGateways()),
				SourceNamespace:    m.GetSourceNamespace(),
			})
		}
		out.TCP = append(out.TCP, t)
	}
	return out, nil
}

func routeDestinations(in []*networking.RouteDestination) []model.RouteDestination {
	var out []model.RouteDestination
	for _, d := range in {
		out = append(out, model.RouteDestination{Destination: destination(d.GetDestination()), Weight: d.GetWeight()})
	}
	return out
}

func httpRoute(r *networking.HTTPRoute) model.HTTPRoute {
	out := model.HTTPRoute{
		Name:       r.GetName(),
		Timeout:    duration(r.GetTimeout()),
		Headers:    headers(r.GetHeaders()),
		CorsPolicy: corsPolicy(r.GetCorsPolicy()),
		Mirrors:    mirrors(r),
	}
	for _, m := range r.GetMatch() {
		out.Match = append(out.Match, httpMatch(m))
	}
	for _, d := range r.GetRoute() {
		out.Route = append(out.Route, model.HTTPRouteDestination{
			Destination: destination(d.GetDestination()),
			Weight:      d.GetWeight(),
			Headers:     headers(d.GetHeaders()),
		})
	}
	if rd := r.GetRedirect(); rd != nil {
		out.Redirect = &model.HTTPRedirect{
			URI: rd.GetUri(), PrefixRewrite: rd.GetPrefixRewrite(), Authority: rd.GetAuthority(), Port: rd.GetPort(),
			Scheme: rd.GetScheme(), RedirectCode: rd.GetRedirectCode(),
		}
		if _, ok := rd.GetRedirectPort().(*networking.HTTPRedirect_DerivePort); ok {
			out.Redirect.DerivePort = rd.GetDerivePort().String()
		}
	}
	if dr := r.GetDirectResponse(); dr != nil {
		out.DirectResponse = &model.HTTPDirectResponse{Status: dr.GetStatus()}
		if b := dr.GetBody(); b != nil {
			if s, ok := b.GetSpecifier().(*networking.HTTPBody_String_); ok {
				out.DirectResponse.Body = s.String_
			} else {
				out.DirectResponse.Body = string(b.GetBytes())
			}
		}
	}
	if rw := r.GetRewrite(); rw != nil {
		out.Rewrite = &model.HTTPRewrite{URI: rw.GetUri(), Authority: rw.GetAuthority()}
		if rr := rw.GetUriRegexRewrite(); rr != nil {
			out.Rewrite.URIRegex, out.Rewrite.URIRegexRewrite = rr.GetMatch(), rr.GetRewrite()
		}
	}
	if rt := r.GetRetries(); rt != nil {
		out.Retries = &model.HTTPRetry{
			Attempts:              rt.GetAttempts(),
			PerTryTimeout:         duration(rt.GetPerTryTimeout()),
			RetryOn:               rt.GetRetryOn(),
			RetryRemoteLocalities: boolPtr(rt.GetRetryRemoteLocalities()),
		}
	}
	out.Fault = fault(r.GetFault())
	if d := r.GetDelegate(); d != nil {
		out.Delegate = &model.Delegate{Name: d.GetName(), Namespace: d.GetNamespace()}
	}
	return out
}

func httpMatch(m *networking.HTTPMatchRequest) model.HTTPMatch {
	return model.HTTPMatch{
		Name:            m.GetName(),
		URI:             stringMatch(m.GetUri()),
		Scheme:          stringMatch(m.GetScheme()),
		Method:          stringMatch(m.GetMethod()),
		Authority:       stringMatch(m.GetAuthority()),
		Headers:         stringMatchMap(m.GetHeaders()),
		WithoutHeaders:  stringMatchMap(m.GetWithoutHeaders()),
		QueryParams:     stringMatchMap(m.GetQueryParams()),
		Port:            m.GetPort(),
		SourceLabels:    cloneMap(m.GetSourceLabels()),
		Gateways:        cloneSlice(m.GetGateways()),
		IgnoreURICase:   m.GetIgnoreUriCase(),
		SourceNamespace: m.GetSourceNamespace(),
	}
}

// mirrors folds the single mirror (+ mirrorPercentage, or the deprecated
// mirrorPercent) and the mirrors list into one list.
func mirrors(r *networking.HTTPRoute) []model.HTTPMirror {
	var out []model.HTTPMirror
	if m := r.GetMirror(); m != nil {
		hm := model.HTTPMirror{Destination: destination(m), Percentage: percent(r.GetMirrorPercentage())}
		//nolint:staticcheck // deprecated field still accepted by Istio
		if hm.Percentage == nil && r.GetMirrorPercent() != nil {
			v := float64(r.GetMirrorPercent().GetValue())
			hm.Percentage = &v
		}
		out = append(out, hm)
	}
	for _, m := range r.GetMirrors() {
		out = append(out, model.HTTPMirror{Destination: destination(m.GetDestination()), Percentage: percent(m.GetPercentage())})
	}
	return out
}

func fault(f *networking.HTTPFaultInjection) *model.HTTPFault {
	if f == nil {
		return nil
	}
	out := &model.HTTPFault{}
	if d := f.GetDelay(); d != nil {
		out.Delay = &model.FaultDelay{Percentage: percent(d.GetPercentage())}
		if fd := d.GetFixedDelay(); fd != nil {
			out.Delay.FixedDelay = fd.AsDuration()
		}
		//nolint:staticcheck // deprecated integer percent still accepted by Istio
		if out.Delay.Percentage == nil && d.GetPercent() != 0 {
			v := float64(d.GetPercent())
			out.Delay.Percentage = &v
		}
	}
	if a := f.GetAbort(); a != nil {
		out.Abort = &model.FaultAbort{HTTPStatus: a.GetHttpStatus(), GRPCStatus: a.GetGrpcStatus(), Percentage: percent(a.GetPercentage())}
	}
	return out
}

func corsPolicy(c *networking.CorsPolicy) *model.CorsPolicy {
	if c == nil {
		return nil
	}
	out := &model.CorsPolicy{
		AllowMethods:     cloneSlice(c.GetAllowMethods()),
		AllowHeaders:     cloneSlice(c.GetAllowHeaders()),
		ExposeHeaders:    cloneSlice(c.GetExposeHeaders()),
		MaxAge:           duration(c.GetMaxAge()),
		AllowCredentials: boolPtr(c.GetAllowCredentials()),
	}
	//nolint:staticcheck // deprecated allowOrigin: exact matches
	for _, o := range c.GetAllowOrigin() {
		out.AllowOrigins = append(out.AllowOrigins, model.StringMatch{Exact: o, Kind: "exact"})
	}
	for _, o := range c.GetAllowOrigins() {
		if sm := stringMatch(o); sm != nil {
			out.AllowOrigins = append(out.AllowOrigins, *sm)
		}
	}
	return out
}

func headers(h *networking.Headers) *model.Headers {
	if h == nil {
		return nil
	}
	return &model.Headers{Request: headerOps(h.GetRequest()), Response: headerOps(h.GetResponse())}
}

func headerOps(o *networking.Headers_HeaderOperations) *model.HeaderOperations {
	if o == nil {
		return nil
	}
	return &model.HeaderOperations{Set: cloneMap(o.GetSet()), Add: cloneMap(o.GetAdd()), Remove: cloneSlice(o.GetRemove())}
}
