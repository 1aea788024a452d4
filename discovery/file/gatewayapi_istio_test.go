package file

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshgate/meshgate/discovery/model"
)

// Istio's own conversion goldens (testdata/gatewayapi-istio/README.md):
// meshgate's Gateways and VirtualServices for the input are the golden's
// (compared in the model, the golden's objects read by the same file
// source; istiod's internal annotations and the selector meshgate adds are
// left out).
func TestGatewayAPIAgainstIstioGoldens(t *testing.T) {
	dir := "testdata/gatewayapi-istio"
	for _, name := range []string{"grpc", "tcp"} {
		t.Run(name, func(t *testing.T) {
			got, err := Load(Config{Paths: []string{filepath.Join(dir, name+".yaml"), filepath.Join(dir, "gateway-svc.yaml")},
				ClusterID: "c1", Network: "n1", DomainSuffix: "domain.suffix"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.ObjErrs) > 0 {
				t.Fatalf("errors: %v", got.ObjErrs)
			}
			golden, err := os.ReadFile(filepath.Join(dir, name+".yaml.golden"))
			if err != nil {
				t.Fatal(err)
			}
			gdir := t.TempDir()
			// istiod's internal names hold "~", which validation refuses in
			// user objects: "-" on both sides
			golden = bytes.ReplaceAll(golden, []byte("~"), []byte("-"))
			if err := os.WriteFile(filepath.Join(gdir, "golden.yaml"), golden, 0o644); err != nil {
				t.Fatal(err)
			}
			want, err := Load(Config{Paths: []string{gdir}, ClusterID: "c1", Network: "n1", DomainSuffix: "domain.suffix"})
			if err != nil {
				t.Fatal(err)
			}
			if len(want.ObjErrs) > 0 {
				t.Fatalf("golden errors: %v", want.ObjErrs)
			}
			g, w := got.Mesh.Local(), want.Mesh.Local()
			if d := cmp.Diff(comparableGateways(w.Gateways), comparableGateways(g.Gateways)); d != "" {
				t.Errorf("gateways (-istiod +meshgate):\n%s", d)
			}
			for i := range w.VirtualServices {
				w.VirtualServices[i].RouteSemantics = model.RouteSemanticsGateway
			}
			if d := cmp.Diff(comparableVSs(w.VirtualServices), comparableVSs(g.VirtualServices)); d != "" {
				t.Errorf("virtual services (-istiod +meshgate):\n%s", d)
			}
		})
	}
}

func comparableGateways(in []model.Gateway) []model.Gateway {
	out := slices.Clone(in)
	for i := range out {
		out[i].Meta = model.Meta{Name: tilde(out[i].Name), Namespace: out[i].Namespace}
		out[i].Selector = nil
	}
	slices.SortFunc(out, func(a, b model.Gateway) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func comparableVSs(in []model.VirtualService) []model.VirtualService {
	out := slices.Clone(in)
	for i := range out {
		out[i].Meta = model.Meta{Name: tilde(out[i].Name), Namespace: out[i].Namespace}
		out[i].Gateways = slices.Clone(out[i].Gateways)
		for j, g := range out[i].Gateways {
			out[i].Gateways[j] = tilde(g)
		}
	}
	slices.SortFunc(out, func(a, b model.VirtualService) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func tilde(s string) string { return strings.ReplaceAll(s, "~", "-") }
