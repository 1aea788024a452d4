package translate

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
)

// ep is a ready mTLS endpoint of reviews on port 9080.
func ep(addr, zone string, mtls bool) model.Endpoint {
	e := model.Endpoint{Address: addr, Ready: true, Ports: []model.EndpointPort{{Name: "http", Port: 9080}},
		Locality: model.Locality{Region: "r1", Zone: zone}, ServiceAccount: "reviews", Labels: map[string]string{"version": "v1"}}
	if mtls {
		e.TLSMode = model.TLSModeIstio
	}
	return e
}

func reviewsIn(eps ...model.Endpoint) []model.Service {
	return []model.Service{{
		Meta:      model.Meta{Name: "reviews", Namespace: "default"},
		Hostname:  "reviews.default.svc.cluster.local",
		Ports:     []model.ServicePort{{Name: "http", Port: 9080}},
		Endpoints: eps,
	}}
}

func gw(network, cluster, addr string) model.NetworkGateway {
	return model.NetworkGateway{Network: network, Cluster: cluster, Address: addr, Port: 15443}
}

// cla renders a load assignment as "locality: addr:port=w ... (total)" lines.
func cla(la *endpointv3.ClusterLoadAssignment) []string {
	var out []string
	for _, l := range la.GetEndpoints() {
		s := l.GetLocality().GetRegion() + "/" + l.GetLocality().GetZone() + ":"
		for _, e := range l.GetLbEndpoints() {
			a := e.GetEndpoint().GetAddress().GetSocketAddress()
			s += fmt.Sprintf(" %s:%d=%d", a.GetAddress(), a.GetPortValue(), e.GetLoadBalancingWeight().GetValue())
		}
		out = append(out, s+fmt.Sprintf(" (%d)", l.GetLoadBalancingWeight().GetValue()))
	}
	return out
}

