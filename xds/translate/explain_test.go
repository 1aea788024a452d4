package translate

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
)

func loadExample(t *testing.T, name, cluster, network string) *model.MeshState {
	t.Helper()
	mesh, objErrs, err := file.LoadMesh(file.Config{Paths: []string{filepath.Join("..", "..", "deploy", "examples", name)}, ClusterID: cluster, Network: network})
	if err != nil || len(objErrs) > 0 {
		t.Fatalf("load %s: %v %v", name, err, objErrs)
	}
	return mesh
}

func explain(t *testing.T, mesh *model.MeshState, p Proxy, q Query) *Explanation {
	t.Helper()
	x, err := Explain(mesh, p, DefaultOptions(), q)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	return x
}

// has reports whether x names an origin of kind/object read from source.
func has(x *Explanation, kind, object, source string) bool {
	for _, o := range x.Because {
		if o.Kind == kind && o.Object == object && o.Source == source {
			return true
		}
	}
	return false
}

func missingHas(x *Explanation, sub string) bool {
	for _, m := range x.Missing {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

func TestExplainQuickstart(t *testing.T) {
	mesh := loadExample(t, "quickstart", "", "")
	ingress := Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}

	x := explain(t, mesh, ingress, Query{Host: "httpbin.example.com"})
	if !x.Present || !has(x, "Gateway", "istio-system/quickstart-gateway", "gateway.yaml") || !has(x, "VirtualService", "default/httpbin", "gateway.yaml") {
		t.Errorf("host httpbin.example.com:\n%s", x.Text())
	}
	// A proxy no Gateway selects.
	x = explain(t, mesh, Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"app": "nothing"}}, Query{Host: "httpbin.example.com"})
	if x.Present || !missingHas(x, "no Gateway selects the proxy (labels app=nothing)") || !missingHas(x, "istio-system/quickstart-gateway selects istio=ingressgateway") {
		t.Errorf("unselected proxy:\n%s", x.Text())
	}
	// The L4 gateway: no server admits an HTTP host it does not list.
	x = explain(t, mesh, Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"app": "l4-gateway"}}, Query{Host: "httpbin.example.com"})
	if x.Present || !missingHas(x, "no server of the Gateways that select the proxy admits host httpbin.example.com") {
		t.Errorf("host on the L4 gateway:\n%s", x.Text())
	}

	x = explain(t, mesh, ingress, Query{Cluster: "outbound|8000|v1|httpbin.default.svc.cluster.local"})
	if !x.Present || !has(x, "Service", "default/httpbin", "services.yaml") || !has(x, "DestinationRule", "default/httpbin", "gateway.yaml") || len(x.Missing) != 0 {
		t.Errorf("cluster v1:\n%s", x.Text())
	}
	x = explain(t, mesh, ingress, Query{Cluster: "outbound|8000|v9|httpbin.default.svc.cluster.local"})
	if x.Present || !missingHas(x, "subset v9 is not defined") {
		t.Errorf("cluster v9:\n%s", x.Text())
	}
	x = explain(t, mesh, ingress, Query{Cluster: "outbound|80||nope.default.svc.cluster.local"})
	if x.Present || !missingHas(x, "no Service or ServiceEntry has host nope.default.svc.cluster.local") {
		t.Errorf("unknown host:\n%s", x.Text())
	}
	x = explain(t, mesh, ingress, Query{Cluster: "outbound|9999||httpbin.default.svc.cluster.local"})
	if x.Present || !missingHas(x, "has no port 9999 (ports 8000)") {
		t.Errorf("unknown port:\n%s", x.Text())
	}
	x = explain(t, mesh, ingress, Query{Endpoint: "127.0.0.2:18000"})
	if !x.Present || !has(x, "Service", "default/httpbin", "services.yaml") {
		t.Errorf("endpoint:\n%s", x.Text())
	}
	x = explain(t, mesh, ingress, Query{Endpoint: "10.9.9.9:80"})
	if x.Present || !missingHas(x, "no Service endpoint and no east-west gateway of the mesh has address 10.9.9.9") {
		t.Errorf("unknown endpoint:\n%s", x.Text())
	}
	for _, bad := range []Query{{}, {Host: "a", SNI: "b"}, {Cluster: "not|a"}, {Endpoint: "nope"}, {SNI: "x"}} {
		if _, err := Explain(mesh, ingress, DefaultOptions(), bad); err == nil {
			t.Errorf("Explain(%+v): no error", bad)
		}
	}
}

