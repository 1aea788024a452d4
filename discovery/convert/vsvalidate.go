package convert

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// VirtualService validation, after Istio's ValidateVirtualService.

func validateVirtualService(fe *fieldErrs, v *networkingv1.VirtualService) {
	s := &v.Spec
	delegate := len(s.Hosts) == 0
	if delegate {
		// a delegate VirtualService: its http routes are merged into the
		// routes of root VirtualServices that name it
		for _, c := range []struct {
			set   bool
			field string
		}{{len(s.Gateways) > 0, "gateways"}, {len(s.Tls) > 0, "tls"}, {len(s.Tcp) > 0, "tcp"}} {
			if c.set {
				fe.add("spec."+c.field, "a delegate VirtualService (no hosts) must not specify %s", c.field)
			}
		}
		for i, r := range s.Http {
			if r.GetDelegate() != nil {
				fe.add(idx("spec.http", i)+".delegate", "a delegate VirtualService's route cannot delegate again")
			}
		}
	}
	for i, g := range s.Gateways {
		fe.addErr(idx("spec.gateways", i), validateGatewayName(g))
	}
	appliesToMesh := len(s.Gateways) == 0 || slices.Contains(s.Gateways, model.MeshGateway)
	allValid := true
	for i, h := range s.Hosts {
		if err := validateVirtualServiceHost(h, appliesToMesh); err != nil {
			fe.addErr(idx("spec.hosts", i), err)
			allValid = false
		}
	}
	if allValid {
		for i := range s.Hosts {
			for j := i + 1; j < len(s.Hosts); j++ {
				if hostsOverlap(s.Hosts[i], s.Hosts[j]) {
					fe.add(idx("spec.hosts", j), "duplicate host %q: overlaps spec.hosts[%d] %q", s.Hosts[j], i, s.Hosts[i])
				}
			}
		}
	}
	if len(s.Http) == 0 && len(s.Tcp) == 0 && len(s.Tls) == 0 {
		fe.add("spec", "at least one http, tcp or tls route is required")
	}
	for i, r := range s.Http {
		validateHTTPRoute(fe, idx("spec.http", i), r)
	}
	for i, r := range s.Tls {
		validateTLSRoute(fe, idx("spec.tls", i), r, s)
	}
	for i, r := range s.Tcp {
		validateTCPRoute(fe, idx("spec.tcp", i), r)
	}
	validateExportTo(fe, "spec.exportTo", v.Namespace, s.ExportTo)
}

func validateHTTPRoute(fe *fieldErrs, f string, r *networking.HTTPRoute) {
	if r == nil {
		fe.add(f, "http route may not be null")
		return
	}
	validateHTTPRouteConflicts(fe, f, r)
	for j, m := range r.Match {
		validateHTTPMatch(fe, idx(f+".match", j), m)
	}
	validateHeaderOps(fe, f+".headers", r.Headers)
	validateCORS(fe, f+".corsPolicy", r.CorsPolicy)
	validateFault(fe, f+".fault", r.Fault)
	if r.Mirror != nil {
		validateDestination(fe, f+".mirror", r.Mirror)
	}
	if p := r.MirrorPercentage; p != nil && (p.Value < 0 || p.Value > 100) {
		fe.add(f+".mirrorPercentage", "mirror percentage %v must be in range 0..100", p.Value)
	}
	//nolint:staticcheck // deprecated field still accepted by Istio
	if p := r.MirrorPercent; p != nil && p.Value > 100 {
		fe.add(f+".mirrorPercent", "mirror percent %d must be at most 100", p.Value)
	}
	for k, m := range r.Mirrors {
		mf := idx(f+".mirrors", k)
		if m == nil || m.Destination == nil {
			fe.add(mf+".destination", "destination is required for mirrors")
			continue
		}
		validateDestination(fe, mf+".destination", m.Destination)
		if p := m.Percentage; p != nil && (p.Value < 0 || p.Value > 100) {
			fe.add(mf+".percentage", "mirror percentage %v must be in range 0..100", p.Value)
		}
	}
	validateRedirect(fe, f+".redirect", r.Redirect, r.Match)
	if d := r.DirectResponse; d != nil {
		if d.Status < 200 || d.Status > 599 {
			fe.add(f+".directResponse.status", "HTTP status %d is not in range 200-599", d.Status)
		}
		if n := len(d.GetBody().GetString_()) + len(d.GetBody().GetBytes()); n > 1<<20 {
			fe.add(f+".directResponse.body", "a direct response body must be less than 1MB")
		}
	}
	validateRetries(fe, f+".retries", r.Retries)
	validateRewrite(fe, f+".rewrite", r.Rewrite)
	fe.addErr(f+".timeout", validateDuration(r.Timeout))
	validateHTTPRouteDestinations(fe, f+".route", r.Route)
}

