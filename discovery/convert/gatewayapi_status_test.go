package convert

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// cond renders a condition as "Type=Status/Reason: message".
func condString(c model.Condition) string {
	return fmt.Sprintf("%s=%s/%s: %s", c.Type, c.Status, c.Reason, c.Message)
}

func condsOf(cs []model.Condition) []string {
	var out []string
	for _, c := range cs {
		out = append(out, condString(c))
	}
	return out
}

func condOf(t *testing.T, cs []model.Condition, typ string) string {
	t.Helper()
	for _, c := range cs {
		if c.Type == typ {
			return condString(c)
		}
	}
	t.Fatalf("no condition %s in %v", typ, condsOf(cs))
	return ""
}

// gwService is a converted Service with one endpoint serving port.
func gwService(ns, name string, port uint32, lbIP string) model.Service {
	s := model.Service{Meta: model.Meta{Namespace: ns, Name: name}, Hostname: name + "." + ns + ".svc.cluster.local",
		ClusterIP: "10.96.0.10", Type: "LoadBalancer", Ports: []model.ServicePort{{Name: "http", Port: port}},
		Endpoints: []model.Endpoint{{Address: "10.0.0.5", Ports: []model.EndpointPort{{Name: "http", Port: 8080}}, Ready: true}}}
	if lbIP != "" {
		s.LoadBalancerIPs = []string{lbIP}
	}
	return s
}

func statusOf(t *testing.T, in GatewayAPIInputs, secrets []*corev1.Secret, converted ...model.Service) *model.GatewayAPIStatus {
	t.Helper()
	svcs := []*corev1.Service{gatewaySvc("istio-system", "gw-svc", map[string]string{"istio": "ingressgateway"})}
	for _, s := range converted {
		if s.Name != "gw-svc" {
			svcs = append(svcs, gatewaySvc(s.Namespace, s.Name, map[string]string{"app": s.Name}))
		}
	}
	_, _, st, _ := GatewayAPIWithStatus(in, svcs, secrets, nil, converted, "cluster.local")
	if st == nil {
		t.Fatal("no status")
	}
	return st
}

const webGateway = `
metadata: {name: web, namespace: istio-system, generation: 3}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: gw-svc}]
  listeners:
  - {name: http, hostname: "*.example.com", port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - {name: same, port: 8080, protocol: HTTP}
`

