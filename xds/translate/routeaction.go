package translate

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

func stringMatcher(m model.StringMatch) *matcherv3.StringMatcher {
	switch m.Kind {
	case "exact":
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m.Exact}}
	case "prefix":
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: m.Prefix}}
	case "regex":
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Regex}}}
	}
	return nil
}

func headerMatcher(name string, m model.StringMatch) *routev3.HeaderMatcher {
	h := &routev3.HeaderMatcher{Name: name}
	if m.Kind == "" || (m.Kind == "regex" && m.Regex == "*") {
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		return h
	}
	if sm := stringMatcher(m); sm != nil {
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: sm}
	}
	return h
}

// routeMatch is istiod's TranslateRouteMatch, into out (a new message); pfx
// is the (new) message of a prefix path. With ingress semantics a prefix
// other than "/" matches whole path segments (path_separated_prefix).
func routeMatch(out *routev3.RouteMatch, pfx *routev3.RouteMatch_Prefix, m *model.HTTPMatch, ingress bool) {
	pfx.Prefix = "/"
	out.PathSpecifier = pfx
	if m == nil {
		return
	}
	for _, name := range model.SortedKeys(m.Headers) {
		out.Headers = append(out.Headers, headerMatcher(name, m.Headers[name]))
	}
	for _, name := range model.SortedKeys(m.WithoutHeaders) {
		sm := m.WithoutHeaders[name]
		h := headerMatcher(name, sm)
		h.InvertMatch = true
		if sm.Kind != "" && !(sm.Kind == "regex" && sm.Regex == "*") {
			h.TreatMissingHeaderAsEmpty = true
		}
		out.Headers = append(out.Headers, h)
	}
	sort.SliceStable(out.Headers, func(i, j int) bool { return out.Headers[i].Name < out.Headers[j].Name })
	if m.URI != nil {
		switch m.URI.Kind {
		case "exact":
			out.PathSpecifier = &routev3.RouteMatch_Path{Path: m.URI.Exact}
		case "prefix":
			if ingress && m.URI.Prefix != "/" {
				out.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: strings.TrimSuffix(m.URI.Prefix, "/")}
			} else {
				pfx.Prefix = m.URI.Prefix
			}
		case "regex":
			out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.URI.Regex}}
		}
	}
	out.CaseSensitive = boolValue(!m.IgnoreURICase)
	if m.Method != nil {
		out.Headers = append(out.Headers, headerMatcher(":method", *m.Method))
	}
	if m.Authority != nil {
		out.Headers = append(out.Headers, headerMatcher(":authority", *m.Authority))
	}
	if m.Scheme != nil {
		out.Headers = append(out.Headers, headerMatcher(":scheme", *m.Scheme))
	}
	for _, name := range model.SortedKeys(m.QueryParams) {
		q := m.QueryParams[name]
		qm := &routev3.QueryParameterMatcher{Name: name}
		if q.Kind == "" || (q.Kind == "regex" && q.Regex == "*") {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		} else {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(q)}
		}
		out.QueryParameters = append(out.QueryParameters, qm)
	}
}

// trueValue and falseValue are the BoolValues of every route match's
// case_sensitive: shared, never modified.
var trueValue, falseValue = wrapperspb.Bool(true), wrapperspb.Bool(false)

func boolValue(v bool) *wrapperspb.BoolValue {
	if v {
		return trueValue
	}
	return falseValue
}

