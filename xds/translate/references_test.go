package translate

import (
	"slices"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

func TestCheckReferences(t *testing.T) {
	dest := func(host string) model.Destination { return model.Destination{Host: host} }
	local := &model.ClusterState{ID: "c1",
		Services:       []model.Service{{Meta: model.Meta{Name: "echo", Namespace: "default"}, Hostname: "echo.default.svc.cluster.local"}},
		ServiceEntries: []model.ServiceEntry{{Meta: model.Meta{Name: "ext", Namespace: "default"}, Hosts: []string{"api.example.com"}}},
		Gateways:       []model.Gateway{{Meta: model.Meta{Name: "gw", Namespace: "istio-system"}}},
		VirtualServices: []model.VirtualService{{
			Meta: model.Meta{Name: "vs", Namespace: "default"}, Hosts: []string{"a.example.com"},
			Gateways: []string{"istio-system/gw", "istio-system/nope", model.MeshGateway},
			HTTP: []model.HTTPRoute{{
				Route:   []model.HTTPRouteDestination{{Destination: dest("echo")}, {Destination: dest("missing")}},
				Mirrors: []model.HTTPMirror{{Destination: dest("api.example.com")}},
			}},
			TCP: []model.TCPRoute{{Route: []model.RouteDestination{{Destination: dest("remote.other.svc.cluster.local")}}}},
		}},
	}
	remote := &model.ClusterState{ID: "c2", Services: []model.Service{{Meta: model.Meta{Name: "remote", Namespace: "other"}, Hostname: "remote.other.svc.cluster.local"}}}
	mesh := &model.MeshState{LocalCluster: "c1", Clusters: []*model.ClusterState{local, remote}}
	var got []string
	for _, fe := range CheckReferences(mesh, Options{}) {
		got = append(got, fe.Error())
	}
	want := []string{
		`VirtualService default/vs: spec.gateways[1]: gateway "istio-system/nope" not found`,
		`VirtualService default/vs: spec.http[0].route[1].destination.host: no Service or ServiceEntry missing.default.svc.cluster.local in the mesh; routes to it fail until it exists`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}
