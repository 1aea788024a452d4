package lastgood

import (
	"errors"
	"strings"
	"testing"
	"time"

	networkingapi "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
)

func vs(name string, hosts ...string) *networkingv1.VirtualService {
	return &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: networkingapi.VirtualService{Hosts: hosts, Gateways: []string{"gw"}, Http: []*networkingapi.HTTPRoute{{
			Route: []*networkingapi.HTTPRouteDestination{{Destination: &networkingapi.Destination{Host: "echo"}}},
		}}}}
}

func svc(name string, port int32) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: port}}}}
}

// origins maps "Kind name" to a file, as a file source would.
func origins(files map[string]string) func(model.Ref) (string, int) {
	return func(r model.Ref) (string, int) { return files[string(r.Kind)+" "+r.Name], 1 }
}

func vsHosts(cs *model.ClusterState) map[string]string {
	out := map[string]string{}
	for _, v := range cs.VirtualServices {
		out[v.Name] = strings.Join(v.Hosts, ",")
	}
	return out
}

func rejections(t *testing.T, errs []error) []*discovery.Rejection {
	t.Helper()
	var out []*discovery.Rejection
	for _, e := range errs {
		var r *discovery.Rejection
		if !errors.As(e, &r) {
			t.Fatalf("not a Rejection: %T %v", e, e)
		}
		out = append(out, r)
	}
	return out
}

var opts = convert.Options{ClusterID: "c1"}

func TestInvalidNewVersionKeepsTheLastGood(t *testing.T) {
	k := New("c1")
	t0 := time.Unix(1000, 0)
	in := Input{Objects: convert.Inputs{VirtualServices: []*networkingv1.VirtualService{vs("a", "a.example.com"), vs("b", "b.example.com")}},
		DefaultOrigin: "kube:c1"}
	cs, errs := k.Cluster(in, opts, t0)
	if len(errs) != 0 || len(cs.VirtualServices) != 2 {
		t.Fatalf("first state: %v, %v", vsHosts(cs), errs)
	}

	// a's new version is invalid: its last good version stays.
	in.Objects.VirtualServices[0] = vs("a", "bookinfo.*")
	cs, errs = k.Cluster(in, opts, t0.Add(time.Second))
	if got := vsHosts(cs); got["a"] != "a.example.com" || got["b"] != "b.example.com" {
		t.Errorf("broken a: served %v, want the last good a and b", got)
	}
	rs := rejections(t, errs)
	if len(rs) != 1 || !rs[0].Kept || rs[0].Object != (model.Ref{Kind: model.KindVirtualService, Namespace: "default", Name: "a"}) ||
		rs[0].Reason != discovery.ReasonInvalid || rs[0].Origin != "kube:c1" || rs[0].Cluster != "c1" || !strings.HasPrefix(rs[0].Field, "spec.hosts") {
		t.Fatalf("rejections: %+v", rs)
	}
	if !rs[0].Since.Equal(t0.Add(time.Second)) || !strings.Contains(rs[0].Error(), "serving the last good version of VirtualService default/a") {
		t.Errorf("rejection: since %v, %q", rs[0].Since, rs[0].Error())
	}

	// Still broken later (b edited meanwhile): same since, b's edit served.
	in.Objects.VirtualServices[1] = vs("b", "b2.example.com")
	cs, errs = k.Cluster(in, opts, t0.Add(time.Minute))
	if got := vsHosts(cs); got["a"] != "a.example.com" || got["b"] != "b2.example.com" {
		t.Errorf("still broken: served %v", got)
	}
	if rs := rejections(t, errs); len(rs) != 1 || !rs[0].Since.Equal(t0.Add(time.Second)) {
		t.Errorf("still broken: %+v", rs)
	}

	// Fixed: the new version is served, nothing is reported.
	in.Objects.VirtualServices[0] = vs("a", "a3.example.com")
	cs, errs = k.Cluster(in, opts, t0.Add(2*time.Minute))
	if got := vsHosts(cs); got["a"] != "a3.example.com" || len(errs) != 0 {
		t.Errorf("fixed: served %v, errs %v", got, errs)
	}

	// Deleted (no problem reported): gone.
	in.Objects.VirtualServices = in.Objects.VirtualServices[1:]
	cs, errs = k.Cluster(in, opts, t0.Add(3*time.Minute))
	if got := vsHosts(cs); len(got) != 1 || len(errs) != 0 {
		t.Errorf("deleted a: served %v, errs %v", got, errs)
	}
}

func TestBrokenFromTheStartIsNotServed(t *testing.T) {
	k := New("c1")
	in := Input{Objects: convert.Inputs{VirtualServices: []*networkingv1.VirtualService{vs("a", "bookinfo.*"), vs("b", "b.example.com")}}}
	cs, errs := k.Cluster(in, opts, time.Unix(1, 0))
	if got := vsHosts(cs); len(got) != 1 || got["b"] == "" {
		t.Errorf("served %v, want b only", got)
	}
	if rs := rejections(t, errs); len(rs) != 1 || rs[0].Kept || rs[0].Object.Name != "a" {
		t.Errorf("rejections %+v", rs)
	}
}