// routeAction is istiod's applyHTTPRouteDestination, into a (a new
// message); single is the (new) message of a single cluster.
func (b *builder) routeAction(a *routev3.RouteAction, single *routev3.RouteAction_Cluster, vs *virtualService, hr *model.HTTPRoute, port uint32, authority string, r *routev3.Route) {
	a.Timeout, a.MaxGrpcTimeout = zeroDuration, zeroDuration
	if vs.RouteSemantics == model.RouteSemanticsGateway {
		// the Gateway API answers 500 for a backend that does not exist
		a.ClusterNotFoundResponseCode = routev3.RouteAction_INTERNAL_SERVER_ERROR
	}
	if hr.Timeout != nil {
		a.Timeout = durationpb.New(*hr.Timeout)
		a.MaxGrpcTimeout = a.Timeout
	}
	if rw := hr.Rewrite; rw != nil {
		switch {
		case rw.URIRegex != "":
			a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: rw.URIRegex}, Substitution: rw.URIRegexRewrite}
		case rw.URI == "/" && vs.RouteSemantics == model.RouteSemanticsGateway:
			// Gateway API ReplacePrefixMatch "/": the prefix is removed,
			// keeping the "/" when the whole path goes (istiod's regex).
			a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
				Pattern:      &matcherv3.RegexMatcher{Regex: `^` + regexp.QuoteMeta(r.Match.GetPathSeparatedPrefix()) + `(/?)(.*)`},
				Substitution: `/\2`,
			}
		case rw.URI != "":
			a.PrefixRewrite = rw.URI
		}
		if rw.Authority != "" {
			authority = rw.Authority
		}
	}
	if authority != "" {
		a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: authority}
	}
	for _, mi := range hr.Mirrors {
		if mi.Percentage != nil && *mi.Percentage <= 0 {
			continue
		}
		a.RequestMirrorPolicies = append(a.RequestMirrorPolicies, &routev3.RouteAction_RequestMirrorPolicy{
			Cluster:         b.destinationCluster(mi.Destination, vs.Namespace, port),
			RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: percent(mi.Percentage, 100)},
			TraceSampled:    wrapperspb.Bool(false),
			// As istiod: the mirrored request keeps its Host (no "-shadow" suffix).
			DisableShadowHostSuffixAppend: true,
		})
	}
	if len(hr.Route) == 1 {
		d := hr.Route[0]
		name, ref := b.destinationClusterRef(d.Destination, vs.Namespace, port)
		single.Cluster = name
		a.ClusterSpecifier = single
		if hp := b.hashPolicy(ref); hp != nil {
			a.HashPolicy = []*routev3.RouteAction_HashPolicy{hp}
		}
		if d.Headers != nil {
			ops := headerOps(d.Headers)
			r.RequestHeadersToAdd = append(r.RequestHeadersToAdd, ops.reqAdd...)
			r.RequestHeadersToRemove = append(r.RequestHeadersToRemove, ops.reqRemove...)
			r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, ops.respAdd...)
			r.ResponseHeadersToRemove = append(r.ResponseHeadersToRemove, ops.respRemove...)
			if ops.authority != "" && a.HostRewriteSpecifier == nil {
				a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: ops.authority}
			}
		}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, d := range hr.Route {
			if d.Weight == 0 {
				continue
			}
			cw := &routev3.WeightedCluster_ClusterWeight{
				Name: b.destinationCluster(d.Destination, vs.Namespace, port), Weight: wrapperspb.UInt32(uint32(d.Weight)),
			}
			if d.Headers != nil {
				ops := headerOps(d.Headers)
				cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = ops.reqAdd, ops.reqRemove
				cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = ops.respAdd, ops.respRemove
				if ops.authority != "" {
					cw.HostRewriteSpecifier = &routev3.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: ops.authority}
				}
			}
			wc.Clusters = append(wc.Clusters, cw)
		}
		a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	a.RetryPolicy = retryPolicy(hr.Retries)
	if a.RetryPolicy != nil && len(a.HashPolicy) > 0 {
		// As istiod: retrying on another host would defeat consistent hashing.
		if a.RetryPolicy == defaultRetryPolicy {
			a.RetryPolicy = defaultRetryPolicyNoHostPredicate
		} else {
			a.RetryPolicy.RetryHostPredicate = nil
		}
	}
}

// zeroDuration is the timeouts of routes without one: shared, never modified.
var zeroDuration = durationpb.New(0)

// hashPolicy is the route hash policy of the DestinationRule consistentHash
// that applies to the cluster of ref (istiod's consistentHashToHashPolicy), or nil.
func (b *builder) hashPolicy(ref clusterRef) *routev3.RouteAction_HashPolicy {
	svc := b.ix.service(ref.Host, b.proxy.Namespace)
	if svc == nil {
		return nil
	}
	dr := b.ix.destinationRule(ref.Host, b.proxy.Namespace, svc.Namespace, b.proxy.Labels)
	lb := effectivePolicy(dr, findSubset(dr, ref.Subset), ref.Port).LB
	if lb == nil || lb.ConsistentHash == nil {
		return nil
	}
	ch := lb.ConsistentHash
	switch {
	case ch.HTTPHeaderName != "":
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: ch.HTTPHeaderName}}}
	case ch.HTTPCookieName != "":
		c := &routev3.RouteAction_HashPolicy_Cookie{Name: ch.HTTPCookieName, Path: ch.HTTPCookiePath}
		if ch.HTTPCookieTTL != nil {
			c.Ttl = durationpb.New(*ch.HTTPCookieTTL)
		}
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: c}}
	case ch.UseSourceIP:
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}}
	case ch.HTTPQueryParameterName != "":
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{
			QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: ch.HTTPQueryParameterName}}}
	}
	return nil
}