func validateHTTPRouteConflicts(fe *fieldErrs, f string, r *networking.HTTPRoute) {
	if r.Delegate != nil {
		if r.Redirect != nil {
			fe.add(f+".redirect", "a route with delegate must not specify redirect")
		}
		if len(r.Route) > 0 {
			fe.add(f+".route", "a route with delegate must not specify route")
		}
		return
	}
	switch {
	case r.Redirect != nil:
		for _, c := range []struct {
			set   bool
			field string
		}{{len(r.Route) > 0, "route"}, {r.Fault != nil, "fault"}, {r.Rewrite != nil, "rewrite"}, {r.DirectResponse != nil, "directResponse"}} {
			if c.set {
				fe.add(f, "an http route cannot have both %s and redirect", c.field)
			}
		}
	case r.DirectResponse != nil:
		for _, c := range []struct {
			set   bool
			field string
		}{{len(r.Route) > 0, "route"}, {r.Fault != nil, "fault"}, {r.Rewrite != nil, "rewrite"}} {
			if c.set {
				fe.add(f, "an http route cannot have both %s and directResponse", c.field)
			}
		}
	case len(r.Route) == 0:
		fe.add(f+".route", "one of route, redirect or directResponse is required")
	}
	if r.Mirror != nil && len(r.Mirrors) > 0 {
		fe.add(f, "an http route cannot have both mirror and mirrors")
	}
}

func validateHTTPMatch(fe *fieldErrs, f string, m *networking.HTTPMatchRequest) {
	if m == nil {
		fe.add(f, "match may not be null")
		return
	}
	fe.addErr(f+".uri", validateStringMatch(m.Uri, true))
	fe.addErr(f+".scheme", validateStringMatch(m.Scheme, false))
	fe.addErr(f+".method", validateStringMatch(m.Method, false))
	fe.addErr(f+".authority", validateStringMatch(m.Authority, false))
	for _, name := range model.SortedKeys(m.Headers) {
		if name == "" {
			fe.add(f+".headers", "header name cannot be empty")
		}
		fe.addErr(key(f+".headers", name), validateStringMatch(m.Headers[name], false))
	}
	for _, name := range model.SortedKeys(m.WithoutHeaders) {
		if h := m.WithoutHeaders[name]; h.GetRegex() != "*" { // "*" means "present", not RE2
			fe.addErr(key(f+".withoutHeaders", name), validateStringMatch(h, false))
		}
	}
	for _, name := range model.SortedKeys(m.QueryParams) {
		fe.addErr(key(f+".queryParams", name), validateStringMatch(m.QueryParams[name], false))
	}
	if m.Port != 0 {
		fe.addErr(f+".port", validatePort(m.Port))
	}
	validateLabels(fe, f+".sourceLabels", m.SourceLabels)
	for i, g := range m.Gateways {
		fe.addErr(idx(f+".gateways", i), validateGatewayName(g))
	}
	if m.SourceNamespace != "" && !isDNS1123Label(m.SourceNamespace) {
		fe.add(f+".sourceNamespace", "invalid namespace %q", m.SourceNamespace)
	}
}

func validateHeaderOps(fe *fieldErrs, f string, h *networking.Headers) {
	for _, side := range []struct {
		name string
		ops  *networking.Headers_HeaderOperations
	}{{"request", h.GetRequest()}, {"response", h.GetResponse()}} {
		for _, op := range []struct {
			name  string
			names []string
		}{{"set", model.SortedKeys(side.ops.GetSet())}, {"add", model.SortedKeys(side.ops.GetAdd())}, {"remove", side.ops.GetRemove()}} {
			for _, n := range op.names {
				if n == "" {
					fe.add(f+"."+side.name+"."+op.name, "header name cannot be empty")
				}
			}
		}
	}
}

var corsMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}

func validateCORS(fe *fieldErrs, f string, c *networking.CorsPolicy) {
	if c == nil {
		return
	}
	for i, o := range c.AllowOrigins {
		of := idx(f+".allowOrigins", i)
		if o.GetExact() == "" && o.GetPrefix() == "" && o.GetRegex() == "" {
			fe.add(of, "an allowed origin must be a non-empty exact, prefix or regex match")
			continue
		}
		if re := o.GetRegex(); re != "" {
			fe.addErr(of+".regex", validateRegex(re))
		}
	}
	for i, m := range c.AllowMethods {
		if !slices.Contains(corsMethods, m) {
			fe.add(idx(f+".allowMethods", i), "%q is not a supported HTTP method", m)
		}
	}
	if c.MaxAge != nil {
		fe.addErr(f+".maxAge", validateDuration(c.MaxAge))
		if c.MaxAge.Nanos > 0 {
			fe.add(f+".maxAge", "maxAge is accurate only to seconds")
		}
	}
}