func TestSplitHorizonEDS(t *testing.T) {
	local := func(eps ...model.Endpoint) *model.ClusterState {
		return &model.ClusterState{ID: "c1", Network: "n1", Services: reviewsIn(eps...),
			NetworkGateways: []model.NetworkGateway{gw("n1", "c1", "1.1.1.1")}}
	}
	cases := []struct {
		name     string
		clusters []*model.ClusterState
		want     []string
	}{
		{
			name: "one gateway: remote endpoints become the gateway, weight = endpoint count",
			clusters: []*model.ClusterState{
				local(ep("10.1.0.1", "z1", true)),
				{ID: "c2", Network: "n2", Services: reviewsIn(ep("10.2.0.1", "z1", true), ep("10.2.0.2", "z1", true)),
					NetworkGateways: []model.NetworkGateway{gw("n2", "c2", "2.2.2.2")}},
			},
			want: []string{"r1/z1: 10.1.0.1:9080=1 2.2.2.2:15443=2 (3)"},
		},
		{
			name: "two gateways: weights scaled by the lcm so each gateway gets an even share",
			clusters: []*model.ClusterState{
				local(ep("10.1.0.1", "z1", true)),
				{ID: "c2", Network: "n2", Services: reviewsIn(ep("10.2.0.1", "z1", true), ep("10.2.0.2", "z1", true), ep("10.2.0.3", "z1", true)),
					NetworkGateways: []model.NetworkGateway{gw("n2", "c2", "2.2.2.2"), gw("n2", "c2", "2.2.2.3")}},
			},
			// scale = lcm(1, 2) = 2: local endpoint 1×2; 3 remote endpoints ×2 = 6 split 3+3.
			want: []string{"r1/z1: 10.1.0.1:9080=2 2.2.2.2:15443=3 2.2.2.3:15443=3 (8)"},
		},
		{
			name: "a network without a gateway: its endpoints are unreachable and dropped",
			clusters: []*model.ClusterState{
				local(ep("10.1.0.1", "z1", true)),
				{ID: "c3", Network: "n3", Services: reviewsIn(ep("10.3.0.1", "z1", true))},
			},
			want: []string{"r1/z1: 10.1.0.1:9080=1 (1)"},
		},
		{
			name: "locality preserved: the gateway stands in within each zone",
			clusters: []*model.ClusterState{
				local(ep("10.1.0.1", "z1", true)),
				{ID: "c2", Network: "n2", Services: reviewsIn(ep("10.2.0.1", "z1", true), ep("10.2.0.2", "z2", true), ep("10.2.0.3", "z2", true)),
					NetworkGateways: []model.NetworkGateway{gw("n2", "c2", "2.2.2.2")}},
			},
			want: []string{"r1/z1: 10.1.0.1:9080=1 2.2.2.2:15443=1 (2)", "r1/z2: 2.2.2.2:15443=2 (2)"},
		},
		{
			name: "remote endpoints without mesh mTLS are dropped, never sent to a gateway",
			clusters: []*model.ClusterState{
				local(ep("10.1.0.1", "z1", false)),
				{ID: "c2", Network: "n2", Services: reviewsIn(ep("10.2.0.1", "z1", false), ep("10.2.0.2", "z1", true)),
					NetworkGateways: []model.NetworkGateway{gw("n2", "c2", "2.2.2.2")}},
			},
			want: []string{"r1/z1: 10.1.0.1:9080=1 2.2.2.2:15443=1 (2)"},
		},
		{
			name: "same network, other cluster: direct",
			clusters: []*model.ClusterState{
				local(ep("10.1.0.1", "z1", true)),
				{ID: "c4", Network: "n1", Services: reviewsIn(ep("10.4.0.1", "z1", false))},
			},
			want: []string{"r1/z1: 10.1.0.1:9080=1 10.4.0.1:9080=1 (2)"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mesh := &model.MeshState{LocalCluster: "c1", Clusters: c.clusters}
			ix := BuildIndex(mesh, DefaultOptions())
			b := &builder{ix: ix, proxy: &Proxy{Network: "n1", ClusterID: "c1"}, out: &Result{}}
			svc := ix.services["reviews.default.svc.cluster.local"]
			la := b.loadAssignment("outbound|9080||reviews.default.svc.cluster.local", svc, svc.Ports[0], nil, nil, policy{}, false)
			if got := cla(la); !slices.Equal(got, c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			if err := la.ValidateAll(); err != nil {
				t.Errorf("invalid CLA: %v", err)
			}
		})
	}
}

func TestSNIDNATEndpointsAreLocalMTLSPods(t *testing.T) {
	mesh := &model.MeshState{LocalCluster: "c1", Clusters: []*model.ClusterState{
		{ID: "c1", Network: "n1", Services: reviewsIn(ep("10.1.0.1", "z1", true), ep("10.1.0.2", "z1", false))},
		{ID: "c2", Network: "n2", Services: reviewsIn(ep("10.2.0.1", "z1", true)),
			NetworkGateways: []model.NetworkGateway{gw("n2", "c2", "2.2.2.2")}},
	}}
	ix := BuildIndex(mesh, DefaultOptions())
	b := &builder{ix: ix, proxy: &Proxy{Network: "n1", ClusterID: "c1"}, out: &Result{}}
	svc := ix.services["reviews.default.svc.cluster.local"]
	la := b.loadAssignment("outbound_.9080_._.reviews.default.svc.cluster.local", svc, svc.Ports[0], nil, nil, policy{}, true)
	if got, want := cla(la), []string{"r1/z1: 10.1.0.1:9080=1 (1)"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// EndpointsFor gives exactly Translate's endpoints for the clusters of a full
// translation, on every golden case.
func TestEndpointsForMatchesTranslate(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(casesDir, "[0-9]*"))
	n := 0
	for _, dir := range dirs {
		for _, p := range caseProxies(t, dir) {
			mesh, _ := caseMesh(t, dir)
			proxy := Proxy{Type: node.TypeRouter, Namespace: p.Namespace, Labels: p.Labels, ClusterID: mesh.LocalCluster}
			if nw, ok := p.Metadata["NETWORK"].(string); ok {
				proxy.Network = nw
			}
			full, _ := Translate(mesh, proxy, DefaultOptions())
			var names []string
			for _, c := range full.Clusters {
				if c.GetType() == clusterv3.Cluster_EDS {
					names = append(names, c.GetName())
				}
			}
			got, err := EndpointsFor(mesh, proxy, DefaultOptions(), names)
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			if len(got) != len(full.Endpoints) {
				t.Fatalf("%s: %d CLAs, Translate gave %d", dir, len(got), len(full.Endpoints))
			}
			for i := range got {
				if d := cmp.Diff(full.Endpoints[i], got[i], protocmp.Transform()); d != "" {
					t.Errorf("%s: %s differs from Translate's (-Translate +EndpointsFor):\n%s", dir, got[i].GetClusterName(), d)
				}
				n++
			}
			// Asked for one cluster, it indexes only that cluster's host
			// (the server's incremental path) and still gives the same.
			for _, want := range full.Endpoints {
				one, err := EndpointsFor(mesh, proxy, DefaultOptions(), []string{want.GetClusterName()})
				if err != nil || len(one) != 1 {
					t.Fatalf("%s: %s alone: %d CLAs, want 1 (%v)", dir, want.GetClusterName(), len(one), err)
				}
				if d := cmp.Diff(want, one[0], protocmp.Transform()); d != "" {
					t.Errorf("%s: %s alone differs from Translate's (-Translate +EndpointsFor):\n%s", dir, want.GetClusterName(), d)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no endpoints compared")
	}
}

// TestEndpointTLSMode checks istiod's precedence for the endpoints' mTLS
// decision: subset port-level, subset, then top-level port-level, top level.
func TestEndpointTLSMode(t *testing.T) {
	tls := func(m model.ClientTLSMode) *model.ClientTLS { return &model.ClientTLS{Mode: m} }
	dr := &model.DestinationRule{
		TrafficPolicy: &model.TrafficPolicy{TLS: tls(model.ClientTLSSimple),
			PortLevelSettings: []model.PortTrafficPolicy{{Port: 9000, TLS: tls(model.ClientTLSDisable)}, {Port: 9001, LoadBalancer: &model.LoadBalancer{Simple: "RANDOM"}}}},
		Subsets: []model.Subset{
			{Name: "mesh", TrafficPolicy: &model.TrafficPolicy{TLS: tls(model.ClientTLSIstioMutual)}},
			{Name: "port", TrafficPolicy: &model.TrafficPolicy{PortLevelSettings: []model.PortTrafficPolicy{{Port: 80, TLS: tls(model.ClientTLSMutual)}}}},
			{Name: "none"},
		},
	}
	for _, tt := range []struct {
		subset string
		port   uint32
		want   model.ClientTLSMode // "" = nil
	}{
		{"", 80, model.ClientTLSSimple},
		{"", 9000, model.ClientTLSDisable},
		{"", 9001, model.ClientTLSSimple}, // a port-level setting without tls keeps the level's
		{"mesh", 9000, model.ClientTLSIstioMutual},
		{"port", 80, model.ClientTLSMutual},
		{"port", 9000, model.ClientTLSDisable}, // falls back to the top level's port-level
		{"none", 80, model.ClientTLSSimple},
		{"missing", 80, ""},
	} {
		got := endpointTLSMode(dr, tt.subset, tt.port)
		if (got == nil) != (tt.want == "") || got != nil && *got != tt.want {
			t.Errorf("subset %q port %d: got %v, want %q", tt.subset, tt.port, got, tt.want)
		}
	}
	if endpointTLSMode(nil, "", 80) != nil || endpointTLSMode(&model.DestinationRule{}, "", 80) != nil {
		t.Error("no DestinationRule or no tls: want nil")
	}
}

// TestEndpointsForValidates: an assignment Envoy would refuse (an endpoint
// port over 65535, as a state built without the sources' checks may hold)
// is refused by EndpointsFor with an error naming it, as Translate's
// validation drops and reports it (the server then keeps the last good
// endpoints); a valid one alone passes.
func TestEndpointsForValidates(t *testing.T) {
	bad := ep("10.1.0.2", "z1", true)
	bad.Ports = []model.EndpointPort{{Name: "http", Port: 70000}}
	ratings := reviewsIn(ep("10.1.0.3", "z1", true))[0]
	ratings.Name, ratings.Hostname = "ratings", "ratings.default.svc.cluster.local"
	mesh := &model.MeshState{LocalCluster: "c1", Clusters: []*model.ClusterState{
		{ID: "c1", Network: "n1", Services: append(reviewsIn(ep("10.1.0.1", "z1", true), bad), ratings)},
	}}
	mesh.Clusters[0].Normalize()
	proxy := Proxy{Type: node.TypeRouter, Namespace: "default", ClusterID: "c1", Network: "n1"}
	const reviews, ratingsCluster = "outbound|9080||reviews.default.svc.cluster.local", "outbound|9080||ratings.default.svc.cluster.local"
	got, err := EndpointsFor(mesh, proxy, DefaultOptions(), []string{reviews, ratingsCluster})
	for _, c := range got {
		t.Logf("%s: %q", c.GetClusterName(), cla(c))
	}
	if err == nil || !strings.Contains(err.Error(), reviews) || !strings.Contains(err.Error(), "failed Envoy validation") || strings.Contains(err.Error(), ratingsCluster) {
		t.Fatalf("EndpointsFor: %v, want an error naming %s only", err, reviews)
	}
	if len(got) != 2 {
		t.Fatalf("EndpointsFor: %d assignments, want both (the caller decides)", len(got))
	}
	if _, err := EndpointsFor(mesh, proxy, DefaultOptions(), []string{ratingsCluster}); err != nil {
		t.Errorf("the valid cluster alone: %v", err)
	}
}