// Multi-network: cluster1's ingress reaches cluster2's reviews v2 through
// network2's east-west gateway, and an endpoint of network2 itself is not
// given to it (split horizon).
func TestExplainMultiNetwork(t *testing.T) {
	mesh := loadExample(t, "multicluster", "", "")
	ingress := Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}, Network: "network1", ClusterID: "cluster1"}
	x := explain(t, mesh, ingress, Query{Endpoint: "198.51.100.2:15443"})
	if !x.Present || !has(x, "NetworkGateway", "198.51.100.2:15443", "") || !strings.Contains(x.Text(), "east-west gateway of network network2") {
		t.Errorf("east-west gateway endpoint:\n%s", x.Text())
	}
	// Unreachable from the daemon: still held by reviews v2 (nothing else
	// runs it), and the explanation says why.
	down := *mesh
	down.Unreachable = []model.NetworkGateway{mesh.Cluster("cluster2").NetworkGateways[0]}
	x = explain(t, &down, ingress, Query{Endpoint: "198.51.100.2:15443"})
	if !x.Present || !strings.Contains(x.Text(), "does not answer the daemon's probes") || !strings.Contains(x.Text(), "outbound|9080|v2|reviews") {
		t.Errorf("an unreachable east-west gateway kept by fail-static:\n%s", x.Text())
	}
	var remote string
	for _, s := range mesh.Cluster("cluster2").Services {
		if s.Name == "reviews" {
			remote = s.Endpoints[0].Address
		}
	}
	if remote == "" {
		t.Fatal("no reviews endpoint in cluster2")
	}
	x = explain(t, mesh, ingress, Query{Endpoint: remote + ":9080"})
	if x.Present || !missingHas(x, "is in network network2: this proxy (network network1) reaches it through 198.51.100.2:15443") {
		t.Errorf("remote pod endpoint:\n%s", x.Text())
	}
	ew := Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "eastwestgateway"}, Network: "network1", ClusterID: "cluster1"}
	x = explain(t, mesh, ew, Query{SNI: "outbound_.9080_.v2_.reviews.default.svc.cluster.local"})
	if !x.Present || !has(x, "Gateway", "istio-system/cross-network-gateway", "cluster1/eastwest.yaml") {
		t.Errorf("SNI on the east-west gateway:\n%s", x.Text())
	}
	x = explain(t, mesh, ingress, Query{SNI: "outbound_.9080_.v2_.reviews.default.svc.cluster.local"})
	if x.Present || !missingHas(x, "no Gateway that selects the proxy has an AUTO_PASSTHROUGH server") {
		t.Errorf("SNI on the ingress gateway:\n%s", x.Text())
	}
}

// A VirtualService hidden from the gateway's namespace by exportTo, and a
// host no VirtualService has.
func TestExplainUnroutedHost(t *testing.T) {
	mesh := loadExample(t, "quickstart", "", "")
	local := mesh.Local()
	var kept []model.VirtualService
	for _, vs := range local.VirtualServices {
		switch vs.Name {
		case "echo": // the catch-all: without it, hosts need their own VirtualService
		case "httpbin":
			vs.ExportTo = []string{"."}
			kept = append(kept, vs)
		default:
			kept = append(kept, vs)
		}
	}
	local.VirtualServices = kept
	ingress := Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	x := explain(t, mesh, ingress, Query{Host: "httpbin.example.com"})
	if x.Present || !missingHas(x, "default/httpbin not exported to namespace istio-system (exportTo .)") {
		t.Errorf("hidden VirtualService:\n%s", x.Text())
	}
	x = explain(t, mesh, ingress, Query{Host: "other.example.com"})
	if x.Present {
		t.Errorf("other.example.com is routed:\n%s", x.Text())
	}
}

// A Service hidden from the gateway's namespace by its exportTo annotation,
// and by the mesh default.
func TestExplainHiddenService(t *testing.T) {
	mesh := loadExample(t, "quickstart", "", "")
	local := mesh.Local()
	for i := range local.Services {
		if s := &local.Services[i]; s.Name == "httpbin" {
			s.Annotations = map[string]string{AnnotationExportTo: "default"}
		}
	}
	ingress := Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	q := Query{Cluster: "outbound|8000||httpbin.default.svc.cluster.local"}
	x := explain(t, mesh, ingress, q)
	if x.Present || !missingHas(x, "Service default/httpbin (host httpbin.default.svc.cluster.local) is not exported to namespace istio-system (annotation networking.istio.io/exportTo default)") {
		t.Errorf("hidden Service:\n%s", x.Text())
	}
	opts := DefaultOptions()
	opts.DefaultServiceExportTo = []string{"."}
	x, err := Explain(mesh, ingress, opts, Query{Cluster: "outbound|8000||echo.default.svc.cluster.local"})
	if err != nil {
		t.Fatal(err)
	}
	if x.Present || !missingHas(x, "Service default/echo (host echo.default.svc.cluster.local) is not exported to namespace istio-system (mesh default exportTo .)") {
		t.Errorf("Service hidden by the mesh default:\n%s", x.Text())
	}
}

