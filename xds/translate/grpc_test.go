package translate

import (
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meshgate/meshgate/discovery/model"
)

func grpcEP(addr string, port uint32, labels map[string]string, zone string) model.Endpoint {
	return model.Endpoint{Address: addr, Ready: true, Ports: []model.EndpointPort{{Name: "grpc", Port: port}},
		Labels: labels, Locality: model.Locality{Region: "r1", Zone: zone}}
}

func grpcMesh(c model.ClusterState) *model.MeshState {
	c.ID = "Kubernetes"
	c.Normalize()
	return &model.MeshState{LocalCluster: "Kubernetes", Clusters: []*model.ClusterState{&c}}
}

func echoService(eps ...model.Endpoint) model.Service {
	return model.Service{
		Meta:      model.Meta{Name: "echo", Namespace: "default"},
		Hostname:  "echo.default.svc.cluster.local",
		Ports:     []model.ServicePort{{Name: "grpc", Port: 8080, TargetPort: 9090}},
		Endpoints: eps,
	}
}

var (
	v1 = map[string]string{"version": "v1"}
	v2 = map[string]string{"version": "v2"}
)

func echoDR() model.DestinationRule {
	return model.DestinationRule{Meta: model.Meta{Name: "echo", Namespace: "default"}, Host: "echo",
		Subsets: []model.Subset{{Name: "v1", Labels: v1}, {Name: "v2", Labels: v2}}}
}

func echoVS(routes ...model.HTTPRoute) model.VirtualService {
	return model.VirtualService{Meta: model.Meta{Name: "echo", Namespace: "default"}, Hosts: []string{"echo"}, HTTP: routes}
}

func dest(subset string, w int32) model.HTTPRouteDestination {
	return model.HTTPRouteDestination{Destination: model.Destination{Host: "echo", Subset: subset}, Weight: w}
}

func names[T interface{ GetName() string }](xs []T) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.GetName())
	}
	return out
}

func routeOf(t *testing.T, r *Result) []*routev3.Route {
	t.Helper()
	if len(r.Routes) != 1 || len(r.Routes[0].VirtualHosts) != 1 {
		t.Fatalf("want one route config with one virtual host, got %v", names(r.Routes))
	}
	return r.Routes[0].VirtualHosts[0].Routes
}

