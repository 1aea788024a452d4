package translate

import (
	"fmt"
	"runtime"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

// TestParallelClustersMatchSequential: buildClusters on several workers gives
// the result of one loop over the names (clusters, endpoints, warnings and
// errors in the same order, the same secrets), on a mesh with warnings spread
// over the names (routes to missing services and subsets).
func TestParallelClustersMatchSequential(t *testing.T) {
	mesh := benchMesh(600)
	c := mesh.Clusters[0]
	for i := range c.VirtualServices {
		if i%7 == 0 {
			c.VirtualServices[i].HTTP[0].Route[1].Destination.Host = fmt.Sprintf("missing-%d.ns.svc.cluster.local", i)
		}
		if i%11 == 0 {
			c.VirtualServices[i].HTTP[0].Route[0].Destination.Subset = "v9"
		}
	}
	for i := range c.DestinationRules {
		if i%13 == 0 {
			c.DestinationRules[i].TrafficPolicy = &model.TrafficPolicy{TLS: &model.ClientTLS{Mode: model.ClientTLSSimple, CredentialName: fmt.Sprintf("cred-%d", i%3)}}
		}
	}
	c.Normalize()
	defer func(v int) { minClustersPerWorker = v }(minClustersPerWorker)
	minClustersPerWorker = 1 << 30
	seq, err := Translate(mesh, benchProxy, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	minClustersPerWorker = 1
	par, err := translateWorkers(mesh, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(seq.Warnings) == 0 || len(seq.Clusters) < 1000 || len(seq.Secrets) == 0 {
		t.Fatalf("the mesh should warn and have clusters and secrets: %d warnings, %d clusters, %d secrets", len(seq.Warnings), len(seq.Clusters), len(seq.Secrets))
	}
	equalMsgs(t, "clusters", seq.Clusters, par.Clusters)
	equalMsgs(t, "endpoints", seq.Endpoints, par.Endpoints)
	equalMsgs(t, "secrets", seq.Secrets, par.Secrets)
	equalMsgs(t, "routes", seq.Routes, par.Routes)
	if fmt.Sprint(seq.Warnings) != fmt.Sprint(par.Warnings) || fmt.Sprint(seq.Errors) != fmt.Sprint(par.Errors) {
		t.Fatalf("warnings or errors differ:\n%v\n%v\n---\n%v\n%v", seq.Warnings, seq.Errors, par.Warnings, par.Errors)
	}
}

func translateWorkers(mesh *model.MeshState, procs int) (*Result, error) {
	old := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(old)
	return Translate(mesh, benchProxy, DefaultOptions())
}

func equalMsgs[T proto.Message](t *testing.T, what string, a, b []T) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d sequential, %d parallel", what, len(a), len(b))
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			t.Fatalf("%s[%d] differs:\n%v\n%v", what, i, a[i], b[i])
		}
	}
}

// TestIstioTLSModeMetadataValid: validCLA leaves the shared metadata out of
// each endpoint's validation because it is valid; and a CLA with an invalid
// endpoint fails the same way through validCLA as through ValidateAll, its
// endpoints keeping their metadata.
func TestIstioTLSModeMetadataValid(t *testing.T) {
	if err := istioTLSModeMetadata.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	la := appendLbEndpoints(nil, []epEntry{{addr: "10.0.0.1", port: 80, weight: 1, mtls: true}, {addr: "10.0.0.2", port: 70000, weight: 1, mtls: true}})
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: la}}}
	want := cla.ValidateAll()
	got := validCLA{cla}.ValidateAll()
	if want == nil || got == nil || want.Error() != got.Error() {
		t.Fatalf("ValidateAll %v, validCLA %v", want, got)
	}
	for _, lb := range la {
		if lb.Metadata != istioTLSModeMetadata {
			t.Fatal("an endpoint lost its metadata")
		}
	}
}

