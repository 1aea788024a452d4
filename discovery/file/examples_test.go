package file

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

// The istio-oracle examples (copied from shared/tools/istio-oracle/examples)
// are the inputs the reference tool was run on.
func TestOracleExamples(t *testing.T) {
	for _, dir := range []string{"eastwest", "ingress-http", "ingress-https"} {
		t.Run(dir, func(t *testing.T) {
			res, err := Load(Config{Paths: []string{filepath.Join("testdata/oracle", dir)}, ClusterID: "cluster1", Network: "network1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.ObjErrs) > 0 {
				t.Fatalf("errors: %v", res.ObjErrs)
			}
			// proxies.yaml is the oracle's own list, not a Kubernetes object
			if len(res.Ignored) != 1 || filepath.Base(res.Ignored[0].File) != "proxies.yaml" {
				t.Errorf("ignored = %v", res.Ignored)
			}
			if res.Mesh.LocalCluster != "cluster1" || len(res.Mesh.Clusters) != 1 {
				t.Fatalf("mesh = %+v", res.Mesh)
			}
			c := res.Mesh.Local()
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			switch dir {
			case "eastwest":
				r := c.Service("reviews.default.svc.cluster.local")
				if r == nil || len(r.Endpoints) != 2 {
					t.Fatalf("reviews = %+v", r)
				}
				for i, v := range []string{"v1", "v2"} {
					e := r.Endpoints[i]
					if e.Labels["version"] != v || e.TLSMode != "istio" || e.ServiceAccount != "bookinfo-reviews" || !e.Ready || e.Network != "network1" {
						t.Errorf("reviews endpoint %d = %+v", i, e)
					}
				}
				// ratings has only v1 Endpoints: converted, joined by targetRef
				ra := c.Service("ratings.default.svc.cluster.local")
				if ra == nil || len(ra.Endpoints) != 1 || ra.Endpoints[0].PodName != "ratings-v1-c" || ra.Endpoints[0].Ports[0] != (model.EndpointPort{Name: "http", Port: 9080}) {
					t.Errorf("ratings = %+v", ra)
				}
				if len(c.Gateways) != 1 || c.Gateways[0].Servers[0].TLS.Mode != model.TLSAutoPassthrough || len(c.DestinationRules[0].Subsets) != 2 {
					t.Errorf("istio config = %+v %+v", c.Gateways, c.DestinationRules)
				}
				// the east-west gateway Service has no load-balancer address: no network gateway
				if len(c.NetworkGateways) != 0 {
					t.Errorf("network gateways = %+v", c.NetworkGateways)
				}
			case "ingress-http", "ingress-https":
				h := c.Service("httpbin.default.svc.cluster.local")
				if h == nil || h.Ports[0].TargetPort != 8080 || len(h.Endpoints) != 1 || h.Endpoints[0].Ports[0].Port != 8080 || h.Endpoints[0].TLSMode != "istio" {
					t.Errorf("httpbin = %+v", h)
				}
				ig := c.Service("istio-ingressgateway.istio-system.svc.cluster.local")
				if ig == nil || ig.Type != "LoadBalancer" || len(ig.Endpoints) != 1 || ig.Endpoints[0].PodName != "istio-ingressgateway-xyz" {
					t.Errorf("ingress gateway = %+v", ig)
				}
				if dir == "ingress-https" {
					s := c.Secret("istio-system", "httpbin-credential")
					if s == nil || string(s.Data["tls.crt"]) != "foo" || string(s.Data["tls.key"]) != "bar" {
						t.Errorf("secret = %v", s)
					}
					if len(c.Gateways[0].Servers) != 2 || !c.Gateways[0].Servers[0].TLS.HTTPSRedirect || c.DestinationRules[0].TrafficPolicy.TLS.Mode != model.ClientTLSIstioMutual {
						t.Errorf("istio config = %+v %+v", c.Gateways, c.DestinationRules)
					}
				}
			}
		})
	}
}

func TestMultiClusterExample(t *testing.T) {
	for _, p := range []string{"testdata/multicluster", "testdata/multicluster/mesh.yaml"} {
		res, err := Load(Config{Paths: []string{p}, ClusterID: "ignored", Network: "ignored"})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(res.ObjErrs) > 0 || len(res.Ignored) > 0 {
			t.Fatalf("%s: errors %v, ignored %v", p, res.ObjErrs, res.Ignored)
		}
		m := res.Mesh
		if m.MeshID != "mesh1" || m.LocalCluster != "cluster1" || len(m.Clusters) != 2 {
			t.Fatalf("mesh = %+v", m)
		}
		for i, want := range []struct {
			id, network, gwIP, endpoint, version string
		}{{"cluster1", "network1", "192.0.2.10", "10.1.1.1", "v1"}, {"cluster2", "network2", "198.51.100.20", "10.2.1.1", "v2"}} {
			c := m.Clusters[i]
			if c.ID != want.id || c.Network != want.network {
				t.Errorf("cluster %d = %s/%s", i, c.ID, c.Network)
			}
			gws := []model.NetworkGateway{{Network: want.network, Cluster: want.id, Address: want.gwIP, Port: 15443}}
			if !reflect.DeepEqual(c.NetworkGateways, gws) {
				t.Errorf("%s network gateways = %+v, want %+v", c.ID, c.NetworkGateways, gws)
			}
			r := c.Service("reviews.default.svc.cluster.local")
			if r == nil || len(r.Endpoints) != 1 {
				t.Fatalf("%s reviews = %+v", c.ID, r)
			}
			e := r.Endpoints[0]
			wantLoc := model.Locality{Region: "region" + want.id[len(want.id)-1:], Zone: "zone-" + want.id[len(want.id)-1:]}
			if e.Address != want.endpoint || e.Labels["version"] != want.version || e.Network != want.network || e.Locality != wantLoc {
				t.Errorf("%s endpoint = %+v", c.ID, e)
			}
			if r.Source != want.id+"/reviews.yaml" {
				t.Errorf("source = %q", r.Source)
			}
			// the east-west gateway pod's network comes from its namespace label
			ew := c.Service("istio-eastwestgateway.istio-system.svc.cluster.local")
			if ew == nil || ew.Endpoints[0].Network != want.network {
				t.Errorf("%s east-west gateway = %+v", c.ID, ew)
			}
		}
		if len(m.Local().DestinationRules) != 1 || len(m.Cluster("cluster2").DestinationRules) != 0 {
			t.Errorf("destination rules in the wrong cluster")
		}
	}
}

func TestMeshFileErrors(t *testing.T) {
	tests := []struct {
		name, mesh string
		dirs       []string
		want       []string // substrings of the error
	}{
		{"unknown field", "clusters:\n- {id: c1, path: c1, netwrok: n1}\n", []string{"c1"}, []string{`clusters[0].netwrok: unknown field`}},
		{"unknown top-level field", "meshId: m\nclusters:\n- {id: c1, path: c1}\n", []string{"c1"}, []string{`meshId: unknown field`}},
		{"duplicate ids", "clusters:\n- {id: c1, path: a}\n- {id: c1, path: b}\n", []string{"a", "b"}, []string{`clusters[1].id: duplicate cluster id "c1"`}},
		{"missing path", "clusters:\n- {id: c1, path: nowhere}\n", nil, []string{`clusters[0].path:`, "nowhere"}},
		{"no path", "clusters:\n- {id: c1}\n", nil, []string{`clusters[0].path: a path is required`}},
		{"no id", "clusters:\n- {path: a}\n", []string{"a"}, []string{`clusters[0].id: a cluster id is required`}},
		{"no clusters", "meshID: m\n", nil, []string{"clusters: at least one cluster is required"}},
		{"bad local cluster", "localCluster: c9\nclusters:\n- {id: c1, path: a}\n", []string{"a"}, []string{`localCluster: "c9" is not the id of a cluster`}},
		{"not YAML", "clusters: [\n", nil, []string{"mesh.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range tt.dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, MeshFileName), []byte(tt.mesh), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(Config{Paths: []string{dir}})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tt.want, "multi-cluster layout") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestMeshDefaultsAndSingleCluster(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a", "svc.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n")
	writeFile(t, filepath.Join(dir, "b", "svc.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: 80}]}\n")
	writeFile(t, filepath.Join(dir, MeshFileName), "clusters:\n- {id: west, path: b}\n- {id: east, path: a}\n")
	res, err := Load(Config{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	// localCluster defaults to the first listed; clusters are sorted by id
	if res.Mesh.LocalCluster != "west" || res.Mesh.Clusters[0].ID != "east" || res.Mesh.Local().Services[0].Name != "b" {
		t.Errorf("mesh = %+v", res.Mesh)
	}
	// a single-cluster input: Istio's default cluster id
	res, err = Load(Config{Paths: []string{filepath.Join(dir, "a"), filepath.Join(dir, "b", "svc.yaml")}, MeshID: "m", Network: "n"})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Mesh.Local()
	if res.Mesh.LocalCluster != model.DefaultClusterID || res.Mesh.MeshID != "m" || c.ID != model.DefaultClusterID || c.Network != "n" || len(c.Services) != 2 {
		t.Errorf("mesh = %+v, cluster = %+v", res.Mesh, c)
	}
	// a multi-cluster directory cannot be combined with other paths
	if _, err := Load(Config{Paths: []string{dir, filepath.Join(dir, "a")}}); err == nil || !strings.Contains(err.Error(), "must be the only path") {
		t.Errorf("err = %v", err)
	}
	if _, err := Load(Config{Paths: []string{filepath.Join(dir, "missing")}}); err == nil {
		t.Error("a missing path must fail the load")
	}
	if _, err := Load(Config{}); err == nil {
		t.Error("no paths must fail the load")
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
