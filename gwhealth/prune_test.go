package gwhealth

import (
	"reflect"
	"slices"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

func ep(addr string) model.Endpoint {
	return model.Endpoint{Address: addr, Ready: true, TLSMode: model.TLSModeIstio}
}

func svc(host string, eps ...model.Endpoint) model.Service {
	return model.Service{Hostname: host, Endpoints: eps}
}

// world: cluster1 (net1, local) has echo; cluster2 (net2, gateways .10 and
// .11) has echo and only-b; cluster3 (net3, gateway .10) has echo.
func world() *model.MeshState {
	gw := func(cluster, network, addr string) model.NetworkGateway {
		return model.NetworkGateway{Network: network, Cluster: cluster, Address: addr, Port: 15443}
	}
	return &model.MeshState{LocalCluster: "cluster1", Clusters: []*model.ClusterState{
		{ID: "cluster1", Network: "net1", Services: []model.Service{svc("echo", ep("10.1.101.1"))},
			NetworkGateways: []model.NetworkGateway{gw("cluster1", "net1", "10.1.1.10")}},
		{ID: "cluster2", Network: "net2", Services: []model.Service{svc("echo", ep("10.2.101.1")), svc("only-b", ep("10.2.101.2"))},
			NetworkGateways: []model.NetworkGateway{gw("cluster2", "net2", "10.2.1.10"), gw("cluster2", "net2", "10.2.1.11")}},
		{ID: "cluster3", Network: "net3", Services: []model.Service{svc("echo", ep("10.3.101.1"))},
			NetworkGateways: []model.NetworkGateway{gw("cluster3", "net3", "10.3.1.10")}},
	}}
}

func downSet(keys ...string) func(model.NetworkGateway) bool {
	return func(g model.NetworkGateway) bool { return slices.Contains(keys, Key(g)) }
}

func endpointsOf(m *model.MeshState, cluster, host string) []string {
	var out []string
	if s := m.Cluster(cluster).Service(host); s != nil {
		for _, e := range s.Endpoints {
			out = append(out, e.Address)
		}
	}
	return out
}

func gatewaysOf(m *model.MeshState, cluster string) []string {
	var out []string
	for _, g := range m.Cluster(cluster).NetworkGateways {
		out = append(out, g.Address)
	}
	return out
}

func TestPrune(t *testing.T) {
	t.Run("nothing down: the same state", func(t *testing.T) {
		in := world()
		out, cuts := Prune(in, "net1", downSet())
		if out != in || cuts != nil {
			t.Fatalf("Prune with nothing down changed the state: %v", cuts)
		}
	})
	t.Run("one of two gateways down: dropped, endpoints kept", func(t *testing.T) {
		in := world()
		out, cuts := Prune(in, "net1", downSet("10.2.1.10:15443"))
		if len(cuts) != 0 {
			t.Errorf("cuts: %+v, want none", cuts)
		}
		if got := gatewaysOf(out, "cluster2"); !reflect.DeepEqual(got, []string{"10.2.1.11"}) {
			t.Errorf("cluster2 gateways %v, want only the up one", got)
		}
		if got := gatewaysOf(in, "cluster2"); len(got) != 2 {
			t.Errorf("Prune changed its input: %v", got)
		}
	})
	t.Run("every gateway of a cluster down: its endpoints cut where something else is left, kept where not", func(t *testing.T) {
		in := world()
		out, cuts := Prune(in, "net1", downSet("10.2.1.10:15443", "10.2.1.11:15443"))
		if got := endpointsOf(out, "cluster2", "echo"); len(got) != 0 {
			t.Errorf("echo in cluster2 kept %v: cluster1 and cluster3 still serve echo", got)
		}
		if got := endpointsOf(out, "cluster2", "only-b"); !reflect.DeepEqual(got, []string{"10.2.101.2"}) {
			t.Errorf("only-b in cluster2: %v, want kept (fail-static: nothing else serves it)", got)
		}
		want := []Cut{{Cluster: "cluster2", Network: "net2", Gateways: []string{"10.2.1.10:15443", "10.2.1.11:15443"}, Withdrawn: 1, Kept: []string{"only-b"}}}
		if !reflect.DeepEqual(cuts, want) {
			t.Errorf("cuts %+v, want %+v", cuts, want)
		}
		if got := gatewaysOf(out, "cluster2"); len(got) != 2 {
			t.Errorf("cluster2's gateways %v: kept, only-b still goes through them", got)
		}
		if got := endpointsOf(in, "cluster2", "echo"); len(got) != 1 {
			t.Errorf("Prune changed its input: %v", got)
		}
		if out.Cluster("cluster3") != in.Cluster("cluster3") {
			t.Error("an untouched cluster was copied")
		}
	})
	t.Run("every remote gateway down: local endpoints left, remote ones cut", func(t *testing.T) {
		out, cuts := Prune(world(), "net1", downSet("10.2.1.10:15443", "10.2.1.11:15443", "10.3.1.10:15443"))
		if len(cuts) != 2 {
			t.Errorf("cuts %+v, want cluster2 and cluster3", cuts)
		}
		for _, c := range []string{"cluster2", "cluster3"} {
			if got := endpointsOf(out, c, "echo"); len(got) != 0 {
				t.Errorf("echo in %s kept %v", c, got)
			}
		}
		if got := endpointsOf(out, "cluster1", "echo"); len(got) != 1 {
			t.Errorf("local echo %v", got)
		}
	})
	t.Run("a not-ready endpoint elsewhere does not count as reachable", func(t *testing.T) {
		in := world()
		in.Clusters[0].Services[0].Endpoints[0].Ready = false
		in.Clusters[2].Services[0].Endpoints[0].Ready = false
		out, _ := Prune(in, "net1", downSet("10.2.1.10:15443", "10.2.1.11:15443"))
		if got := endpointsOf(out, "cluster2", "echo"); len(got) != 1 {
			t.Errorf("echo in cluster2: %v, want kept (no ready endpoint elsewhere)", got)
		}
	})
	t.Run("a local gateway reported down is not ours to prune; no network: nothing", func(t *testing.T) {
		in := world()
		if out, cuts := Prune(in, "net1", downSet("10.1.1.10:15443")); out != in || cuts != nil {
			t.Errorf("local gateway down changed the state: %v", cuts)
		}
		if out, cuts := Prune(in, "", downSet("10.2.1.10:15443", "10.2.1.11:15443")); out != in || cuts != nil {
			t.Errorf("no local network changed the state: %v", cuts)
		}
	})
}

func TestTargets(t *testing.T) {
	var got []string
	for _, g := range Targets(world(), "net1") {
		got = append(got, Key(g))
	}
	if want := []string{"10.2.1.10:15443", "10.2.1.11:15443", "10.3.1.10:15443"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Targets %v, want %v", got, want)
	}
	if Targets(world(), "") != nil {
		t.Error("Targets without a local network")
	}
}