// The resources gRPC-Go requires: an API listener named host:port whose
// HttpConnectionManager takes RDS over ADS and ends in a typed router; a
// virtual host matching host:port; EDS-over-ADS clusters; locality weights.
func TestGRPCShapes(t *testing.T) {
	m := grpcMesh(model.ClusterState{Services: []model.Service{
		echoService(grpcEP("10.0.0.1", 9090, v1, "a"), grpcEP("10.0.0.2", 9090, v1, "b"), grpcEP("10.0.0.3", 9090, v2, "b"),
			model.Endpoint{Address: "10.0.0.4", Ready: false, Ports: []model.EndpointPort{{Name: "grpc", Port: 9090}}}),
	}})
	r, err := GRPC(m, Proxy{Type: "sidecar", Namespace: "default"}, DefaultOptions())
	if err != nil || len(r.Errors) > 0 {
		t.Fatalf("err %v, object errors %v", err, r.Errors)
	}
	const name = "echo.default.svc.cluster.local:8080"
	const cname = "outbound|8080||echo.default.svc.cluster.local"
	if got := names(r.Listeners); !slices.Equal(got, []string{name}) {
		t.Fatalf("listeners %v", got)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := r.Listeners[0].GetApiListener().GetApiListener().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	if hcm.GetStatPrefix() == "" || hcm.GetRds().GetRouteConfigName() != name || hcm.GetRds().GetConfigSource().GetAds() == nil {
		t.Errorf("connection manager: %v", &hcm)
	}
	filters := hcm.GetHttpFilters()
	var router routerv3.Router
	if len(filters) == 0 || filters[len(filters)-1].GetTypedConfig().UnmarshalTo(&router) != nil {
		t.Errorf("http filters must end in a typed router: %v", filters)
	}
	vh := r.Routes[0].GetVirtualHosts()[0]
	if r.Routes[0].GetName() != name || !slices.Contains(vh.GetDomains(), name) || !slices.Contains(vh.GetDomains(), "echo.default.svc.cluster.local") {
		t.Errorf("route config %s domains %v", r.Routes[0].GetName(), vh.GetDomains())
	}
	if c := vh.GetRoutes()[0].GetRoute().GetCluster(); c != cname || vh.GetRoutes()[0].GetMatch().GetPrefix() != "" {
		t.Errorf("default route: %v", vh.GetRoutes()[0])
	}
	if len(r.Clusters) != 1 || r.Clusters[0].GetName() != cname || r.Clusters[0].GetType() != clusterv3.Cluster_EDS ||
		r.Clusters[0].GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
		t.Fatalf("clusters: %v", r.Clusters)
	}
	cla := r.Endpoints[0]
	if cla.GetClusterName() != cname || len(cla.GetEndpoints()) != 2 {
		t.Fatalf("endpoints: %v", cla)
	}
	for i, want := range []struct {
		zone   string
		weight uint32
	}{{"a", 1}, {"b", 2}} {
		loc := cla.GetEndpoints()[i]
		if loc.GetLocality().GetZone() != want.zone || loc.GetLoadBalancingWeight().GetValue() != want.weight || len(loc.GetLbEndpoints()) != int(want.weight) {
			t.Errorf("locality %d: zone %q weight %d endpoints %d; want zone %q weight %d", i, loc.GetLocality().GetZone(),
				loc.GetLoadBalancingWeight().GetValue(), len(loc.GetLbEndpoints()), want.zone, want.weight)
		}
	}
	if got := cla.GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue(); got != 9090 {
		t.Errorf("endpoint port %d, want the endpoint's 9090", got)
	}
	again, _ := GRPC(m, Proxy{Type: "sidecar", Namespace: "default"}, DefaultOptions())
	for i := range r.Listeners {
		if d := cmp.Diff(r.Listeners[i], again.Listeners[i], protocmp.Transform()); d != "" {
			t.Errorf("two translations of the same input differ in listener %d (-first +second):\n%s", i, d)
		}
		if d := cmp.Diff(r.Routes[i], again.Routes[i], protocmp.Transform()); d != "" {
			t.Errorf("two translations of the same input differ in route %d (-first +second):\n%s", i, d)
		}
	}
}

