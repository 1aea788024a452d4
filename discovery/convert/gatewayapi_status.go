package convert

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// The status of the Gateway API objects, computed in the conversion's pass
// with istiod's conditions, reasons and messages (istio.io/istio
// pilot/pkg/config/kube/gateway conditions.go and conversion.go,
// gatewaycommon): GatewayClass Accepted; Gateway Accepted, Programmed,
// ResolvedRefs, its addresses and its listeners' Accepted, Programmed,
// Conflicted, ResolvedRefs with attachedRoutes and supportedKinds; each
// route's Accepted and ResolvedRefs per parentRef of an istio Gateway.

// Reasons of istiod that the Gateway API does not name.
const (
	reasonInvalidDestination   = "InvalidDestination"
	reasonInvalidFilter        = "InvalidFilter"
	reasonInvalidConfiguration = "InvalidConfiguration"
	// reasonParentRefConflict is istiod's ParentErrorParentRefConflict.
	reasonParentRefConflict = "ParentRefConflict"
	// istioClassMessage is istiod's GatewayClass Accepted message.
	istioClassMessage = "Handled by Istio controller"
)

// cfgErr is istiod's ConfigError: a reason and a message for the user.
type cfgErr struct{ reason, message string }

// cond is istiod's condition: a success state (status True unless set)
// that err, when set, replaces and inverts.
type cond struct {
	reason, message, status string
	err                     *cfgErr
}