// TestValidateSplitMatchesValidateAll: a route configuration of many virtual
// hosts validated in parts gives ValidateAll's answer, valid or not, and keeps
// its virtual hosts.
func TestValidateSplitMatchesValidateAll(t *testing.T) {
	for _, bad := range []int{-1, 0, 70, 99} {
		rc := &routev3.RouteConfiguration{Name: "http.80"}
		for i := range 100 {
			vh := &routev3.VirtualHost{Name: fmt.Sprintf("h%d", i), Domains: []string{fmt.Sprintf("h%d.example.com", i)}}
			if i == bad {
				vh.Domains = nil // min_items 1
			}
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
		want, got := rc.ValidateAll(), validateOne(rc)
		if fmt.Sprint(want) != fmt.Sprint(got) || (bad >= 0) != (got != nil) {
			t.Fatalf("bad=%d: ValidateAll %v, validateOne %v", bad, want, got)
		}
		if len(rc.VirtualHosts) != 100 {
			t.Fatalf("bad=%d: %d virtual hosts left", bad, len(rc.VirtualHosts))
		}
	}
}

// TestParallelRoutesMatchSequential: the routes of the route configurations
// built on several workers give the result of one loop (virtual hosts,
// RouteDeps, errors in the same order), on a mesh with route errors spread
// over the VirtualServices, hosts that several VirtualServices share (their
// virtual hosts collapse or not), catch-all routes before others and
// httpsRedirect servers.
func TestParallelRoutesMatchSequential(t *testing.T) {
	mesh := benchMesh(600)
	c := mesh.Clusters[0]
	for i := range c.VirtualServices {
		vs := &c.VirtualServices[i]
		switch {
		case i%7 == 0:
			vs.HTTP = append(vs.HTTP, model.HTTPRoute{Redirect: &model.HTTPRedirect{URI: "/x", RedirectCode: 999}})
		case i%5 == 0:
			// a catch-all first: the prefix route after it is dropped
			vs.HTTP = append([]model.HTTPRoute{{Route: vs.HTTP[0].Route}}, vs.HTTP...)
		}
		if i%3 == 0 {
			// shared with other gateways' VirtualServices: twin and shared
			// collapse; and alt collapses with the VirtualService's own host
			vs.Hosts = append(vs.Hosts, fmt.Sprintf("shared-%d.example.com", i%9), fmt.Sprintf("twin-%d.example.com", i%9),
				fmt.Sprintf("alt-%d.example.org", i))
		}
	}
	for i := range c.Gateways {
		g := &c.Gateways[i]
		for k := range 3 {
			g.Servers[0].Hosts = append(g.Servers[0].Hosts, fmt.Sprintf("shared-%d.example.com", k*3), fmt.Sprintf("twin-%d.example.com", k*3))
		}
		g.Servers[0].Hosts = append(g.Servers[0].Hosts, "*.example.org")
		if i%4 == 0 {
			g.Servers[0].TLS = &model.ServerTLS{HTTPSRedirect: true}
			g.Servers[0].Hosts = append(g.Servers[0].Hosts, fmt.Sprintf("redirect-only-%d.example.com", i))
		}
	}
	c.Normalize()
	defer func(v int) { minRouteItemsPerWorker = v }(minRouteItemsPerWorker)
	minRouteItemsPerWorker = 1 << 30
	seq, err := Translate(mesh, benchProxy, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	minRouteItemsPerWorker = 1
	par, err := translateWorkers(mesh, 4)
	if err != nil {
		t.Fatal(err)
	}
	multi := 0
	for _, rc := range seq.Routes {
		for _, vh := range rc.VirtualHosts {
			if len(vh.Domains) > 1 {
				multi++
			}
		}
	}
	if len(seq.Errors) == 0 || len(seq.Routes) < 10 || multi == 0 {
		t.Fatalf("the mesh should have route errors and collapsed hosts: %d errors, %d route configurations, %d collapsed", len(seq.Errors), len(seq.Routes), multi)
	}
	equalMsgs(t, "routes", seq.Routes, par.Routes)
	equalMsgs(t, "clusters", seq.Clusters, par.Clusters)
	if fmt.Sprint(seq.Warnings) != fmt.Sprint(par.Warnings) || fmt.Sprint(seq.Errors) != fmt.Sprint(par.Errors) {
		t.Fatalf("warnings or errors differ:\n%v\n%v\n---\n%v\n%v", seq.Warnings, seq.Errors, par.Warnings, par.Errors)
	}
	if fmt.Sprint(seq.RouteDeps) != fmt.Sprint(par.RouteDeps) || fmt.Sprint(seq.ListenerClusters) != fmt.Sprint(par.ListenerClusters) {
		t.Fatal("route dependencies differ")
	}
}

// TestCLARulesKnown: validateCLAParts checks the assignment's own rules
// itself, so the only field of ClusterLoadAssignment with protoc-gen-validate
// rules must be cluster_name (min_len 1) and it has no oneof: a
// go-control-plane release that adds one fails here.
func TestCLARulesKnown(t *testing.T) {
	md := (&endpointv3.ClusterLoadAssignment{}).ProtoReflect().Descriptor()
	if md.Oneofs().Len() != 0 {
		t.Errorf("ClusterLoadAssignment has %d oneofs", md.Oneofs().Len())
	}
	found := false
	for i := range md.Fields().Len() {
		f := md.Fields().Get(i)
		rules, _ := proto.GetExtension(f.Options(), validate.E_Rules).(*validate.FieldRules)
		if rules == nil {
			continue
		}
		found = found || f.Name() == "cluster_name"
		if f.Name() != "cluster_name" || !proto.Equal(rules, &validate.FieldRules{Type: &validate.FieldRules_String_{String_: &validate.StringRules{MinLen: proto.Uint64(1)}}}) {
			t.Errorf("ClusterLoadAssignment.%s has rules %v: validateCLAParts does not check them", f.Name(), rules)
		}
	}
	if !found {
		t.Error("no rules read for cluster_name: the check reads no rules")
	}
}

// TestValidateCLAParts: valid or not, validateCLAParts answers as
// ValidateAll does.
func TestValidateCLAParts(t *testing.T) {
	good := func() *endpointv3.ClusterLoadAssignment {
		return &endpointv3.ClusterLoadAssignment{ClusterName: "c", Endpoints: []*endpointv3.LocalityLbEndpoints{
			{LbEndpoints: appendLbEndpoints(nil, []epEntry{{addr: "10.0.0.1", port: 80, weight: 1}})}}}
	}
	for name, mod := range map[string]func(*endpointv3.ClusterLoadAssignment){
		"valid":        func(*endpointv3.ClusterLoadAssignment) {},
		"no endpoints": func(c *endpointv3.ClusterLoadAssignment) { c.Endpoints = nil },
		"no name":      func(c *endpointv3.ClusterLoadAssignment) { c.ClusterName = "" },
		"endpoint port": func(c *endpointv3.ClusterLoadAssignment) {
			c.Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 70000}
		},
		"locality prio": func(c *endpointv3.ClusterLoadAssignment) { c.Endpoints[0].Priority = 200 },
		"policy": func(c *endpointv3.ClusterLoadAssignment) {
			c.Policy = &endpointv3.ClusterLoadAssignment_Policy{OverprovisioningFactor: wrapperspb.UInt32(0)}
		},
		"valid policy": func(c *endpointv3.ClusterLoadAssignment) {
			c.Policy = &endpointv3.ClusterLoadAssignment_Policy{OverprovisioningFactor: wrapperspb.UInt32(140)}
		},
		"named valid": func(c *endpointv3.ClusterLoadAssignment) { c.NamedEndpoints = map[string]*endpointv3.Endpoint{"a": {}} },
		"named invalid": func(c *endpointv3.ClusterLoadAssignment) {
			c.NamedEndpoints = map[string]*endpointv3.Endpoint{"a": {Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "10.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 70000}}}}}}
		},
		"two bad things": func(c *endpointv3.ClusterLoadAssignment) { c.ClusterName = ""; c.Endpoints[0].Priority = 200 },
	} {
		cla := good()
		mod(cla)
		want, got := cla.ValidateAll(), validateCLAParts(cla)
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("%s: ValidateAll %v, validateCLAParts %v", name, want, got)
		}
		if want == nil && (name != "valid" && name != "no endpoints" && name != "valid policy" && name != "named valid") {
			t.Errorf("%s: the case is valid; it tests nothing", name)
		}
	}
}