// A Gateway whose Service has endpoints on its listeners' ports is
// Accepted and Programmed, with istiod's messages; its listeners count the
// routes bound to them; its address is the Service's load-balancer IP;
// the GatewayClass of Istio's controller is Accepted.
func TestGatewayStatusProgrammed(t *testing.T) {
	in := GatewayAPIInputs{
		Classes: []*gwv1.GatewayClass{
			gwObj[gwv1.GatewayClass](t, `{metadata: {name: istio, generation: 2}, spec: {controllerName: istio.io/gateway-controller}}`),
			gwObj[gwv1.GatewayClass](t, `{metadata: {name: envoy}, spec: {controllerName: example.com/envoy}}`),
		},
		Gateways: []*gwv1.Gateway{gwObj[gwv1.Gateway](t, webGateway)},
		HTTPRoutes: []*gwv1.HTTPRoute{gwObj[gwv1.HTTPRoute](t, `
metadata: {name: a, namespace: apps, generation: 7}
spec:
  parentRefs: [{name: web, namespace: istio-system}]
  hostnames: [a.example.com]
  rules: [{backendRefs: [{name: a, port: 80}]}]
`)},
	}
	svc80 := gwService("istio-system", "gw-svc", 80, "203.0.113.7")
	svc80.Ports = append(svc80.Ports, model.ServicePort{Name: "http", Port: 8080})
	st := statusOf(t, in, nil, svc80, gwService("apps", "a", 80, ""))

	if len(st.Classes) != 1 || st.Classes[0].Name != "istio" || st.Classes[0].Conditions[0].ObservedGeneration != 2 ||
		condString(st.Classes[0].Conditions[0]) != "Accepted=True/Accepted: Handled by Istio controller" {
		t.Errorf("classes: %+v", st.Classes)
	}
	if len(st.Gateways) != 1 {
		t.Fatalf("gateways: %+v", st.Gateways)
	}
	g := st.Gateways[0]
	want := []string{
		"Accepted=True/Accepted: Resource accepted",
		"Programmed=True/Programmed: Resource programmed, assigned to service(s) gw-svc.istio-system.svc.cluster.local:80 and gw-svc.istio-system.svc.cluster.local:8080",
		"ResolvedRefs=True/ResolvedRefs: All references resolved",
	}
	if d := cmp.Diff(want, condsOf(g.Conditions)); d != "" {
		t.Errorf("gateway conditions (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]model.GatewayStatusAddress{{Type: "IPAddress", Value: "203.0.113.7"}}, g.Addresses); d != "" {
		t.Errorf("addresses (-want +got):\n%s", d)
	}
	if len(g.Listeners) != 2 || g.Listeners[0].AttachedRoutes != 1 || g.Listeners[1].AttachedRoutes != 0 {
		t.Errorf("listeners: %+v", g.Listeners)
	}
	wantL := []string{
		"Accepted=True/Accepted: No errors found",
		"Conflicted=False/NoConflicts: No errors found",
		"Programmed=True/Programmed: No errors found",
		"ResolvedRefs=True/ResolvedRefs: No errors found",
	}
	if d := cmp.Diff(wantL, condsOf(g.Listeners[0].Conditions)); d != "" {
		t.Errorf("listener conditions (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"HTTPRoute", "GRPCRoute"}, g.Listeners[0].SupportedKinds); d != "" {
		t.Errorf("supported kinds (-want +got):\n%s", d)
	}
	for _, c := range append(g.Conditions, g.Listeners[0].Conditions...) {
		if c.ObservedGeneration != 3 {
			t.Errorf("%s: observedGeneration %d, want 3", c.Type, c.ObservedGeneration)
		}
	}
	// the route: one parent, bound to listener http only (same allows only
	// its own namespace)
	if len(st.Routes) != 1 || len(st.Routes[0].Parents) != 1 || st.Routes[0].Generation != 7 {
		t.Fatalf("routes: %+v", st.Routes)
	}
	p := st.Routes[0].Parents[0]
	if d := cmp.Diff([]string{"Accepted=True/Accepted: Route was valid", "ResolvedRefs=True/ResolvedRefs: All references resolved"}, condsOf(p.Conditions)); d != "" {
		t.Errorf("route conditions (-want +got):\n%s", d)
	}
	if p.ParentRef.Name != "web" || p.ParentRef.Namespace == nil || *p.ParentRef.Namespace != "istio-system" || p.ParentRef.SectionName != nil {
		t.Errorf("parentRef not as written: %+v", p.ParentRef)
	}
}

// Programmed is False when the Gateway's Service is missing, in another
// namespace, has no endpoints or lacks the listener's port; Accepted is
// False for an address that is not a Hostname.
func TestGatewayStatusNotProgrammed(t *testing.T) {
	gw := gwObj[gwv1.Gateway](t, webGateway)
	in := GatewayAPIInputs{Gateways: []*gwv1.Gateway{gw}}
	prog := func(svcs ...model.Service) string {
		t.Helper()
		return condOf(t, statusOf(t, in, nil, svcs...).Gateways[0].Conditions, "Programmed")
	}
	if got, want := prog(), `Programmed=False/AddressNotUsable: Failed to assign to any requested addresses: hostname "gw-svc.istio-system.svc.cluster.local" not found`; got != want {
		t.Errorf("no Service:\n got %s\nwant %s", got, want)
	}
	noEps := gwService("istio-system", "gw-svc", 80, "")
	noEps.Endpoints = nil
	if got, want := prog(noEps), `Programmed=False/AddressNotAssigned: Failed to assign to any requested addresses: no instances found for hostname "gw-svc.istio-system.svc.cluster.local"; no instances found for hostname "gw-svc.istio-system.svc.cluster.local"`; got != want {
		t.Errorf("no endpoints:\n got %s\nwant %s", got, want)
	}
	// the endpoints listen on 8080: istiod's hint names the service port
	if got, want := prog(gwService("istio-system", "gw-svc", 80, "")), `Programmed=False/AddressNotUsable: Assigned to service(s) gw-svc.istio-system.svc.cluster.local:80, but failed to assign to all requested addresses: address pending for hostname "gw-svc.istio-system.svc.cluster.local"; port 8080 not found for hostname "gw-svc.istio-system.svc.cluster.local" (hint: the service port should be specified, not the workload port. Did you mean one of these ports: [80]?)`; got != want {
		t.Errorf("pending load balancer, a workload port as the listener's port:\n got %s\nwant %s", got, want)
	}

	ipgw := gwObj[gwv1.Gateway](t, `
metadata: {name: ip, namespace: istio-system}
spec:
  gatewayClassName: istio
  addresses: [{type: IPAddress, value: 10.1.1.1}, {type: Hostname, value: gw-svc}]
  listeners: [{name: http, port: 80, protocol: HTTP}]
`)
	st := statusOf(t, GatewayAPIInputs{Gateways: []*gwv1.Gateway{ipgw}}, nil, gwService("istio-system", "gw-svc", 80, "203.0.113.7"))
	if got, want := condOf(t, st.Gateways[0].Conditions, "Accepted"), "Accepted=False/UnsupportedAddress: only Hostname is supported, ignoring [10.1.1.1]"; got != want {
		t.Errorf("IP address:\n got %s\nwant %s", got, want)
	}
	// no usable address at all: istiod reports no listener
	ipgw.Spec.Addresses[1] = gwv1.GatewaySpecAddress{Type: ptrTo(gwv1.IPAddressType), Value: "10.1.1.2"}
	st = statusOf(t, GatewayAPIInputs{Gateways: []*gwv1.Gateway{ipgw}}, nil, gwService("istio-system", "gw-svc", 80, "203.0.113.7"))
	g := st.Gateways[0]
	if got, want := condOf(t, g.Conditions, "Accepted"), "Accepted=False/UnsupportedAddress: only Hostname is supported, ignoring [10.1.1.1 10.1.1.2]"; got != want || len(g.Listeners) != 0 {
		t.Errorf("IP addresses only:\n got %s, listeners %+v\nwant %s, no listeners", got, g.Listeners, want)
	}
	if got, want := condOf(t, g.Conditions, "Programmed"), "Programmed=False/UnsupportedAddress: Failed to assign to any requested addresses"; got != want {
		t.Errorf("IP addresses only:\n got %s\nwant %s", got, want)
	}
}

// Listener conditions: an unsupported protocol, TLS references that do
// not resolve (missing Secret, another namespace without a grant), route
// kinds the listener cannot carry; the Gateway is Accepted with
// ListenersNotValid while one listener is valid, not Accepted when none is.
func TestGatewayStatusListeners(t *testing.T) {
	gw := gwObj[gwv1.Gateway](t, `
metadata: {name: l, namespace: istio-system}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: gw-svc}]
  listeners:
  - {name: ok, port: 80, protocol: HTTP}
  - {name: udp, port: 53, protocol: udp}
  - {name: nosecret, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: missing}]}}
  - {name: cross, port: 8443, protocol: HTTPS, tls: {certificateRefs: [{name: cert, namespace: other}]}}
  - {name: kinds, port: 81, protocol: HTTP, allowedRoutes: {kinds: [{kind: TCPRoute}]}}
`)
	st := statusOf(t, GatewayAPIInputs{Gateways: []*gwv1.Gateway{gw}}, nil, gwService("istio-system", "gw-svc", 80, ""))
	ls := st.Gateways[0].Listeners
	if len(ls) != 5 {
		t.Fatalf("listeners: %+v", ls)
	}
	for _, c := range []struct {
		listener  int
		typ, want string
	}{
		{1, "Accepted", `Accepted=False/UnsupportedProtocol: protocol "udp" is unsupported`},
		{2, "ResolvedRefs", `ResolvedRefs=False/InvalidCertificateRef: invalid certificate reference //missing., secret istio-system/missing not found`},
		{2, "Programmed", `Programmed=False/Invalid: Bad TLS configuration`},
		{2, "Accepted", `Accepted=True/Accepted: No errors found`},
		{3, "ResolvedRefs", `ResolvedRefs=False/RefNotPermitted: certificateRef cert/other not accessible to a Gateway in namespace "istio-system" (missing a ReferenceGrant?)`},
		{3, "Accepted", `Accepted=False/NoValidCACertificate: certificateRef cert/other not accessible to a Gateway in namespace "istio-system" (missing a ReferenceGrant?)`},
		{4, "ResolvedRefs", `ResolvedRefs=False/InvalidRouteKinds: Invalid route kinds`},
	} {
		if got := condOf(t, ls[c.listener].Conditions, c.typ); got != c.want {
			t.Errorf("listener %s %s:\n got %s\nwant %s", ls[c.listener].Name, c.typ, got, c.want)
		}
	}
	if len(ls[4].SupportedKinds) != 0 {
		t.Errorf("listener kinds supports %v, want none", ls[4].SupportedKinds)
	}
	if got, want := condOf(t, st.Gateways[0].Conditions, "Accepted"), "Accepted=True/ListenersNotValid: One or more of the Gateway's listeners are invalid"; got != want {
		t.Errorf("gateway:\n got %s\nwant %s", got, want)
	}
	gw.Spec.Listeners = gw.Spec.Listeners[1:3]
	st = statusOf(t, GatewayAPIInputs{Gateways: []*gwv1.Gateway{gw}}, nil, gwService("istio-system", "gw-svc", 80, ""))
	if got, want := condOf(t, st.Gateways[0].Conditions, "Accepted"), "Accepted=False/ListenersNotValid: None of the Gateway's listeners are valid"; got != want {
		t.Errorf("gateway without valid listeners:\n got %s\nwant %s", got, want)
	}
}

// Route parents: each reason of istiod's referenceAllowed, the most
// useful one reported per parentRef (messages of equal rank joined), and
// ResolvedRefs from the backends; a parentRef to a Gateway of another
// class gets no status from this controller.
func TestRouteStatusReasons(t *testing.T) {
	in := GatewayAPIInputs{
		Gateways: []*gwv1.Gateway{
			gwObj[gwv1.Gateway](t, webGateway),
			gwObj[gwv1.Gateway](t, l4Gateway),
			gwObj[gwv1.Gateway](t, `{metadata: {name: envoy, namespace: istio-system}, spec: {gatewayClassName: envoy, listeners: [{name: http, port: 80, protocol: HTTP}]}}`),
		},
	}
	route := func(name, spec string) *gwv1.HTTPRoute {
		return gwObj[gwv1.HTTPRoute](t, "metadata: {name: "+name+", namespace: apps}\nspec:\n"+spec)
	}
	in.HTTPRoutes = []*gwv1.HTTPRoute{
		route("port", `  parentRefs: [{name: web, namespace: istio-system, port: 9999}]`),
		route("section", `  parentRefs: [{name: web, namespace: istio-system, sectionName: nope}]`),
		route("host", `  parentRefs: [{name: web, namespace: istio-system, sectionName: http}]
  hostnames: [a.other.org]`),
		route("namespace", `  parentRefs: [{name: web, namespace: istio-system, sectionName: same}]`),
		route("kind", `  parentRefs: [{name: l4, namespace: istio-system, sectionName: tcp}]`),
		route("best", `  parentRefs: [{name: web, namespace: istio-system}]
  hostnames: [a.other.org]`),
		route("two", `  parentRefs: [{name: web, namespace: istio-system}, {name: l4, namespace: istio-system}]
  hostnames: [a.example.com]`),
		route("missing", `  parentRefs: [{name: web, namespace: istio-system}]
  rules: [{backendRefs: [{name: nosuch, port: 80}]}]`),
		route("notpermitted", `  parentRefs: [{name: web, namespace: istio-system}]
  rules: [{backendRefs: [{name: db, namespace: data, port: 80}]}]`),
		route("badkind", `  parentRefs: [{name: web, namespace: istio-system}]
  rules: [{backendRefs: [{name: x, kind: ConfigMap, group: "", port: 80}]}]`),
		route("filter", `  parentRefs: [{name: web, namespace: istio-system}]
  rules: [{filters: [{type: ExtensionRef, extensionRef: {group: example.com, kind: F, name: f}}]}]`),
		route("other", `  parentRefs: [{name: envoy, namespace: istio-system}]`),
	}
	st := statusOf(t, in, nil, gwService("istio-system", "gw-svc", 80, ""))
	got := map[string][]string{}
	for _, r := range st.Routes {
		for _, p := range r.Parents {
			got[r.Name] = append(got[r.Name], condsOf(p.Conditions)...)
		}
	}
	ok := "ResolvedRefs=True/ResolvedRefs: All references resolved"
	want := map[string][]string{
		"port":      {"Accepted=False/NoMatchingParent: port 9999 not found; port 9999 not found", ok},
		"section":   {`Accepted=False/NoMatchingParent: sectionName "nope" not found; sectionName "nope" not found`, ok},
		"host":      {`Accepted=False/NoMatchingListenerHostname: no hostnames matched parent hostname "*.example.com"`, ok},
		"namespace": {`Accepted=False/NotAllowedByListeners: hostnames matched parent hostname "", but namespace "apps" is not allowed by the parent`, ok},
		"kind":      {"Accepted=False/NotAllowedByListeners: kind gateway.networking.k8s.io/v1/HTTPRoute is not allowed", ok},
		// listener http: no hostname; listener same: namespace (ranked first)
		"best": {`Accepted=False/NotAllowedByListeners: hostnames matched parent hostname "", but namespace "apps" is not allowed by the parent`, ok},
		"two": {
			"Accepted=True/Accepted: Route was valid", ok,
			"Accepted=False/NotAllowedByListeners: kind gateway.networking.k8s.io/v1/HTTPRoute is not allowed; kind gateway.networking.k8s.io/v1/HTTPRoute is not allowed", ok,
		},
		"missing":      {"Accepted=True/Accepted: Route was valid", "ResolvedRefs=False/BackendNotFound: backend(nosuch.apps.svc.cluster.local) not found"},
		"notpermitted": {"Accepted=True/Accepted: Route was valid", `ResolvedRefs=False/RefNotPermitted: backendRef db/data not accessible to a HTTPRoute in namespace "apps" (missing a ReferenceGrant?)`},
		"badkind":      {"Accepted=True/Accepted: Route was valid", `ResolvedRefs=False/InvalidKind: referencing unsupported backendRef: group "" kind "ConfigMap"`},
		"filter":       {"Accepted=True/Accepted: Route was valid", `ResolvedRefs=False/InvalidFilter: unsupported filter type "ExtensionRef"`},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("route conditions (-want +got):\n%s", d)
	}
	// "two": parents in the order istiod writes them (by parentRef string, descending)
	for _, r := range st.Routes {
		if r.Name == "two" && (r.Parents[0].ParentRef.Name != "web" || r.Parents[1].ParentRef.Name != "l4") {
			t.Errorf("two: parents %+v", r.Parents)
		}
	}
	// a route bound to two listeners of one Gateway says so
	in.HTTPRoutes = []*gwv1.HTTPRoute{route("both", `  parentRefs: [{name: web, namespace: istio-system}]`)}
	in.Gateways[0].Spec.Listeners[1].AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptrTo(gwv1.NamespacesFromAll)}}
	st = statusOf(t, in, nil, gwService("istio-system", "gw-svc", 80, ""))
	if got := condOf(t, st.Routes[0].Parents[0].Conditions, "Accepted"); got != "Accepted=True/Accepted: Route was valid, bound to 2 parents" {
		t.Errorf("both: %s", got)
	}
	if !strings.HasPrefix(ParentRefString(st.Routes[0].Parents[0].ParentRef, "apps"), "gateway.networking.k8s.io/Gateway/web//0.istio-system") {
		t.Errorf("parentRef string %s", ParentRefString(st.Routes[0].Parents[0].ParentRef, "apps"))
	}
}