// Istio's default HTTP retry policy (MeshConfig defaultHttpRetryPolicy unset).
const defaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"

// previousHostsAny is the retry host predicate of every route's retry
// policy, marshalled once.
var previousHostsAny = mustAny(&previoushostsv3.PreviousHostsPredicate{})

// previousHosts is the retry host predicate list of every retry policy:
// shared, never modified (a route that needs none gets a nil list).
var previousHosts = []*routev3.RetryPolicy_RetryHostPredicate{{
	Name:       "envoy.retry_host_predicates.previous_hosts",
	ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: previousHostsAny},
}}

// defaultRetryPolicy is the retry policy of every route without retries
// set, defaultRetryPolicyNoHostPredicate that of those that hash
// (routeAction): shared, never modified.
var (
	defaultRetryPolicy                = newRetryPolicy()
	defaultRetryPolicyNoHostPredicate = func() *routev3.RetryPolicy {
		p := newRetryPolicy()
		p.RetryHostPredicate = nil
		return p
	}()
)

func newRetryPolicy() *routev3.RetryPolicy {
	return &routev3.RetryPolicy{
		RetryOn:                       defaultRetryOn,
		NumRetries:                    wrapperspb.UInt32(2),
		RetryHostPredicate:            previousHosts,
		HostSelectionRetryMaxAttempts: 5,
	}
}

// retryPolicy is the retry policy of a route: defaultRetryPolicy without
// retries set, else a new message.
func retryPolicy(r *model.HTTPRetry) *routev3.RetryPolicy {
	if r == nil {
		return defaultRetryPolicy
	}
	p := newRetryPolicy()
	if r.Attempts <= 0 {
		return nil
	}
	p.NumRetries = wrapperspb.UInt32(uint32(r.Attempts))
	if r.RetryOn != "" {
		var on []string
		for _, tok := range strings.Split(r.RetryOn, ",") {
			tok = strings.TrimSpace(tok)
			if code, err := strconv.ParseUint(tok, 10, 32); err == nil {
				p.RetriableStatusCodes = append(p.RetriableStatusCodes, uint32(code))
				continue
			}
			if tok != "" {
				on = append(on, tok)
			}
		}
		if len(p.RetriableStatusCodes) > 0 && !containsString(on, "retriable-status-codes") {
			on = append(on, "retriable-status-codes")
		}
		p.RetryOn = strings.Join(on, ",")
	}
	if r.PerTryTimeout != nil {
		p.PerTryTimeout = durationpb.New(*r.PerTryTimeout)
	}
	return p
}

func containsString(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// percent is a FractionalPercent from an Istio percentage (0-100, fractional):
// MILLION denominator as istiod writes it; dflt (HUNDRED) when p is nil.
func percent(p *float64, dflt uint32) *typev3.FractionalPercent {
	if p == nil {
		return &typev3.FractionalPercent{Numerator: dflt, Denominator: typev3.FractionalPercent_HUNDRED}
	}
	return &typev3.FractionalPercent{Numerator: uint32(*p * 10000), Denominator: typev3.FractionalPercent_MILLION}
}

func applyRedirect(r *routev3.Route, rd *model.HTTPRedirect, port uint32, isTLS bool) bool {
	a := &routev3.RedirectAction{HostRedirect: rd.Authority,
		PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: rd.URI}}
	if rd.PrefixRewrite != "" { // istiod's ApplyRedirect
		a.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: rd.PrefixRewrite}
	}
	if rd.Scheme != "" {
		a.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: rd.Scheme}
	}
	if rd.Port != 0 || rd.DerivePort != "" {
		if rd.DerivePort == "FROM_REQUEST_PORT" {
			a.PortRedirect = port
		} else if rd.Port != 0 {
			a.PortRedirect = rd.Port
		}
		scheme := rd.Scheme
		if scheme == "" {
			scheme = "http"
			if isTLS {
				scheme = "https"
			}
		}
		if (a.PortRedirect == 80 && scheme == "http") || (a.PortRedirect == 443 && scheme == "https") {
			a.PortRedirect = 0
		}
	}
	switch rd.RedirectCode {
	case 0, 301:
		a.ResponseCode = routev3.RedirectAction_MOVED_PERMANENTLY
	case 302:
		a.ResponseCode = routev3.RedirectAction_FOUND
	case 303:
		a.ResponseCode = routev3.RedirectAction_SEE_OTHER
	case 307:
		a.ResponseCode = routev3.RedirectAction_TEMPORARY_REDIRECT
	case 308:
		a.ResponseCode = routev3.RedirectAction_PERMANENT_REDIRECT
	default:
		return false
	}
	r.Action = &routev3.Route_Redirect{Redirect: a}
	return true
}

