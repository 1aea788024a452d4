package translate

import (
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
)

// Seed 001 §2: a VirtualService bound only to a gateway changes what that
// gateway serves but not mesh traffic; listing "mesh" applies it to mesh
// clients too. The same VirtualService is checked on both kinds of proxy: an
// ingress gateway (router) and a proxyless gRPC client in the mesh.
func TestMeshRuleBindsPerProxyKind(t *testing.T) {
	eps := []model.Endpoint{grpcEP("10.0.0.1", 9090, v1, "a"), grpcEP("10.0.0.2", 9090, v2, "a")}
	vs := func(gateways ...string) model.VirtualService {
		return model.VirtualService{Meta: model.Meta{Name: "echo", Namespace: "default"},
			Hosts: []string{"echo.example.com", "echo"}, Gateways: gateways,
			HTTP: []model.HTTPRoute{{Route: []model.HTTPRouteDestination{dest("v2", 0)}}}}
	}
	gw := model.Gateway{Meta: model.Meta{Name: "gw", Namespace: "default"}, Selector: map[string]string{"istio": "ingressgateway"},
		Servers: []model.Server{{Port: model.Port{Number: 80, Name: "http", Protocol: model.ProtocolHTTP}, Hosts: []string{"echo.example.com"}}}}
	const v2Cluster = "outbound|8080|v2|echo.default.svc.cluster.local"
	for _, c := range []struct {
		name             string
		gateways         []string
		gatewayGetsV2    bool
		meshClientGetsV2 bool
	}{
		{"gateway only: mesh traffic unchanged", []string{"gw"}, true, false},
		{"gateway and mesh: both follow the rule", []string{"gw", "mesh"}, true, true},
		{"mesh only: the gateway does not", []string{"mesh"}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			mesh := grpcMesh(model.ClusterState{Services: []model.Service{echoService(eps...)}, Gateways: []model.Gateway{gw},
				DestinationRules: []model.DestinationRule{echoDR()}, VirtualServices: []model.VirtualService{vs(c.gateways...)}})
			router, err := Translate(mesh, Proxy{Type: node.TypeRouter, Namespace: "default", Labels: map[string]string{"istio": "ingressgateway"}}, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got := hasCluster(router, v2Cluster); got != c.gatewayGetsV2 {
				t.Errorf("gateway routes to v2: %v, want %v", got, c.gatewayGetsV2)
			}
			client, err := GRPC(mesh, Proxy{Type: "sidecar", Namespace: "default"}, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got := hasCluster(client, v2Cluster); got != c.meshClientGetsV2 {
				t.Errorf("mesh client routes to v2: %v, want %v", got, c.meshClientGetsV2)
			}
		})
	}
}

func hasCluster(r *Result, name string) bool {
	for _, c := range r.Clusters {
		if c.GetName() == name {
			return true
		}
	}
	return false
}