// With a federation history: a remote origin carries how it was learned
// (only at the generation explained), the gateway standing for its network
// is named, and what a withdrawn cluster had is named with when and why.
func TestExplainWithHistory(t *testing.T) {
	mesh := loadExample(t, "multicluster", "", "")
	c2 := mesh.Cluster("cluster2")
	c2.Generation = 42
	ingress := Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}, Network: "network1", ClusterID: "cluster1"}
	learned := model.ClusterProvenance{Cluster: "cluster2", Network: "network2", Generation: 42, Owner: "cluster2-a", Peer: "cluster3-b", PeerCluster: "cluster3",
		ReceivedAt: time.Unix(1700000000, 0), Status: model.ProvenanceServing, State: c2}
	const v2 = "outbound|9080|v2|reviews.default.svc.cluster.local"
	x, err := ExplainWithHistory(mesh, ingress, DefaultOptions(), Query{Cluster: v2}, []model.ClusterProvenance{learned})
	if err != nil {
		t.Fatal(err)
	}
	var svc *Origin
	for i, o := range x.Because {
		if o.Kind == "Service" && o.Cluster == "cluster2" {
			svc = &x.Because[i]
		}
	}
	if !x.Present || svc == nil || svc.Learned == nil || svc.Learned.Peer != "cluster3-b" ||
		!has(x, "NetworkGateway", "198.51.100.2:15443", "") || !strings.Contains(x.Text(), "learned over gossip from cluster3-b (a daemon of cluster3, relaying), published by cluster2-a") {
		t.Fatalf("learned at generation 42:\n%s", x.Text())
	}
	// Another generation (the cluster watched through its API server):
	// no federation provenance is claimed for it.
	learned.Generation = 41
	x, _ = ExplainWithHistory(mesh, ingress, DefaultOptions(), Query{Cluster: v2}, []model.ClusterProvenance{learned})
	for _, o := range x.Because {
		if o.Learned != nil {
			t.Fatalf("provenance of generation 41 given to generation %d: %+v", o.Generation, o)
		}
	}

	// cluster2 withdrawn: out of the mesh, its state held in the history.
	gone := *mesh
	gone.Clusters = []*model.ClusterState{mesh.Cluster("cluster1")}
	withdrawn := learned
	withdrawn.Status, withdrawn.Since, withdrawn.Reason = model.ProvenanceWithdrawn, time.Unix(1700000300, 0).UTC(), "its last daemon cluster2-a went down"
	x, _ = ExplainWithHistory(&gone, ingress, DefaultOptions(), Query{Endpoint: "198.51.100.2:15443"}, []model.ClusterProvenance{withdrawn})
	if x.Present || !missingHas(x, "cluster cluster2 (network network2) had east-west gateway 198.51.100.2:15443") ||
		!missingHas(x, "withdrawn since 2023-11-14T22:18:20.000Z: its last daemon cluster2-a went down") || len(x.Unavailable) != 1 {
		t.Fatalf("withdrawn cluster2's gateway:\n%s", x.Text())
	}
	// cluster2 served at 41 while its newer record was refused (fenced): a
	// missing endpoint names that record.
	fenced := learned
	fenced.Rejected = &model.RecordRejection{Reason: "fenced", At: time.Unix(1700000400, 0), Generation: 43, From: "cluster3-b",
		Error: "published under the lease of pod-a at 1 transitions, deposed by pod-b at 2"}
	x, _ = ExplainWithHistory(mesh, ingress, DefaultOptions(), Query{Endpoint: "10.2.0.99:9080"}, []model.ClusterProvenance{fenced})
	if x.Present || !missingHas(x, "a newer record of cluster cluster2 (generation 43, from cluster3-b at 2023-11-14T22:20:00.000Z) was refused (fenced: published under the lease of pod-a") ||
		!missingHas(x, "this daemon serves generation 41") {
		t.Fatalf("fenced newer record:\n%s", x.Text())
	}
	// Offline (no history) nothing of the kind is said.
	x = explain(t, &gone, ingress, Query{Endpoint: "198.51.100.2:15443"})
	if missingHas(x, "withdrawn") || len(x.Unavailable) != 0 {
		t.Fatalf("no history:\n%s", x.Text())
	}
}
