package translate

import (
	"slices"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

// MeshState.Unreachable: a gateway that does not answer from here leaves a
// load assignment that has anything else; its weight goes to its cluster's
// other gateways; a load assignment with nothing else keeps it
// (fail-static).
func TestUnreachableGateways(t *testing.T) {
	local := &model.ClusterState{ID: "c1", Network: "n1", Services: reviewsIn(ep("10.1.0.1", "z1", true)),
		NetworkGateways: []model.NetworkGateway{gw("n1", "c1", "1.1.1.1")}}
	c2 := &model.ClusterState{ID: "c2", Network: "n2", Services: reviewsIn(ep("10.2.0.1", "z1", true), ep("10.2.0.2", "z1", true)),
		NetworkGateways: []model.NetworkGateway{gw("n2", "c2", "2.2.2.2"), gw("n2", "c2", "2.2.2.3")}}
	c3 := &model.ClusterState{ID: "c3", Network: "n3", Services: reviewsIn(ep("10.3.0.1", "z1", true)),
		NetworkGateways: []model.NetworkGateway{gw("n3", "c3", "3.3.3.3")}}
	cases := []struct {
		name        string
		clusters    []*model.ClusterState
		unreachable []model.NetworkGateway
		want        []string
	}{
		{"nothing unreachable", []*model.ClusterState{local, c2, c3}, nil,
			[]string{"r1/z1: 10.1.0.1:9080=2 2.2.2.2:15443=2 2.2.2.3:15443=2 3.3.3.3:15443=2 (8)"}},
		{"one of c2's two gateways: the other takes its weight", []*model.ClusterState{local, c2, c3},
			[]model.NetworkGateway{gw("n2", "c2", "2.2.2.2")},
			[]string{"r1/z1: 10.1.0.1:9080=2 2.2.2.3:15443=4 3.3.3.3:15443=2 (8)"}},
		{"both of c2's gateways: c2 leaves, local and c3 stay", []*model.ClusterState{local, c2, c3},
			[]model.NetworkGateway{gw("n2", "c2", "2.2.2.2"), gw("n2", "c2", "2.2.2.3")},
			[]string{"r1/z1: 10.1.0.1:9080=2 3.3.3.3:15443=2 (4)"}},
		{"every gateway, a local endpoint: only it", []*model.ClusterState{local, c2, c3},
			[]model.NetworkGateway{gw("n2", "c2", "2.2.2.2"), gw("n2", "c2", "2.2.2.3"), gw("n3", "c3", "3.3.3.3")},
			[]string{"r1/z1: 10.1.0.1:9080=2 (2)"}},
		{"every gateway and nothing local: fail-static, all kept", []*model.ClusterState{
			{ID: "c1", Network: "n1"}, c2, c3},
			[]model.NetworkGateway{gw("n2", "c2", "2.2.2.2"), gw("n2", "c2", "2.2.2.3"), gw("n3", "c3", "3.3.3.3")},
			[]string{"r1/z1: 2.2.2.2:15443=2 2.2.2.3:15443=2 3.3.3.3:15443=2 (6)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mesh := &model.MeshState{LocalCluster: "c1", Clusters: c.clusters, Unreachable: c.unreachable}
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