// Listeners that cannot coexist (istiod's merge rules): the later one is
// Conflicted (ProtocolConflict or HostnameConflict), not Accepted, not
// Programmed and not served; the Gateway is Accepted with ListenersNotValid.
func TestGatewayStatusListenerConflicts(t *testing.T) {
	gw := gwObj[gwv1.Gateway](t, `
metadata: {name: c, namespace: istio-system}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: gw-svc}]
  listeners:
  - {name: a, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: b, port: 80, protocol: HTTP, hostname: b.example.com}
  - {name: a-again, port: 80, protocol: HTTP, hostname: a.example.com}
  - {name: tcp, port: 80, protocol: TCP}
`)
	svcs := []*corev1.Service{gatewaySvc("istio-system", "gw-svc", map[string]string{"istio": "ingressgateway"})}
	gws, _, st, errs := GatewayAPIWithStatus(GatewayAPIInputs{Gateways: []*gwv1.Gateway{gw}}, svcs, nil, nil,
		[]model.Service{gwService("istio-system", "gw-svc", 80, "")}, "cluster.local")
	if len(gws) != 2 || len(errs) != 2 {
		t.Errorf("gateways %d (want the 2 listeners that do not conflict), errors %v", len(gws), errs)
	}
	ls := st.Gateways[0].Listeners
	const msg = "Listener has a conflict with another listener attached to the same Gateway"
	for _, c := range []struct {
		listener int
		want     []string
	}{
		{1, []string{"Accepted=True/Accepted: No errors found", "Conflicted=False/NoConflicts: No errors found",
			"Programmed=True/Programmed: No errors found", "ResolvedRefs=True/ResolvedRefs: No errors found"}},
		{2, []string{"Accepted=False/HostnameConflict: " + msg, "Conflicted=True/HostnameConflict: " + msg, "Programmed=False/HostnameConflict: " + msg}},
		{3, []string{"Accepted=False/ProtocolConflict: " + msg, "Conflicted=True/ProtocolConflict: " + msg, "Programmed=False/ProtocolConflict: " + msg}},
	} {
		if d := cmp.Diff(c.want, condsOf(ls[c.listener].Conditions)); d != "" {
			t.Errorf("listener %s (-want +got):\n%s", ls[c.listener].Name, d)
		}
	}
	if got := condOf(t, st.Gateways[0].Conditions, "Accepted"); got != "Accepted=True/ListenersNotValid: One or more of the Gateway's listeners are invalid" {
		t.Errorf("gateway: %s", got)
	}
}