func TestGRPCRouting(t *testing.T) {
	eps := []model.Endpoint{grpcEP("10.0.0.1", 9090, v1, "a"), grpcEP("10.0.0.2", 9090, v2, "a")}
	cases := []struct {
		name     string
		vs       []model.VirtualService
		proxy    Proxy
		clusters []string
		check    func(t *testing.T, routes []*routev3.Route)
		errs     []string // substrings of expected object errors
	}{
		{
			name:     "single subset",
			vs:       []model.VirtualService{echoVS(model.HTTPRoute{Route: []model.HTTPRouteDestination{dest("v2", 0)}})},
			clusters: []string{"outbound|8080|v2|echo.default.svc.cluster.local"},
			check: func(t *testing.T, rs []*routev3.Route) {
				if rs[0].GetRoute().GetCluster() != "outbound|8080|v2|echo.default.svc.cluster.local" {
					t.Errorf("route %v", rs[0])
				}
			},
		},
		{
			name:     "weighted split, zero weight dropped",
			vs:       []model.VirtualService{echoVS(model.HTTPRoute{Route: []model.HTTPRouteDestination{dest("v1", 75), dest("v2", 25), dest("", 0)}})},
			clusters: []string{"outbound|8080|v1|echo.default.svc.cluster.local", "outbound|8080|v2|echo.default.svc.cluster.local"},
			check: func(t *testing.T, rs []*routev3.Route) {
				wc := rs[0].GetRoute().GetWeightedClusters().GetClusters()
				if len(wc) != 2 || wc[0].GetWeight().GetValue() != 75 || wc[1].GetWeight().GetValue() != 25 {
					t.Errorf("weighted clusters %v", wc)
				}
			},
		},
		{
			name: "matches and source labels",
			vs: []model.VirtualService{echoVS(
				model.HTTPRoute{Match: []model.HTTPMatch{{SourceLabels: map[string]string{"app": "canary"}}}, Route: []model.HTTPRouteDestination{dest("v2", 0)}},
				model.HTTPRoute{Match: []model.HTTPMatch{{URI: &model.StringMatch{Kind: "prefix", Prefix: "/grpc.health"},
					Headers: map[string]model.StringMatch{"x-user": {Kind: "exact", Exact: "alice"}}}}, Route: []model.HTTPRouteDestination{dest("v2", 0)}},
				model.HTTPRoute{Route: []model.HTTPRouteDestination{dest("v1", 0)}},
			)},
			proxy:    Proxy{Labels: map[string]string{"app": "web"}},
			clusters: []string{"outbound|8080|v1|echo.default.svc.cluster.local", "outbound|8080|v2|echo.default.svc.cluster.local"},
			check: func(t *testing.T, rs []*routev3.Route) {
				if len(rs) != 2 {
					t.Fatalf("want the source-label route left out for this client: %v", rs)
				}
				m := rs[0].GetMatch()
				if m.GetPrefix() != "/grpc.health" || len(m.GetHeaders()) != 1 || m.GetHeaders()[0].GetStringMatch().GetExact() != "alice" {
					t.Errorf("match %v", m)
				}
			},
		},
		{
			name:     "redirect refused, unknown subset refused, default kept",
			vs:       []model.VirtualService{echoVS(model.HTTPRoute{Redirect: &model.HTTPRedirect{URI: "/x"}}, model.HTTPRoute{Route: []model.HTTPRouteDestination{dest("v9", 0)}})},
			clusters: []string{"outbound|8080||echo.default.svc.cluster.local"},
			errs:     []string{"VirtualService default/echo: spec.http[0]: redirect", `VirtualService default/echo: spec.http[1].route: [0].destination: subset "v9"`},
		},
		{
			name: "a gateway-bound VirtualService does not apply",
			vs: []model.VirtualService{func() model.VirtualService {
				v := echoVS(model.HTTPRoute{Route: []model.HTTPRouteDestination{dest("v2", 0)}})
				v.Gateways = []string{"istio-system/gw"}
				return v
			}()},
			clusters: []string{"outbound|8080||echo.default.svc.cluster.local"},
		},
		{
			name:     "authority match refused",
			vs:       []model.VirtualService{echoVS(model.HTTPRoute{Match: []model.HTTPMatch{{Authority: &model.StringMatch{Kind: "exact", Exact: "x"}}}, Route: []model.HTTPRouteDestination{dest("v1", 0)}})},
			clusters: []string{"outbound|8080||echo.default.svc.cluster.local"},
			errs:     []string{"spec.http[0].match[0]: scheme, method and authority"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := grpcMesh(model.ClusterState{Services: []model.Service{echoService(eps...)},
				DestinationRules: []model.DestinationRule{echoDR()}, VirtualServices: tc.vs})
			r, err := GRPC(m, tc.proxy, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got := names(r.Clusters); !slices.Equal(got, tc.clusters) {
				t.Errorf("clusters %v, want %v", got, tc.clusters)
			}
			if len(r.Endpoints) != len(r.Clusters) {
				t.Errorf("%d endpoint sets for %d clusters", len(r.Endpoints), len(r.Clusters))
			}
			for _, cla := range r.Endpoints {
				for _, loc := range cla.GetEndpoints() {
					for _, lb := range loc.GetLbEndpoints() {
						addr := lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
						if strings.Contains(cla.GetClusterName(), "|v1|") && addr != "10.0.0.1" || strings.Contains(cla.GetClusterName(), "|v2|") && addr != "10.0.0.2" {
							t.Errorf("subset %s holds %s", cla.GetClusterName(), addr)
						}
					}
				}
			}
			var got []string
			for _, e := range r.Errors {
				got = append(got, e.Error())
			}
			if len(got) != len(tc.errs) {
				t.Fatalf("object errors %q, want %d", got, len(tc.errs))
			}
			for i, want := range tc.errs {
				if !strings.Contains(got[i], want) {
					t.Errorf("error %q lacks %q", got[i], want)
				}
			}
			if tc.check != nil {
				tc.check(t, routeOf(t, r))
			}
		})
	}
}

func TestGRPCServiceSelection(t *testing.T) {
	remote := &model.ClusterState{ID: "west", Network: "net2", Services: []model.Service{echoService(grpcEP("10.1.0.1", 9090, v1, "w"))}}
	local := model.ClusterState{Network: "net1", Services: []model.Service{
		echoService(grpcEP("10.0.0.1", 9090, v1, "a")),
		{Meta: model.Meta{Name: "ext", Namespace: "default"}, Hostname: "ext.default.svc.cluster.local", Type: "ExternalName", ExternalName: "example.com",
			Ports: []model.ServicePort{{Name: "http", Port: 80}}},
		{Meta: model.Meta{Name: "multi", Namespace: "default"}, Hostname: "multi.default.svc.cluster.local",
			Ports: []model.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81}, {Name: "dns", Port: 53, Protocol: "UDP"}}},
	}}
	m := grpcMesh(local)
	m = m.WithCluster(remote)
	cases := []struct {
		network string
		addrs   []string
	}{
		{"net1", []string{"10.0.0.1"}},
		{"", []string{"10.0.0.1", "10.1.0.1"}},
	}
	for _, tc := range cases {
		r, err := GRPC(m, Proxy{Network: tc.network}, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"echo.default.svc.cluster.local:8080", "multi.default.svc.cluster.local:80", "multi.default.svc.cluster.local:81"}
		if got := names(r.Listeners); !slices.Equal(got, want) {
			t.Errorf("listeners %v, want %v (ExternalName and UDP ports skipped)", got, want)
		}
		var addrs []string
		for _, cla := range r.Endpoints {
			if cla.GetClusterName() != "outbound|8080||echo.default.svc.cluster.local" {
				continue
			}
			for _, loc := range cla.GetEndpoints() {
				for _, lb := range loc.GetLbEndpoints() {
					addrs = append(addrs, lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
				}
			}
		}
		slices.Sort(addrs)
		if !slices.Equal(addrs, tc.addrs) {
			t.Errorf("client network %q: echo endpoints %v, want %v", tc.network, addrs, tc.addrs)
		}
	}
}

