package translate

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/xds/node"
)

// FuzzTranslateYAML feeds arbitrary YAML through the file source and the
// translator: no input may panic, and whatever is emitted must be valid.
func FuzzTranslateYAML(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(casesDir, "*", "*.yaml"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {servers: [{port: {number: 80}}]}\n"))
	proxies := []Proxy{
		{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}},
		{Type: node.TypeRouter, Namespace: "istio-system", Labels: map[string]string{"istio": "eastwestgateway"}, Network: "network1"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "in.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mesh, _, err := file.LoadMesh(file.Config{Paths: []string{path}})
		if err != nil {
			return
		}
		for _, p := range proxies {
			p.ClusterID = mesh.LocalCluster
			res, err := Translate(mesh, p, DefaultOptions())
			if err != nil {
				t.Fatalf("system error on object input: %v", err)
			}
			for _, l := range res.Listeners {
				if err := l.ValidateAll(); err != nil {
					t.Fatalf("invalid listener emitted: %v", err)
				}
			}
			if _, err := NewDocument(res); err != nil {
				t.Fatalf("document: %v", err)
			}
		}
	})
}