// conditions renders m (type → cond) sorted by type, at generation gen.
func conditions(m map[string]*cond, gen int64) []model.Condition {
	out := make([]model.Condition, 0, len(m))
	for _, t := range slices.Sorted(mapKeys(m)) {
		c := m[t]
		status := cmp.Or(c.status, model.ConditionTrue)
		mc := model.Condition{Type: t, Status: status, Reason: c.reason, Message: c.message, ObservedGeneration: gen}
		if c.err != nil {
			mc.Status, mc.Reason, mc.Message = invert(status), c.err.reason, c.err.message
		}
		out = append(out, mc)
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func invert(s string) string {
	if s == model.ConditionFalse {
		return model.ConditionTrue
	}
	return model.ConditionFalse
}

// gatewayState is the status of one Gateway while it is converted.
type gatewayState struct {
	gw  *gwv1.Gateway
	err *cfgErr // Accepted, from its addresses
	// services are istiod's gatewayServices: the Service hostnames the
	// Gateway is served by.
	services  []string
	ports     []uint32 // of the listeners with a server
	listeners []*listenerState
}

// listenerState is the status of one listener.
type listenerState struct {
	name     gwv1.SectionName
	conds    map[string]*cond
	kinds    []string
	valid    bool
	attached int32
}

func newListenerState(l gwv1.Listener) *listenerState {
	kinds, kindsValid := supportedKinds(l)
	s := &listenerState{name: l.Name, kinds: kinds, valid: true, conds: map[string]*cond{
		string(gwv1.ListenerConditionAccepted):     {reason: string(gwv1.ListenerReasonAccepted), message: "No errors found"},
		string(gwv1.ListenerConditionProgrammed):   {reason: string(gwv1.ListenerReasonProgrammed), message: "No errors found"},
		string(gwv1.ListenerConditionConflicted):   {reason: string(gwv1.ListenerReasonNoConflicts), message: "No errors found", status: model.ConditionFalse},
		string(gwv1.ListenerConditionResolvedRefs): {reason: string(gwv1.ListenerReasonResolvedRefs), message: "No errors found"},
	}}
	if !kindsValid {
		s.conds[string(gwv1.ListenerConditionResolvedRefs)] = &cond{reason: string(gwv1.ListenerReasonInvalidRouteKinds),
			message: "Invalid route kinds", status: model.ConditionFalse}
	}
	return s
}

// conflictedListenerState is istiod's ReportListenerConflict.
func conflictedListenerState(l gwv1.Listener, reason gwv1.ListenerConditionReason) *listenerState {
	const msg = "Listener has a conflict with another listener attached to the same Gateway"
	kinds, kindsValid := supportedKinds(l)
	s := &listenerState{name: l.Name, kinds: kinds, conds: map[string]*cond{
		string(gwv1.ListenerConditionAccepted):   {err: &cfgErr{string(reason), msg}},
		string(gwv1.ListenerConditionProgrammed): {err: &cfgErr{string(reason), msg}},
		string(gwv1.ListenerConditionConflicted): {reason: string(reason), message: msg, status: model.ConditionTrue},
	}}
	if !kindsValid {
		s.conds[string(gwv1.ListenerConditionResolvedRefs)] = &cond{reason: string(gwv1.ListenerReasonInvalidRouteKinds),
			message: "Invalid route kinds", status: model.ConditionFalse}
	}
	return s
}

// firstConflict is istiod's ComputeGatewayListenerConflicts for one
// listener (no ListenerSets): the first of the accepted listeners it
// cannot coexist with (same port, and both L4, or an L4 and an HTTP-like
// one, or both HTTP-like with the same hostname), and the reason.
func firstConflict(l gwv1.Listener, accepted []gwv1.Listener) (gwv1.SectionName, gwv1.ListenerConditionReason, bool) {
	l4 := func(p gwv1.ProtocolType) bool { return p == gwv1.TCPProtocolType || p == gwv1.UDPProtocolType }
	httpLike := func(p gwv1.ProtocolType) bool {
		return p == gwv1.HTTPProtocolType || p == gwv1.HTTPSProtocolType || p == gwv1.TLSProtocolType
	}
	host := func(l gwv1.Listener) string {
		if l.Hostname == nil || *l.Hostname == "" {
			return "*"
		}
		return string(*l.Hostname)
	}
	for _, p := range accepted {
		if p.Port != l.Port {
			continue
		}
		var distinct bool
		switch {
		case l4(l.Protocol) && httpLike(p.Protocol), httpLike(l.Protocol) && l4(p.Protocol), l4(l.Protocol) && l4(p.Protocol):
			distinct = false
		case httpLike(l.Protocol) && httpLike(p.Protocol):
			distinct = host(l) != host(p)
		default:
			distinct = l.Protocol != p.Protocol
		}
		if distinct {
			continue
		}
		reason := gwv1.ListenerReasonHostnameConflict
		if (l4(l.Protocol) && l4(p.Protocol)) || l.Protocol != p.Protocol {
			reason = gwv1.ListenerReasonProtocolConflict
		}
		return p.Name, reason, true
	}
	return "", "", false
}

// tlsError is istiod's buildListener on a buildTLS error.
func (s *listenerState) tlsError(e *cfgErr) {
	s.valid = false
	s.conds[string(gwv1.ListenerConditionResolvedRefs)].err = e
	s.conds[string(gwv1.ListenerConditionProgrammed)].err = &cfgErr{string(gwv1.GatewayReasonInvalid), "Bad TLS configuration"}
	if e.reason == string(gwv1.ListenerReasonRefNotPermitted) {
		s.conds[string(gwv1.ListenerConditionAccepted)].err = &cfgErr{string(gwv1.ListenerReasonNoValidCACertificate), e.message}
	}
}

// protocolError is istiod's buildListener on an unsupported protocol.
func (s *listenerState) protocolError(message string) {
	s.valid = false
	s.conds[string(gwv1.ListenerConditionAccepted)].err = &cfgErr{string(gwv1.ListenerReasonUnsupportedProtocol), message}
}

// supportedKinds is istiod's GenerateGatewaySupportedKinds: the route
// kinds a listener's protocol carries, narrowed to allowedRoutes.kinds;
// false when allowedRoutes names a kind it cannot carry.
func supportedKinds(l gwv1.Listener) ([]string, bool) {
	var supported []string
	switch l.Protocol {
	case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType:
		supported = []string{string(KindHTTPRoute), string(KindGRPCRoute)}
	case gwv1.TCPProtocolType:
		supported = []string{string(KindTCPRoute)}
	case gwv1.TLSProtocolType:
		supported = []string{string(KindTLSRoute)}
		if l.TLS != nil && l.TLS.Mode != nil && *l.TLS.Mode == gwv1.TLSModeTerminate {
			supported = append(supported, string(KindTCPRoute))
		}
	}
	if l.AllowedRoutes == nil || len(l.AllowedRoutes.Kinds) == 0 {
		if supported == nil {
			supported = []string{}
		}
		return supported, true
	}
	out := []string{}
	for _, s := range supported {
		if slices.ContainsFunc(l.AllowedRoutes.Kinds, func(k gwv1.RouteGroupKind) bool {
			return string(k.Kind) == s && (k.Group == nil || string(*k.Group) == GatewayAPIGroup)
		}) {
			out = append(out, s)
		}
	}
	return out, len(out) == len(l.AllowedRoutes.Kinds)
}

// gatewayServices is istiod's extractGatewayServices: the Service hostnames
// a Gateway is served by; an address that is not a Hostname is an error
// (the Gateway is not Accepted) but the others still count.
func gatewayServices(gw *gwv1.Gateway, domain string) ([]string, *cfgErr) {
	ns := cmp.Or(gw.Namespace, DefaultNamespace)
	if managedGateway(gw) {
		return []string{fmt.Sprintf("%s-%s.%s.svc.%s", gw.Name, gw.Spec.GatewayClassName, ns, domain)}, nil
	}
	var out, skipped []string
	for _, a := range gw.Spec.Addresses {
		if a.Type != nil && *a.Type != gwv1.HostnameAddressType {
			skipped = append(skipped, a.Value)
			continue
		}
		fqdn := a.Value
		if !strings.Contains(fqdn, ".") {
			fqdn = fmt.Sprintf("%s.%s.svc.%s", fqdn, ns, domain)
		}
		out = append(out, fqdn)
	}
	if len(skipped) > 0 {
		return out, &cfgErr{string(gwv1.GatewayReasonUnsupportedAddress), fmt.Sprintf("only Hostname is supported, ignoring %v", skipped)}
	}
	return out, nil
}

// gatewayStatus is istiod's reportGatewayStatus for a Gateway of class
// istio, with its services looked up in the converted services (by
// hostname, in the Gateway's namespace).
func (s *gatewayState) status(services map[string]*model.Service) model.GatewayStatus {
	gw := s.gw
	ns := cmp.Or(gw.Namespace, DefaultNamespace)
	conds := map[string]*cond{
		string(gwv1.GatewayConditionAccepted):     {reason: string(gwv1.GatewayReasonAccepted), message: "Resource accepted"},
		string(gwv1.GatewayConditionProgrammed):   {reason: string(gwv1.GatewayReasonProgrammed), message: "Resource programmed"},
		string(gwv1.GatewayConditionResolvedRefs): {reason: string(gwv1.GatewayReasonResolvedRefs), message: "All references resolved"},
	}
	valid := 0
	for _, l := range s.listeners {
		if l.valid {
			valid++
		}
	}
	switch total := len(gw.Spec.Listeners); {
	case s.err != nil:
		conds[string(gwv1.GatewayConditionAccepted)].err = s.err
	case total > 0 && valid == 0:
		conds[string(gwv1.GatewayConditionAccepted)].err = &cfgErr{string(gwv1.GatewayReasonListenersNotValid), "None of the Gateway's listeners are valid"}
	case total > 0 && valid < total:
		a := conds[string(gwv1.GatewayConditionAccepted)]
		a.reason, a.message = string(gwv1.GatewayReasonListenersNotValid), "One or more of the Gateway's listeners are invalid"
	}
	// the class istio reports Hostname addresses (istiod's
	// ClassInfo.AddressType), so the cluster IPs resolve finds are unused
	internal, _, external, pending, warnings, allUsable := s.resolve(services, ns)
	programmed := conds[string(gwv1.GatewayConditionProgrammed)]
	if len(internal) > 0 {
		programmed.message = "Resource programmed, assigned to service(s) " + humanJoin(internal)
	}
	switch {
	case len(s.services) == 0:
		programmed.err = &cfgErr{string(gwv1.GatewayReasonUnsupportedAddress), "Failed to assign to any requested addresses"}
	case len(warnings) > 0:
		msg := "Failed to assign to any requested addresses: " + strings.Join(warnings, "; ")
		if len(internal) > 0 {
			msg = fmt.Sprintf("Assigned to service(s) %s, but failed to assign to all requested addresses: %s", humanJoin(internal), strings.Join(warnings, "; "))
		}
		reason := gwv1.GatewayReasonAddressNotUsable
		if allUsable {
			reason = gwv1.GatewayReasonAddressNotAssigned
		}
		programmed.err = &cfgErr{string(reason), msg}
	}
	out := model.GatewayStatus{Namespace: ns, Name: gw.Name, Generation: gw.Generation, Conditions: conditions(conds, gw.Generation)}
	// no external address: the Service hostnames, once they have endpoints
	addrs := external
	if len(addrs) == 0 {
		for _, hp := range internal {
			h, _, _ := strings.Cut(hp, ":")
			if !slices.Contains(pending, h) && !slices.Contains(addrs, h) {
				addrs = append(addrs, h)
			}
		}
	}
	for _, a := range addrs {
		t := string(gwv1.HostnameAddressType)
		if _, err := netip.ParseAddr(a); err == nil {
			t = string(gwv1.IPAddressType)
		}
		out.Addresses = append(out.Addresses, model.GatewayStatusAddress{Type: t, Value: a})
	}
	for _, l := range s.listeners {
		out.Listeners = append(out.Listeners, model.ListenerStatus{Name: string(l.name), AttachedRoutes: l.attached,
			SupportedKinds: l.kinds, Conditions: conditions(l.conds, gw.Generation)})
	}
	return out
}

// resolve is istiod's ResolveGatewayInstances: for each of the Gateway's
// services and each listener port, whether the Service (in the Gateway's
// namespace) has endpoints for that service port.
func (s *gatewayState) resolve(services map[string]*model.Service, ns string) (internal, internalIP, external, pending, warnings []string, allUsable bool) {
	allUsable = true
	for _, g := range s.services {
		svc := services[g]
		if svc == nil || svc.Namespace != ns {
			var others []string
			if svc != nil {
				others = append(others, strconv.Quote(svc.Namespace))
			}
			if len(others) > 0 {
				warnings = append(warnings, fmt.Sprintf("hostname %q not found in namespace %q, but it was found in namespace(s) %v", g, ns, strings.Join(others, ", ")))
			} else {
				warnings = append(warnings, fmt.Sprintf("hostname %q not found", g))
			}
			allUsable = false
			continue
		}
		for _, port := range slices.Compact(slices.Sorted(slices.Values(s.ports))) {
			sp, hasPort := svc.Port(port)
			if hasPort && hasEndpoints(svc, sp) {
				internal = appendNew(internal, g+":"+strconv.Itoa(int(port)))
				if svc.ClusterIP != "" && svc.ClusterIP != "None" {
					internalIP = appendNew(internalIP, svc.ClusterIP)
				}
				switch {
				case len(svc.LoadBalancerIPs) > 0:
					for _, a := range svc.LoadBalancerIPs {
						external = appendNew(external, a)
					}
				case svc.Type == "LoadBalancer":
					if !slices.Contains(pending, g) {
						warnings = append(warnings, fmt.Sprintf("address pending for hostname %q", g))
						pending = append(pending, g)
					}
				}
				continue
			}
			if len(svc.Endpoints) == 0 {
				warnings = append(warnings, fmt.Sprintf("no instances found for hostname %q", g))
				continue
			}
			var hints []string
			for _, p := range svc.Ports {
				for _, e := range svc.Endpoints {
					if ep, ok := e.Port(p.Name); ok && ep == port {
						hints = appendNew(hints, strconv.Itoa(int(p.Port)))
					}
				}
			}
			if len(hints) > 0 {
				slices.Sort(hints)
				warnings = append(warnings, fmt.Sprintf("port %d not found for hostname %q (hint: the service port should be specified, not the workload port. Did you mean one of these ports: %v?)", port, g, hints))
				allUsable = false
				continue
			}
			if _, managed := svc.Labels["gateway.istio.io/managed"]; !managed || !hasPort {
				warnings = append(warnings, fmt.Sprintf("port %d not found for hostname %q", port, g))
				allUsable = false
			}
		}
	}
	slices.Sort(internal)
	slices.Sort(internalIP)
	slices.Sort(external)
	slices.Sort(pending)
	slices.Sort(warnings)
	return internal, internalIP, external, pending, warnings, allUsable
}

// hasEndpoints: an endpoint of svc serves the service port sp (istiod
// counts every instance, ready or not).
func hasEndpoints(svc *model.Service, sp model.ServicePort) bool {
	for i := range svc.Endpoints {
		if _, ok := svc.Endpoints[i].Port(sp.Name); ok {
			return true
		}
	}
	return false
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// humanJoin is istiod's HumanReadableJoin.
func humanJoin(ss []string) string {
	switch len(ss) {
	case 0:
		return ""
	case 1:
		return ss[0]
	case 2:
		return ss[0] + " and " + ss[1]
	}
	return strings.Join(ss[:len(ss)-1], ", ") + ", and " + ss[len(ss)-1]
}

// parentResult is one (parentRef, listener) pair of a route: nil denied
// when the route binds to the listener.
type parentResult struct {
	ref    gwv1.ParentReference
	denied *cfgErr
}

// parentRank is istiod's rankParentError (lower reports first).
func parentRank(e *cfgErr) int {
	if e == nil {
		return 0
	}
	switch e.reason {
	case string(gwv1.RouteReasonNotAllowedByListeners):
		return 1
	case string(gwv1.RouteReasonNoMatchingListenerHostname):
		return 2
	case reasonParentRefConflict:
		return 3
	case string(gwv1.RouteReasonNoMatchingParent):
		return 4
	}
	return 0
}

// routeStatus is istiod's createRouteStatus for the parents this controller
// handles: per parentRef, Accepted (the best of its listeners' results;
// messages of equal rank joined) and ResolvedRefs (routeErr, the route's
// last conversion error).
func routeStatus(kind model.Kind, om routeMeta, results []parentResult, routeErr *cfgErr) *model.RouteStatus {
	if len(results) == 0 {
		return nil
	}
	type agg struct {
		ref     gwv1.ParentReference
		report  *cfgErr
		rank    int
		success int
	}
	var order []string
	by := map[string]*agg{}
	for _, r := range results {
		key := parentRefString(r.ref, om.namespace)
		a := by[key]
		var denied *cfgErr
		if r.denied != nil {
			d := *r.denied
			denied = &d
		}
		if a == nil {
			a = &agg{ref: r.ref, report: denied, rank: parentRank(denied)}
			by[key] = a
			order = append(order, key)
		} else if rk := parentRank(denied); rk < a.rank {
			a.report, a.rank = denied, rk
		} else if rk == a.rank && a.report != nil && denied != nil {
			a.report.message += "; " + denied.message
		}
		if r.denied == nil {
			a.success++
		}
	}
	// the order istiod writes new parents in: by parentRef, descending
	slices.Sort(order)
	slices.Reverse(order)
	out := &model.RouteStatus{Kind: kind, Namespace: om.namespace, Name: om.name, Generation: om.generation}
	for _, key := range order {
		a := by[key]
		msg := "Route was valid"
		if a.success > 1 {
			msg = fmt.Sprintf("Route was valid, bound to %d parents", a.success)
		}
		conds := map[string]*cond{
			string(gwv1.RouteConditionAccepted):     {reason: string(gwv1.RouteReasonAccepted), message: msg},
			string(gwv1.RouteConditionResolvedRefs): {reason: string(gwv1.RouteReasonResolvedRefs), message: "All references resolved"},
		}
		if routeErr != nil {
			conds[string(gwv1.RouteConditionResolvedRefs)].err = routeErr
		}
		if a.report != nil {
			conds[string(gwv1.RouteConditionAccepted)].err = a.report
		}
		out.Parents = append(out.Parents, model.RouteParentStatus{ParentRef: modelParentRef(a.ref), Conditions: conditions(conds, om.generation)})
	}
	return out
}

// routeMeta is what a route's status needs of its metadata.
type routeMeta struct {
	namespace, name string
	generation      int64
}

// parentRefString is istiod's: group/kind/name/section/port.namespace with
// the defaults filled in.
func parentRefString(ref gwv1.ParentReference, ns string) string {
	group, kind, pns := GatewayAPIGroup, "Gateway", ns
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	if ref.Namespace != nil {
		pns = string(*ref.Namespace)
	}
	section, port := "", int32(0)
	if ref.SectionName != nil {
		section = string(*ref.SectionName)
	}
	if ref.Port != nil {
		port = *ref.Port
	}
	return fmt.Sprintf("%s/%s/%s/%s/%d.%s", group, kind, ref.Name, section, port, pns)
}

// ParentRefString is parentRefString of a model.ParentRef (the writer
// matches the parents it wrote with it).
func ParentRefString(ref model.ParentRef, ns string) string {
	return parentRefString(k8sParentRef(ref), ns)
}

func modelParentRef(r gwv1.ParentReference) model.ParentRef {
	out := model.ParentRef{Name: string(r.Name), Port: r.Port}
	if r.Group != nil {
		out.Group = ptrTo(string(*r.Group))
	}
	if r.Kind != nil {
		out.Kind = ptrTo(string(*r.Kind))
	}
	if r.Namespace != nil {
		out.Namespace = ptrTo(string(*r.Namespace))
	}
	if r.SectionName != nil {
		out.SectionName = ptrTo(string(*r.SectionName))
	}
	if r.Port != nil {
		out.Port = ptrTo(*r.Port)
	}
	return out
}

func k8sParentRef(r model.ParentRef) gwv1.ParentReference {
	out := gwv1.ParentReference{Name: gwv1.ObjectName(r.Name)}
	if r.Group != nil {
		out.Group = ptrTo(gwv1.Group(*r.Group))
	}
	if r.Kind != nil {
		out.Kind = ptrTo(gwv1.Kind(*r.Kind))
	}
	if r.Namespace != nil {
		out.Namespace = ptrTo(gwv1.Namespace(*r.Namespace))
	}
	if r.SectionName != nil {
		out.SectionName = ptrTo(gwv1.SectionName(*r.SectionName))
	}
	if r.Port != nil {
		out.Port = ptrTo(*r.Port)
	}
	return out
}

// K8sParentRef is the Gateway API parentRef of r.
func K8sParentRef(r model.ParentRef) gwv1.ParentReference { return k8sParentRef(r) }

// secretRefString is istiod's secretObjectReferenceString.
func secretRefString(ref gwv1.SecretObjectReference) string {
	g, k, ns := "", "", ""
	if ref.Group != nil {
		g = string(*ref.Group)
	}
	if ref.Kind != nil {
		k = string(*ref.Kind)
	}
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	return fmt.Sprintf("%s/%s/%s.%s", g, k, ref.Name, ns)
}

// classStatus is istiod's GetClassStatus.
func classStatus(gc *gwv1.GatewayClass) model.GatewayClassStatus {
	return model.GatewayClassStatus{Name: gc.Name, Generation: gc.Generation, Conditions: []model.Condition{{
		Type: string(gwv1.GatewayClassConditionStatusAccepted), Status: model.ConditionTrue,
		Reason: string(gwv1.GatewayClassReasonAccepted), Message: istioClassMessage, ObservedGeneration: gc.Generation,
	}}}
}

// routeKindString is istiod's GroupVersionKind string of a route kind.
func routeKindString(kind model.Kind) string {
	return GatewayAPIGroup + "/v1/" + string(kind)
}
