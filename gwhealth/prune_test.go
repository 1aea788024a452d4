package gwhealth

import (
	"reflect"
	"slices"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

// world: cluster1 (net1, local, gateway .10), cluster2 (net2, gateways .10
// and .11), cluster3 (net3, gateway .10).
func world() *model.MeshState {
	gw := func(cluster, network, addr string) model.NetworkGateway {
		return model.NetworkGateway{Network: network, Cluster: cluster, Address: addr, Port: 15443}
	}
	return &model.MeshState{LocalCluster: "cluster1", Clusters: []*model.ClusterState{
		{ID: "cluster1", Network: "net1", NetworkGateways: []model.NetworkGateway{gw("cluster1", "net1", "10.1.1.10")}},
		{ID: "cluster2", Network: "net2", NetworkGateways: []model.NetworkGateway{gw("cluster2", "net2", "10.2.1.10"), gw("cluster2", "net2", "10.2.1.11")}},
		{ID: "cluster3", Network: "net3", NetworkGateways: []model.NetworkGateway{gw("cluster3", "net3", "10.3.1.10")}},
	}}
}

func downSet(keys ...string) func(model.NetworkGateway) bool {
	return func(g model.NetworkGateway) bool { return slices.Contains(keys, Key(g)) }
}

func keys(gws []model.NetworkGateway) []string {
	var out []string
	for _, g := range gws {
		out = append(out, Key(g))
	}
	return out
}

func TestTargetsAndMark(t *testing.T) {
	if got, want := keys(Targets(world(), "net1")), []string{"10.2.1.10:15443", "10.2.1.11:15443", "10.3.1.10:15443"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Targets %v, want %v", got, want)
	}
	if Targets(world(), "") != nil {
		t.Error("Targets without a local network: every network matches, nothing is remote")
	}
	in := world()
	if out, list := Mark(in, "net1", downSet()); out != in || list != nil {
		t.Errorf("nothing down changed the state: %v", list)
	}
	if out, list := Mark(in, "net1", downSet("10.1.1.10:15443")); out != in || list != nil {
		t.Errorf("the local network's gateway is not probed, so never marked: %v", list)
	}
	out, list := Mark(in, "net1", downSet("10.2.1.11:15443", "10.3.1.10:15443"))
	if got, want := keys(out.Unreachable), []string{"10.2.1.11:15443", "10.3.1.10:15443"}; !reflect.DeepEqual(got, want) || !reflect.DeepEqual(list, out.Unreachable) {
		t.Errorf("Unreachable %v (list %v), want %v", got, keys(list), want)
	}
	if in.Unreachable != nil || !slices.Equal(out.Clusters, in.Clusters) {
		t.Error("Mark changed its input or the clusters")
	}
}
