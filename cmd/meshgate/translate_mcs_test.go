package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTranslateClusterSet: `meshgate translate` on a multi-cluster input
// (mesh.yaml) with ServiceExports answers the clusterset host with the
// exporting clusters' endpoints only (case 121's clusters laid out as
// mesh.yaml directories).
func TestTranslateClusterSet(t *testing.T) {
	c := filepath.Join("..", "..", "xds", "translate", "testdata", "cases", "121-mcs-clusterset")
	dir := t.TempDir()
	copyTo := func(sub string, files ...string) {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(c, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, sub, filepath.Base(f)), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyTo("cluster1", "config.yaml", "k8s.yaml", "gateway-svc.yaml")
	copyTo("cluster2", "remote/cluster2/objects.yaml")
	copyTo("cluster3", "remote/cluster3/objects.yaml")
	mesh := "localCluster: cluster1\nclusters:\n- {id: cluster1, network: network1, path: cluster1}\n- {id: cluster2, network: network2, path: cluster2}\n- {id: cluster3, network: network1, path: cluster3}\n"
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(mesh), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "", "translate", "-f", dir, "--network", "network1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Endpoints []struct {
			ClusterName string `json:"clusterName"`
			Endpoints   []struct {
				LbEndpoints []struct {
					Endpoint struct {
						Address struct {
							SocketAddress struct {
								Address string `json:"address"`
							} `json:"socketAddress"`
						} `json:"address"`
					} `json:"endpoint"`
				} `json:"lbEndpoints"`
			} `json:"endpoints"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, cla := range res.Endpoints {
		for _, l := range cla.Endpoints {
			for _, e := range l.LbEndpoints {
				got[cla.ClusterName] = append(got[cla.ClusterName], e.Endpoint.Address.SocketAddress.Address)
			}
		}
		slices.Sort(got[cla.ClusterName])
	}
	for host, want := range map[string][]string{
		"outbound|5000||helloworld.sample.svc.clusterset.local": {"10.246.9.1", "172.18.2.1"},
		"outbound|5000||helloworld.sample.svc.cluster.local":    {"10.244.9.1", "10.246.9.1", "172.18.2.1"},
	} {
		if !slices.Equal(got[host], want) {
			t.Errorf("%s: endpoints %v, want %v", host, got[host], want)
		}
	}
	if strings.Contains(errOut, "error") {
		t.Errorf("stderr: %s", errOut)
	}
}