func validateFault(fe *fieldErrs, f string, ft *networking.HTTPFaultInjection) {
	if ft == nil {
		return
	}
	if ft.Abort == nil && ft.Delay == nil {
		fe.add(f, "fault injection must have an abort and/or a delay")
	}
	if a := ft.Abort; a != nil {
		fe.addErr(f+".abort.percentage", validatePercentage(a.Percentage))
		switch t := a.ErrorType.(type) {
		case *networking.HTTPFaultInjection_Abort_HttpStatus:
			if t.HttpStatus < 200 || t.HttpStatus > 600 {
				fe.add(f+".abort.httpStatus", "HTTP status %d is not in range 200-599", t.HttpStatus)
			}
		case *networking.HTTPFaultInjection_Abort_GrpcStatus:
			if !slices.Contains(grpcStatuses, t.GrpcStatus) {
				fe.add(f+".abort.grpcStatus", "gRPC status %q is not supported (e.g. NOT_FOUND, UNAVAILABLE)", t.GrpcStatus)
			}
		case *networking.HTTPFaultInjection_Abort_Http2Error:
			fe.add(f+".abort.http2Error", "HTTP/2 abort fault injection is not supported")
		default:
			fe.add(f+".abort", "one of httpStatus or grpcStatus is required")
		}
	}
	if d := ft.Delay; d != nil {
		fe.addErr(f+".delay.percentage", validatePercentage(d.Percentage))
		switch t := d.HttpDelayType.(type) {
		case *networking.HTTPFaultInjection_Delay_FixedDelay:
			fe.addErr(f+".delay.fixedDelay", validateDuration(t.FixedDelay))
		case *networking.HTTPFaultInjection_Delay_ExponentialDelay:
			fe.add(f+".delay.exponentialDelay", "exponentialDelay is not supported")
		default:
			fe.add(f+".delay.fixedDelay", "fixedDelay is required")
		}
	}
}

var grpcStatuses = []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func validateRedirect(fe *fieldErrs, f string, r *networking.HTTPRedirect, matches []*networking.HTTPMatchRequest) {
	if r == nil {
		return
	}
	if r.Uri != "" && r.PrefixRewrite != "" {
		fe.add(f, "a redirect may only specify one of uri or prefixRewrite")
	}
	if r.PrefixRewrite != "" {
		for _, m := range matches {
			if _, prefix := m.GetUri().GetMatchType().(*networking.StringMatch_Prefix); m.GetUri() != nil && !prefix {
				fe.add(f+".prefixRewrite", "a redirect's prefixRewrite requires all URI matches to be prefix matches")
				break
			}
		}
	}
	if r.Uri == "" && r.PrefixRewrite == "" && r.Authority == "" && r.RedirectPort == nil && r.Scheme == "" {
		fe.add(f, "a redirect must specify uri, authority, scheme or port")
	}
	if r.RedirectCode != 0 && (r.RedirectCode < 300 || r.RedirectCode > 399) {
		fe.add(f+".redirectCode", "%d is not a valid redirect code: must be 3xx", r.RedirectCode)
	}
	if r.Scheme != "" && r.Scheme != "http" && r.Scheme != "https" {
		fe.add(f+".scheme", "invalid redirect scheme %q: must be \"http\" or \"https\"", r.Scheme)
	}
	if p := r.GetPort(); p > 0 {
		fe.addErr(f+".port", validatePort(p))
	}
}

var retryOnPolicies = []string{"5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
	"envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers",
	"http3-post-connect-failure", "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"}

func validateRetries(fe *fieldErrs, f string, r *networking.HTTPRetry) {
	if r == nil {
		return
	}
	if r.Attempts < 0 {
		fe.add(f+".attempts", "attempts cannot be negative")
	}
	if r.Attempts == 0 && (r.PerTryTimeout != nil || r.RetryOn != "" || r.RetryRemoteLocalities != nil) {
		fe.add(f+".attempts", "a retry policy is configured but attempts is 0 (retries disabled)")
	}
	fe.addErr(f+".perTryTimeout", validateDuration(r.PerTryTimeout))
	if r.RetryOn != "" {
		for _, p := range strings.Split(r.RetryOn, ",") {
			p = strings.TrimSpace(p)
			if code, err := strconv.Atoi(p); err == nil && code >= 100 && code <= 599 {
				continue
			}
			if !slices.Contains(retryOnPolicies, p) {
				fe.add(f+".retryOn", "%q is not a valid retryOn policy", p)
			}
		}
	}
}