func directResponse(d *model.HTTPDirectResponse) *routev3.Route_DirectResponse {
	a := &routev3.DirectResponseAction{Status: d.Status}
	if d.Body != "" {
		a.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: d.Body}}
	}
	return &routev3.Route_DirectResponse{DirectResponse: a}
}

// applyPerFilterConfig adds fault and CORS per-route configs.
func (b *builder) applyPerFilterConfig(r *routev3.Route, hr *model.HTTPRoute) {
	var cfg map[string]*anypb.Any
	if f := faultConfig(hr.Fault); f != nil {
		cfg = map[string]*anypb.Any{wellknown.Fault: mustAny(f)}
	}
	if c := hr.CorsPolicy; c != nil {
		if cfg == nil {
			cfg = map[string]*anypb.Any{}
		}
		cfg[wellknown.CORS] = mustAny(corsPolicy(c))
	}
	r.TypedPerFilterConfig = cfg
}

// faultConfig is istiod's TranslateFault; like istiod, a delay without a
// percentage applies to 0% of requests.
func faultConfig(f *model.HTTPFault) *faultv3.HTTPFault {
	if f == nil {
		return nil
	}
	out := &faultv3.HTTPFault{}
	if d := f.Delay; d != nil {
		out.Delay = &faultcommonv3.FaultDelay{
			Percentage:         percent(d.Percentage, 0),
			FaultDelaySecifier: &faultcommonv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d.FixedDelay)},
		}
	}
	if a := f.Abort; a != nil {
		out.Abort = &faultv3.FaultAbort{}
		if a.Percentage != nil {
			out.Abort.Percentage = percent(a.Percentage, 0)
		}
		switch {
		case a.HTTPStatus != 0:
			out.Abort.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(a.HTTPStatus)}
		case a.GRPCStatus != "":
			out.Abort.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: grpcStatusCode(a.GRPCStatus)}
		default:
			out.Abort = nil
		}
	}
	if out.Delay == nil && out.Abort == nil {
		return nil
	}
	return out
}

var grpcCodes = map[string]uint32{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
	"ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
	"ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14,
	"DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

func grpcStatusCode(s string) uint32 { return grpcCodes[strings.ToUpper(s)] }

func corsPolicy(c *model.CorsPolicy) *corsv3.CorsPolicy {
	out := &corsv3.CorsPolicy{
		ForwardNotMatchingPreflights: wrapperspb.Bool(true),
		FilterEnabled: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
			Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED,
		}},
		AllowHeaders:  strings.Join(c.AllowHeaders, ","),
		AllowMethods:  strings.Join(c.AllowMethods, ","),
		ExposeHeaders: strings.Join(c.ExposeHeaders, ","),
	}
	for _, o := range c.AllowOrigins {
		if sm := stringMatcher(o); sm != nil {
			out.AllowOriginStringMatch = append(out.AllowOriginStringMatch, sm)
		}
	}
	if c.AllowCredentials != nil {
		out.AllowCredentials = wrapperspb.Bool(*c.AllowCredentials)
	}
	if c.MaxAge != nil {
		out.MaxAge = strconv.FormatInt(int64(*c.MaxAge/time.Second), 10)
	}
	return out
}

type headerOpsOut struct {
	reqAdd, respAdd       []*corev3.HeaderValueOption
	reqRemove, respRemove []string
	authority             string
}

// headerOps is istiod's TranslateHeadersOperations: set overwrites, add
// appends; setting :authority/host on the request rewrites the host instead.
func headerOps(h *model.Headers) headerOpsOut {
	var out headerOpsOut
	conv := func(ops *model.HeaderOperations, request bool) ([]*corev3.HeaderValueOption, []string) {
		if ops == nil {
			return nil, nil
		}
		var add []*corev3.HeaderValueOption
		for _, k := range model.SortedKeys(ops.Set) {
			if request && (strings.EqualFold(k, ":authority") || strings.EqualFold(k, "host")) {
				out.authority = ops.Set[k]
				continue
			}
			add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: ops.Set[k]},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
		}
		for _, k := range model.SortedKeys(ops.Add) {
			add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: ops.Add[k]},
				AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
		}
		return add, ops.Remove
	}
	out.reqAdd, out.reqRemove = conv(h.Request, true)
	out.respAdd, out.respRemove = conv(h.Response, false)
	return out
}
