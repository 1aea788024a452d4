package file

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
)

// The status meshgate computes for Istio's own conversion test inputs is
// istiod's status golden (testdata/gatewayapi-istio/X.status.yaml.golden,
// copied from Istio), condition by condition (type, status, reason,
// message), with listeners (attachedRoutes, supportedKinds), addresses and
// route parents; status-world.yaml holds the services of Istio's test
// registry the status depends on.
func TestGatewayAPIStatusAgainstIstioGoldens(t *testing.T) {
	dir := "testdata/gatewayapi-istio"
	for _, name := range []string{"grpc", "tcp", "mcs"} {
		t.Run(name, func(t *testing.T) {
			got, err := Load(Config{Paths: []string{filepath.Join(dir, name+".yaml"), filepath.Join(dir, "status-world.yaml")},
				ClusterID: "c1", Network: "n1", DomainSuffix: "domain.suffix"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.ObjErrs) > 0 {
				t.Fatalf("errors: %v", got.ObjErrs)
			}
			golden, err := os.ReadFile(filepath.Join(dir, name+".status.yaml.golden"))
			if err != nil {
				t.Fatal(err)
			}
			want := istioStatus(t, golden)
			if d := cmp.Diff(want, meshgateStatus(got.Mesh.Local().GatewayAPIStatus)); d != "" {
				t.Errorf("status (-istiod +meshgate):\n%s", d)
			}
		})
	}
}

// conditionLines prefixes each condition with the object (and part) it is of.
func conditionLines(prefix string, cs []string) []string {
	var out []string
	for _, c := range cs {
		out = append(out, prefix+" "+c)
	}
	return out
}

func metaConds(cs []metav1.Condition) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s=%s/%s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	slices.Sort(out)
	return out
}

func modelConds(cs []model.Condition) []string {
	var out []string
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s=%s/%s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	slices.Sort(out)
	return out
}

func istioStatus(t *testing.T, golden []byte) []string {
	t.Helper()
	var out []string
	for _, doc := range strings.Split(string(golden), "\n---\n") {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct{ Name, Namespace string }
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		id := head.Kind + " " + head.Metadata.Namespace + "/" + head.Metadata.Name
		switch head.Kind {
		case "GatewayClass":
			var o gwv1.GatewayClass
			if err := yaml.Unmarshal([]byte(strings.ReplaceAll(doc, "lastTransitionTime: fake", "lastTransitionTime: null")), &o); err != nil {
				t.Fatal(err)
			}
			out = append(out, conditionLines(id, metaConds(o.Status.Conditions))...)
		case "Gateway":
			var o gwv1.Gateway
			if err := yaml.Unmarshal([]byte(strings.ReplaceAll(doc, "lastTransitionTime: fake", "lastTransitionTime: null")), &o); err != nil {
				t.Fatal(err)
			}
			out = append(out, conditionLines(id, metaConds(o.Status.Conditions))...)
			for _, a := range o.Status.Addresses {
				out = append(out, fmt.Sprintf("%s address %s %s", id, *a.Type, a.Value))
			}
			for _, l := range o.Status.Listeners {
				var kinds []string
				for _, k := range l.SupportedKinds {
					kinds = append(kinds, string(k.Kind))
				}
				out = append(out, fmt.Sprintf("%s listener %s attachedRoutes %d kinds %v", id, l.Name, l.AttachedRoutes, kinds))
				out = append(out, conditionLines(id+" listener "+string(l.Name), metaConds(l.Conditions))...)
			}
		case "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute":
			var o struct {
				Status gwv1.RouteStatus `json:"status"`
			}
			if err := yaml.Unmarshal([]byte(strings.ReplaceAll(doc, "lastTransitionTime: fake", "lastTransitionTime: null")), &o); err != nil {
				t.Fatal(err)
			}
			for _, p := range o.Status.Parents {
				pid := fmt.Sprintf("%s parent %s %s", id, p.ControllerName, convert.ParentRefString(modelParentRef(p.ParentRef), head.Metadata.Namespace))
				out = append(out, conditionLines(pid, metaConds(p.Conditions))...)
			}
		}
	}
	return out
}

func meshgateStatus(st *model.GatewayAPIStatus) []string {
	var out []string
	if st == nil {
		return nil
	}
	for _, c := range st.Classes {
		out = append(out, conditionLines("GatewayClass /"+c.Name, modelConds(c.Conditions))...)
	}
	for _, g := range st.Gateways {
		id := "Gateway " + g.Namespace + "/" + g.Name
		out = append(out, conditionLines(id, modelConds(g.Conditions))...)
		for _, a := range g.Addresses {
			out = append(out, fmt.Sprintf("%s address %s %s", id, a.Type, a.Value))
		}
		for _, l := range g.Listeners {
			out = append(out, fmt.Sprintf("%s listener %s attachedRoutes %d kinds %v", id, l.Name, l.AttachedRoutes, l.SupportedKinds))
			out = append(out, conditionLines(id+" listener "+l.Name, modelConds(l.Conditions))...)
		}
	}
	for _, r := range st.Routes {
		for _, p := range r.Parents {
			pid := fmt.Sprintf("%s %s/%s parent %s %s", r.Kind, r.Namespace, r.Name, convert.IstioGatewayController, convert.ParentRefString(p.ParentRef, r.Namespace))
			out = append(out, conditionLines(pid, modelConds(p.Conditions))...)
		}
	}
	return out
}

func modelParentRef(r gwv1.ParentReference) model.ParentRef {
	out := model.ParentRef{Name: string(r.Name), Port: r.Port}
	if r.Group != nil {
		s := string(*r.Group)
		out.Group = &s
	}
	if r.Kind != nil {
		s := string(*r.Kind)
		out.Kind = &s
	}
	if r.Namespace != nil {
		s := string(*r.Namespace)
		out.Namespace = &s
	}
	if r.SectionName != nil {
		s := string(*r.SectionName)
		out.SectionName = &s
	}
	return out
}