func TestDecodeProblemKeepsTheObject(t *testing.T) {
	k := New("c1")
	files := map[string]string{"Service a": "a.yaml", "Service b": "b.yaml"}
	in := Input{Objects: convert.Inputs{Services: []*corev1.Service{svc("a", 80), svc("b", 80)}}, Origin: origins(files)}
	if _, errs := k.Cluster(in, opts, time.Unix(1, 0)); len(errs) != 0 {
		t.Fatal(errs)
	}
	// a.yaml: a's new version has an unknown field (the source could not
	// decode it, so a is not among the objects).
	ref := model.Ref{Kind: model.KindService, Namespace: "default", Name: "a"}
	in.Objects.Services = []*corev1.Service{svc("b", 80)}
	in.Problems = []*discovery.Rejection{{Object: ref, Origin: "a.yaml", Document: 1, Field: "spec.selectorr", Reason: discovery.ReasonSchema,
		Err: model.Errorf(ref, "spec.selectorr", "unknown field")}}
	cs, errs := k.Cluster(in, opts, time.Unix(2, 0))
	if cs.Service("a.default.svc.cluster.local") == nil {
		t.Error("a's last good version is not served")
	}
	if rs := rejections(t, errs); len(rs) != 1 || !rs[0].Kept || rs[0].Object != ref || rs[0].Field != "spec.selectorr" {
		t.Errorf("rejections %+v", rs)
	}
}

func TestBrokenDocumentKeepsItsFilesObjects(t *testing.T) {
	k := New("c1")
	files := map[string]string{"Service a1": "a.yaml", "Service a2": "a.yaml", "Service b": "b.yaml", "Service c": "a.yaml"}
	in := Input{Objects: convert.Inputs{Services: []*corev1.Service{svc("a1", 80), svc("a2", 80), svc("b", 80)}}, Origin: origins(files)}
	if _, errs := k.Cluster(in, opts, time.Unix(1, 0)); len(errs) != 0 {
		t.Fatal(errs)
	}
	// a.yaml no longer parses (a1 and a2 are gone from the input, a new c
	// came in a good document of it), b.yaml was deleted.
	in.Objects.Services = []*corev1.Service{svc("c", 80)}
	in.Problems = []*discovery.Rejection{{Origin: "a.yaml", Document: 2, Reason: discovery.ReasonSyntax, Err: errors.New("a.yaml: document 2 (line 9): yaml: did not find expected ',' or ']'")}}
	cs, errs := k.Cluster(in, opts, time.Unix(2, 0))
	for _, name := range []string{"a1", "a2", "c"} {
		if cs.Service(name+".default.svc.cluster.local") == nil {
			t.Errorf("%s not served", name)
		}
	}
	if cs.Service("b.default.svc.cluster.local") != nil {
		t.Error("b (its file deleted) still served")
	}
	rs := rejections(t, errs)
	if len(rs) != 2 || rs[0].Object.Name != "a1" || rs[1].Object.Name != "a2" || !rs[0].Kept || rs[0].Reason != discovery.ReasonSyntax || rs[0].Document != 2 {
		t.Errorf("rejections %+v", rs)
	}
	// Still broken: still kept (they are remembered as kept, not dropped).
	if cs, _ := k.Cluster(in, opts, time.Unix(3, 0)); cs.Service("a1.default.svc.cluster.local") == nil {
		t.Error("a1 dropped on the second broken load")
	}
	// A new file that does not parse: reported, nothing kept.
	in.Problems = []*discovery.Rejection{{Origin: "new.yaml", Document: 1, Reason: discovery.ReasonSyntax, Err: errors.New("new.yaml: yaml")}}
	in.Objects.Services = []*corev1.Service{svc("a1", 80), svc("a2", 80), svc("c", 80)}
	_, errs = k.Cluster(in, opts, time.Unix(4, 0))
	if rs := rejections(t, errs); len(rs) != 1 || rs[0].Kept || rs[0].Object.Kind != "" || rs[0].Origin != "new.yaml" {
		t.Errorf("rejections %+v", rs)
	}
}

func TestUnknownKindKeepsTheObjectOfThatName(t *testing.T) {
	k := New("c1")
	files := map[string]string{"VirtualService a": "vs.yaml", "VirtualService b": "vs.yaml"}
	in := Input{Objects: convert.Inputs{VirtualServices: []*networkingv1.VirtualService{vs("a", "a.example.com"), vs("b", "b.example.com")}}, Origin: origins(files)}
	if _, errs := k.Cluster(in, opts, time.Unix(1, 0)); len(errs) != 0 {
		t.Fatal(errs)
	}
	// a's kind misspelled; b deleted from the same file.
	in.Objects.VirtualServices = nil
	in.Problems = []*discovery.Rejection{{Object: model.Ref{Namespace: "default", Name: "a"}, Origin: "vs.yaml", Document: 1,
		Field: "kind", Reason: discovery.ReasonUnknownKind, Err: errors.New(`no matches for kind "virtualservice"`)}}
	cs, errs := k.Cluster(in, opts, time.Unix(2, 0))
	if got := vsHosts(cs); len(got) != 1 || got["a"] != "a.example.com" {
		t.Errorf("served %v, want a only", got)
	}
	if rs := rejections(t, errs); len(rs) != 1 || !rs[0].Kept || rs[0].Object.Kind != model.KindVirtualService || rs[0].Reason != discovery.ReasonUnknownKind {
		t.Errorf("rejections %+v", rs)
	}
}