func validateRewrite(fe *fieldErrs, f string, r *networking.HTTPRewrite) {
	if r == nil {
		return
	}
	if r.Uri != "" && r.UriRegexRewrite != nil {
		fe.add(f, "a rewrite may only have one of uri and uriRegexRewrite")
	}
	if r.Uri == "" && r.UriRegexRewrite == nil && r.Authority == "" {
		fe.add(f, "a rewrite must specify uri, uriRegexRewrite or authority")
	}
	if rr := r.UriRegexRewrite; rr != nil {
		if rr.Match == "" || rr.Rewrite == "" {
			fe.add(f+".uriRegexRewrite", "uriRegexRewrite requires both match and rewrite")
		} else {
			fe.addErr(f+".uriRegexRewrite.match", validateRegex(rr.Match))
		}
	}
}

func validateHTTPRouteDestinations(fe *fieldErrs, f string, ds []*networking.HTTPRouteDestination) {
	var total int32
	for i, d := range ds {
		df := idx(f, i)
		if d == nil {
			fe.add(df, "route destination may not be null")
			continue
		}
		validateDestination(fe, df+".destination", d.Destination)
		validateHeaderOps(fe, df+".headers", d.Headers)
		if d.Weight < 0 {
			fe.add(df+".weight", "weight %d must not be negative", d.Weight)
		}
		total += d.Weight
	}
	if len(ds) > 1 && total == 0 {
		fe.add(f, "total destination weight is 0")
	}
}

func validateRouteDestinations(fe *fieldErrs, f string, ds []*networking.RouteDestination) {
	if len(ds) == 0 {
		fe.add(f, "at least one route destination is required")
	}
	var total int32
	for i, d := range ds {
		df := idx(f, i)
		if d == nil {
			fe.add(df, "route destination may not be null")
			continue
		}
		validateDestination(fe, df+".destination", d.Destination)
		if d.Weight < 0 {
			fe.add(df+".weight", "weight %d must not be negative", d.Weight)
		}
		total += d.Weight
	}
	if len(ds) > 1 && total == 0 {
		fe.add(f, "total destination weight is 0")
	}
}

func validateTLSRoute(fe *fieldErrs, f string, r *networking.TLSRoute, vs *networking.VirtualService) {
	if r == nil {
		fe.add(f, "tls route may not be null")
		return
	}
	if len(r.Match) == 0 {
		fe.add(f+".match", "a tls route must have at least one match")
	}
	for j, m := range r.Match {
		mf := idx(f+".match", j)
		if m == nil {
			fe.add(mf, "match may not be null")
			continue
		}
		if len(m.SniHosts) == 0 {
			fe.add(mf+".sniHosts", "a tls match must have at least one SNI host")
		}
		for k, h := range m.SniHosts {
			validateSNIHost(fe, idx(mf+".sniHosts", k), h, vs.Hosts)
		}
		validateL4Match(fe, mf, m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways)
	}
	validateRouteDestinations(fe, f+".route", r.Route)
}

func validateSNIHost(fe *fieldErrs, f, sni string, hosts []string) {
	if isIP(sni) {
		return
	}
	if err := validateWildcardDomain(sni); err != nil {
		fe.addErr(f, err)
		return
	}
	for _, h := range hosts {
		if hostCovers(h, sni) {
			return
		}
	}
	fe.add(f, "SNI host %q is not covered by any of the virtual service hosts [%s]", sni, strings.Join(hosts, ", "))
}

func validateTCPRoute(fe *fieldErrs, f string, r *networking.TCPRoute) {
	if r == nil {
		fe.add(f, "tcp route may not be null")
		return
	}
	for j, m := range r.Match {
		mf := idx(f+".match", j)
		if m == nil {
			fe.add(mf, "match may not be null")
			continue
		}
		validateL4Match(fe, mf, m.DestinationSubnets, m.Port, m.SourceLabels, m.Gateways)
	}
	validateRouteDestinations(fe, f+".route", r.Route)
}

func validateL4Match(fe *fieldErrs, f string, subnets []string, port uint32, labels map[string]string, gateways []string) {
	for i, s := range subnets {
		fe.addErr(idx(f+".destinationSubnets", i), validateSubnet(s))
	}
	if port != 0 {
		fe.addErr(f+".port", validatePort(port))
	}
	validateLabels(fe, f+".sourceLabels", labels)
	for i, g := range gateways {
		fe.addErr(idx(f+".gateways", i), validateGatewayName(g))
	}
}

// validateSubnet accepts an IP or a CIDR prefix.
func validateSubnet(s string) error {
	if strings.Contains(s, "/") {
		if _, err := netip.ParsePrefix(s); err != nil {
			return fmt.Errorf("%q is not a valid CIDR block", s)
		}
		return nil
	}
	if !isIP(s) {
		return fmt.Errorf("%q is not a valid IP address or CIDR block", s)
	}
	return nil
}
