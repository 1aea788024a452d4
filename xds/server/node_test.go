package server

import (
	"errors"
	"maps"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

func md(fields map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(fields)
	if err != nil {
		panic(err)
	}
	return s
}

func TestParseNode(t *testing.T) {
	const id = "router~10.0.0.5~ingress-7d9.istio-system~istio-system.svc.cluster.local"
	cases := []struct {
		name   string
		node   *corev3.Node
		reason string // NodeError reason when an error is expected
	}{
		{
			name: "gateway with metadata",
			node: &corev3.Node{Id: id, Metadata: md(map[string]any{
				"LABELS": map[string]any{"istio": "ingressgateway", "app": "gw"}, "NETWORK": "net1", "CLUSTER_ID": "east",
				"SERVICE_ACCOUNT": "gw-sa", "ROUTER_MODE": "sni-dnat",
			})},
		},
		{name: "defaults", node: &corev3.Node{Id: id}},
		{name: "istio proxy", node: &corev3.Node{Id: id, Metadata: md(map[string]any{"ISTIO_VERSION": "1.31.0"})}},
		{name: "namespace from metadata wins", node: &corev3.Node{Id: id, Metadata: md(map[string]any{"NAMESPACE": "gateways"})}},
		{name: "grpc generator", node: &corev3.Node{Id: "sidecar~10.0.0.9~c.default~default.svc.cluster.local", Metadata: md(map[string]any{"GENERATOR": "grpc"})}},
		{name: "nil node", node: nil, reason: "missing_node"},
		{name: "three parts", node: &corev3.Node{Id: "router~10.0.0.1~x.ns"}, reason: "malformed_node_id"},
		{name: "label not a string", node: &corev3.Node{Id: id, Metadata: md(map[string]any{"LABELS": map[string]any{"n": 1.0}})}, reason: "malformed_metadata"},
		{name: "network not a string", node: &corev3.Node{Id: id, Metadata: md(map[string]any{"NETWORK": true})}, reason: "malformed_metadata"},
		{name: "bad router mode", node: &corev3.Node{Id: id, Metadata: md(map[string]any{"ROUTER_MODE": "sni"})}, reason: "malformed_metadata"},
		{name: "unknown generator", node: &corev3.Node{Id: id, Metadata: md(map[string]any{"GENERATOR": "api"})}, reason: "unsupported_generator"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNode(tc.node, "Kubernetes")
			if tc.reason != "" {
				var ne *NodeError
				if !errors.As(err, &ne) || ne.Reason != tc.reason {
					t.Fatalf("err = %v, want a NodeError with reason %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tc.name {
			case "gateway with metadata":
				if n.Type != "router" || n.IP != "10.0.0.5" || n.Namespace != "istio-system" || n.Network != "net1" ||
					n.ClusterID != "east" || n.RouterMode != node.RouterModeSNIDNAT || n.ServiceAccount != "gw-sa" ||
					!maps.Equal(n.Labels, map[string]string{"istio": "ingressgateway", "app": "gw"}) {
					t.Errorf("got %+v", n)
				}
			case "defaults":
				if n.ClusterID != "Kubernetes" || n.RouterMode != node.RouterModeStandard || n.Generator != "" || n.Labels != nil ||
					n.Flavor != translate.FlavorEnvoy {
					t.Errorf("got %+v", n)
				}
			case "istio proxy":
				if n.Flavor != translate.FlavorIstio {
					t.Errorf("a node with ISTIO_VERSION gets flavor %q, want istio", n.Flavor)
				}
			case "namespace from metadata wins":
				if n.Namespace != "gateways" {
					t.Errorf("namespace = %q", n.Namespace)
				}
			case "grpc generator":
				if n.Generator != node.GeneratorGRPC || n.Type != "sidecar" {
					t.Errorf("got %+v", n)
				}
			}
		})
	}
}

func TestGroupKey(t *testing.T) {
	a, _ := ParseNode(gatewayNode("gw-1"), "Kubernetes")
	b, _ := ParseNode(gatewayNode("gw-2"), "Kubernetes")
	if a.groupKey() != b.groupKey() {
		t.Errorf("two replicas of one gateway have different group keys:\n%s\n%s", a.groupKey(), b.groupKey())
	}
	c := gatewayNode("gw-3")
	c.Metadata.Fields[node.MetaNetwork] = structpb.NewStringValue("net2")
	n, _ := ParseNode(c, "Kubernetes")
	if n.groupKey() == a.groupKey() {
		t.Error("a gateway in another network shares the group key")
	}
	d := gatewayNode("gw-4")
	d.Metadata.Fields[node.MetaIstioVersion] = structpb.NewStringValue("1.31.0")
	n, _ = ParseNode(d, "Kubernetes")
	if n.groupKey() == a.groupKey() {
		t.Error("Istio's proxy shares the group key of an upstream Envoy (flavours differ)")
	}
	e := gatewayNode("gw-5")
	e.Locality = &corev3.Locality{Region: "region1", Zone: "zone1", SubZone: "sub1"}
	n, _ = ParseNode(e, "Kubernetes")
	if n.Locality.Region != "region1" || n.Locality.Zone != "zone1" || n.Locality.Subzone != "sub1" {
		t.Errorf("locality %+v, want the node's region1/zone1/sub1", n.Locality)
	}
	if n.groupKey() == a.groupKey() {
		t.Error("a gateway in another locality shares the group key (locality load balancing differs)")
	}
}

func cluster(name string) types.Resource { return &clusterv3.Cluster{Name: name} }
func listener(name string, port uint32) types.Resource {
	return &listenerv3.Listener{Name: name, Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}
}

func mustBuild(t *testing.T, clusters []types.Resource, listeners ...types.Resource) *build {
	t.Helper()
	var k [numKinds][]types.Resource
	k[kCluster], k[kListener] = clusters, listeners
	b, err := newBuild(k, change{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Versions are content hashes: order-independent, sensitive to content.
func TestBuildVersions(t *testing.T) {
	a := mustBuild(t, []types.Resource{cluster("a"), cluster("b")}, listener("l", 80))
	b := mustBuild(t, []types.Resource{cluster("b"), cluster("a")}, listener("l", 80))
	c := mustBuild(t, []types.Resource{cluster("a"), cluster("b")}, listener("l", 81))
	if !a.sameAs(b) {
		t.Error("same content in another order has other versions")
	}
	if a.kinds[kListener].version == c.kinds[kListener].version || a.kinds[kCluster].version != c.kinds[kCluster].version {
		t.Error("a listener change must change the listener version only")
	}
	var k [numKinds][]types.Resource
	k[kCluster] = []types.Resource{cluster("a"), cluster("a")}
	if _, err := newBuild(k, change{}); err == nil {
		t.Error("duplicate names accepted")
	}
	if a.snap.GetVersion(kindTypeURL[kCluster]) != a.kinds[kCluster].version || len(a.snap.VersionMap[kindTypeURL[kCluster]]) != 2 {
		t.Error("snapshot does not carry the build's versions")
	}
}

// The make-before-break steps hold the union of clusters, with the right
// listeners.
func TestStages(t *testing.T) {
	old := mustBuild(t, []types.Resource{cluster("a"), cluster("b")}, listener("l", 80))
	next := mustBuild(t, []types.Resource{cluster("b"), cluster("c")}, listener("l", 81))
	s1, s2 := stage1(old, next), stage2(old, next)
	for _, s := range []*build{s1, s2} {
		if got := len(s.kinds[kCluster].items); got != 3 {
			t.Errorf("step holds %d clusters, want a, b and c", got)
		}
	}
	if s1.kinds[kListener].version != old.kinds[kListener].version || s2.kinds[kListener].version != next.kinds[kListener].version {
		t.Error("step 1 must keep the old listeners and step 2 carry the new ones")
	}
	if !usersChange(old, next) || usersChange(old, old) || usersChange(nil, next) {
		t.Error("usersChange")
	}
}