// The gRPC generator shares the gateway translator's index: a service in two
// clusters with different trust domains is checked against both SPIFFE
// identities, and the DestinationRule in the client's namespace wins over the
// one in the service's namespace (istiod's precedence).
func TestGRPCSharedIndexTrustDomainsAndPrecedence(t *testing.T) {
	withSA := func(addr string) model.Endpoint {
		ep := grpcEP(addr, 9090, v1, "a")
		ep.ServiceAccount = "echo"
		return ep
	}
	mtls := func(ns string, sans ...string) model.DestinationRule {
		return model.DestinationRule{Meta: model.Meta{Name: "echo-" + ns, Namespace: ns}, Host: "echo.default.svc.cluster.local",
			TrafficPolicy: &model.TrafficPolicy{TLS: &model.ClientTLS{Mode: model.ClientTLSIstioMutual, SubjectAltNames: sans}}}
	}
	east := model.ClusterState{ID: "east", Network: "n1", TrustDomain: "east.example",
		Services:         []model.Service{echoService(withSA("10.0.0.1"))},
		DestinationRules: []model.DestinationRule{mtls("default")}}
	west := model.ClusterState{ID: "west", Network: "n1", TrustDomain: "west.example",
		Services: []model.Service{echoService(withSA("10.1.0.1"))}}
	east.Normalize()
	west.Normalize()
	m := &model.MeshState{LocalCluster: "east", Clusters: []*model.ClusterState{&east, &west}}

	sans := func(t *testing.T, clientNS string) []string {
		t.Helper()
		r, err := GRPC(m, Proxy{Type: "sidecar", Namespace: clientNS}, DefaultOptions())
		if err != nil || len(r.Errors) > 0 || len(r.Clusters) != 1 {
			t.Fatalf("err=%v errors=%v clusters=%v", err, r.Errors, names(r.Clusters))
		}
		ctx := upstreamCtx(t, r.Clusters[0])
		var out []string
		for _, m := range ctx.GetCommonTlsContext().GetValidationContext().GetMatchSubjectAltNames() {
			out = append(out, m.GetExact())
		}
		return out
	}
	want := []string{"spiffe://east.example/ns/default/sa/echo", "spiffe://west.example/ns/default/sa/echo"}
	if got := sans(t, "default"); !slices.Equal(got, want) {
		t.Errorf("SANs %v, want one identity per cluster trust domain %v", got, want)
	}
	// A rule in the client's namespace takes precedence over the service's.
	east.DestinationRules = append(east.DestinationRules, mtls("client", "spiffe://pinned/ns/default/sa/echo"))
	east.Normalize()
	if got := sans(t, "client"); !slices.Equal(got, []string{"spiffe://pinned/ns/default/sa/echo"}) {
		t.Errorf("SANs %v, want the client namespace's DestinationRule", got)
	}
}
