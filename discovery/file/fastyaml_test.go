package file

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/bench/world"
)

// checkFastYAML fails when the fast path accepts doc but disagrees with
// the full parser (or accepts what the full parser refuses). It reports
// whether the fast path took the document.
func checkFastYAML(t *testing.T, name string, doc []byte) bool {
	t.Helper()
	fast, env, ok := fastYAMLToJSON(doc)
	if !ok {
		return false
	}
	want, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Errorf("%s: fast path accepted a document the parser refuses (%v):\n%s", name, err, doc)
		return true
	}
	if want = bytes.TrimSpace(want); !bytes.Equal(fast, want) {
		t.Errorf("%s: fast path differs:\n fast %s\n want %s\ndocument:\n%s", name, fast, want, doc)
	}
	if env != nil {
		wantEnv, err := readEnvelope(want)
		if err != nil || wantEnv.APIVersion != env.APIVersion || wantEnv.Kind != env.Kind || wantEnv.Metadata != env.Metadata {
			t.Errorf("%s: envelope %+v, want %+v (%v)", name, *env, wantEnv, err)
		}
		checkDecodeTree(t, name, doc, env.Kind, want)
		checkSpecTree(t, name, doc, env.Kind)
	}
	checkAnyValue(t, name, doc, want)
	return true
}

// checkAnyValue fails when a tree's anyValue (istio specs are read with it)
// differs from what encoding/json decodes its JSON into.
func checkAnyValue(t *testing.T, name string, doc, js []byte) {
	t.Helper()
	tree, _ := fastYAML(doc)
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got := tree.anyValue(); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: anyValue gives\n%#v\nwant\n%#v", name, got, want)
	}
}

// checkDecodeTree fails when decodeTree takes a document but sets another
// object than the strict JSON decoder does.
func checkDecodeTree(t *testing.T, name string, doc []byte, kind string, js []byte) {
	t.Helper()
	newObj := map[string]func() any{
		"Service": func() any { return &corev1.Service{} }, "Pod": func() any { return &corev1.Pod{} },
		"Namespace": func() any { return &corev1.Namespace{} }, "Secret": func() any { return &corev1.Secret{} },
		"Endpoints": func() any { return &corev1.Endpoints{} }, "EndpointSlice": func() any { return &discoveryv1.EndpointSlice{} },
		"Ingress": func() any { return &knetworkingv1.Ingress{} },
		"Gateway": func() any { return &istioEnvelope{} }, "VirtualService": func() any { return &istioEnvelope{} },
	}[kind]
	if newObj == nil {
		return
	}
	tree, _ := fastYAML(doc)
	got, want := newObj(), newObj()
	if !decodeTree(tree, got, newStrCache()) {
		return
	}
	if strictErrs, err := strictjson.UnmarshalStrict(js, want); err != nil || len(strictErrs) > 0 {
		t.Errorf("%s: decodeTree took a document the JSON decoder refuses (%v %v)", name, err, strictErrs)
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: decodeTree gives\n%+v\nwant\n%+v", name, got, want)
	}
}

// checkSpecTree fails when an Istio spec decoded from the tree
// (decodeSpecTree) differs from the spec decoded from its value as before
// (decodeSpecValue: the message, or the errors), or when the JSON written
// from the tree differs from json.Marshal's of the walked value.
func checkSpecTree(t *testing.T, name string, doc []byte, kind string) {
	t.Helper()
	newMsg := map[string]func() proto.Message{
		"Gateway":         func() proto.Message { return &networkingv1alpha3.Gateway{} },
		"VirtualService":  func() proto.Message { return &networkingv1alpha3.VirtualService{} },
		"DestinationRule": func() proto.Message { return &networkingv1alpha3.DestinationRule{} },
		"ServiceEntry":    func() proto.Message { return &networkingv1alpha3.ServiceEntry{} },
	}[kind]
	if newMsg == nil {
		return
	}
	tree, _ := fastYAML(doc)
	n := tree.get("spec")
	ref := model.Ref{Kind: model.Kind(kind), Namespace: "ns", Name: "x"}
	got, want := newMsg(), newMsg()
	gotErrs := decodeSpecTree(ref, n, got)
	var value any = map[string]any{}
	if n != nil && !isNull(n) {
		value = n.anyValue()
	}
	wantErrs := decodeSpecValue(ref, value, want)
	if fmt.Sprint(gotErrs) != fmt.Sprint(wantErrs) || !proto.Equal(got, want) {
		t.Errorf("%s: decodeSpecTree gives %v %v, want %v %v", name, gotErrs, got, wantErrs, want)
	}
	if n == nil || n.kind != yMap {
		return
	}
	md := got.ProtoReflect().Descriptor()
	js, ok := appendSpecMessage(nil, md, n)
	if !ok {
		return
	}
	w := specWalker{ref: ref}
	walked := w.message(md, n.anyValue(), "spec")
	wantJS, err := json.Marshal(walked)
	if err != nil || len(w.errs) > 0 || !bytes.Equal(js, wantJS) {
		t.Errorf("%s: spec JSON from the tree\n %s\nwant (%v %v)\n %s", name, js, err, w.errs, wantJS)
	}
}

// istioEnvelope is how decode.go's istio reads the envelope of an Istio object.
type istioEnvelope struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              json.RawMessage `json:"spec"`
	Status            json.RawMessage `json:"status"`
}

// TestFastYAMLAgrees runs the fast path and the full parser over every
// YAML document of the repository's test data and a generated world (but
// the oracle's proxies.yaml, a top-level sequence, and JSON): where
// the fast path takes a document, both give the same JSON.
func TestFastYAMLAgrees(t *testing.T) {
	dir := t.TempDir()
	if _, err := world.Write(dir, world.Shape{Services: 120, Gateway: world.EastWest}); err != nil {
		t.Fatal(err)
	}
	roots := []string{dir, "testdata", "../../xds/translate/testdata", "../../deploy", "../../cmd/meshgate/testdata"}
	docs, taken := 0, 0
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !hasInputExt(p) || strings.HasSuffix(p, ".json") || filepath.Base(p) == "proxies.yaml" {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, d := range splitDocuments(data) {
				docs++
				if checkFastYAML(t, p, d.data) {
					taken++
				}
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	t.Logf("%d documents, %d taken by the fast path", docs, taken)
	if docs < 1000 || taken*10 < docs*9 {
		t.Fatalf("%d documents, %d taken by the fast path: want most", docs, taken)
	}
}

// TestFastYAMLDeclines lists what the fast path must leave to the parser.
func TestFastYAMLDeclines(t *testing.T) {
	for _, doc := range []string{
		"a: yes", "a: on", "a: 1.5", "a: 1e3", "a: 2024-01-01", "a: .inf", "a: \x18", "a: é", "a: b\rc: d",
		"a: &x 1\nb: *x", "a: !!str 1", "a: |\n  x", "a: >\n  x", "a: b\n  c", "a: b: c",
		"a: 1\na: 2", "a: {b: 1, b: 2}", "a:\n\tb: 1", "- a", "a: \"x\\ny\"", "a: [1, 2", "a: {b: 1",
		"y: 1", "1: a", "a: [b: c]", "? a\n: b", "a: b #c\n  d: 1", "a: -1.5", "<<: {a: 1}",
		"a: [a, , b]", "a: 'x", "a: 1.5e3", "a: -.5", "a: +1.", "a: 09",
	} {
		if _, _, ok := fastYAMLToJSON([]byte(doc)); ok {
			t.Errorf("fast path took %q", doc)
		}
	}
	for _, doc := range []string{
		"a: 1", "a: -3", "a: x y # c", "a: [1, b, \"c\"]", "a: {b: 1, c: [d]}", "a:\n- 1\n- b: 2\n  c: 3",
		"a: 10.0.0.1", "a: 'it''s'", "a: ~", "a:\nb: null", "a: \"<&>\"", "a: image:1.0", "a:\n  - - x\n    - z",
		"'a b': 1", "a: true", "a: []", "a: {}", "a: 0755", "a: 0x1f", "a: 7d4b9c", "a: 1_000", "a: 0b11", "a: 18446744073709551615",
		"a: 1.2.3", "a: 2e1e1", "a: 10.96.0.0", "a: 0xfg", "a: -0o17", "a: +12",
	} {
		if !checkFastYAML(t, "inline", []byte(doc)) {
			t.Errorf("fast path declined %q", strings.ReplaceAll(doc, "\n", `\n`))
		}
	}
}

// TestSpecTree: Istio specs read from the tree as from their value (the
// cases the walker rewrites or reports included).
func TestSpecTree(t *testing.T) {
	written := 0
	for _, spec := range []string{
		"", "spec:", "spec: 3", "spec: [a]", "spec: {}",
		"spec:\n  hosts: [a.example.com]\n  http:\n  - timeout: 1m\n    retries: {attempts: 3, perTryTimeout: 1h30m}\n    route:\n    - destination: {host: b}",
		"spec:\n  http:\n  - timeout: 5s\n    headers:\n      request:\n        set: {z: \"1\", a: b, \"<m>\": \"&\"}",
		"spec:\n  http:\n  - timeout: soon",
		"spec:\n  http:\n  - timeout: 5",
		"spec:\n  http:\n  - route: {destination: {host: b}}",
		"spec:\n  http:\n  - route:\n    - destination: {host: b, port: {number: 80, nmber: 1}}",
		"spec:\n  hostz: [a]\n  http: 3",
		"spec:\n  hosts: a",
		"spec:\n  tcp:\n  - match: [{port: 80}]\n    route: [{destination: {host: b}, weight: 100}]",
		"spec:\n  export_to: [\".\"]\n  gateways: [g]",
		"spec:\n  http:\n  - mirror_percentage: {value: 5}\n    mirrorPercentage: {value: 6}",
		"spec:\n  http:\n  - corsPolicy: {maxAge: 24h, allowOrigins: [{exact: a}]}",
		"spec:\n  http:\n  - fault: {delay: {fixedDelay: 2s, percentage: {value: 1}}}",
	} {
		for _, kind := range []string{"VirtualService", "Gateway", "DestinationRule", "ServiceEntry"} {
			doc := "apiVersion: networking.istio.io/v1\nkind: " + kind + "\nmetadata: {name: x}\n" + spec
			if !checkFastYAML(t, "inline", []byte(doc)) {
				t.Errorf("fast path declined %q", doc)
			}
			tree, _ := fastYAML([]byte(doc))
			if n := tree.get("spec"); n != nil && n.kind == yMap {
				md := (&networkingv1alpha3.VirtualService{}).ProtoReflect().Descriptor()
				if _, ok := appendSpecMessage(nil, md, n); ok && kind == "VirtualService" {
					written++
				}
			}
		}
	}
	if written < 8 {
		t.Errorf("the spec JSON was written from the tree for %d VirtualServices, want most", written)
	}
}

func FuzzFastYAML(f *testing.F) {
	for _, s := range []string{"a: 1", "a:\n- b: {c: [d, 'e']}\n  f: \"g\"", "a: 10.1.2.3 # x", "a:\n  b:\n  - 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkFastYAML(t, "fuzz", doc)
	})
}

// TestScratchPod: Pods decoded one after another in a worker's scratch Pod
// (its containers' room reused) are kept as SlimPod of each Pod decoded on
// its own (convert.PodInfoOf), a broken one in between included.
func TestScratchPod(t *testing.T) {
	pods := []string{
		"metadata: {name: a, labels: {app: a}}\nspec:\n  containers: [{name: c1, image: i1}, {name: c2, image: i2}, {name: c3, image: i3, ports: [{containerPort: 80}]}]\nstatus: {podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.1}], phase: Running}",
		"metadata: {name: b}\nspec:\n  serviceAccountName: sa\n  containers: [{name: c1}]\nstatus: {podIP: 10.0.0.2}",
		"metadata: {name: broken}\nspec:\n  containers: [{name: c1, imagee: x}]",
		"metadata: {name: c, namespace: n2}\nspec: {nodeName: node1}\nstatus: {podIPs: [{ip: 10.0.0.3}, {ip: fd00::3}]}",
		"metadata: {name: d, labels: {x: z}}\nspec:\n  containers: [{name: c1, image: i1}, {name: c2, image: i2}]\nstatus: {podIP: 10.0.0.4}",
		"metadata: {name: e}\nspec:\n  containers: []",
	}
	var file []byte
	var want []*convert.PodInfo
	for _, p := range pods {
		doc := "apiVersion: v1\nkind: Pod\n" + p + "\n"
		file = append(file, doc+"---\n"...)
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		var o corev1.Pod
		if errs, err := strictjson.UnmarshalStrict(js, &o); err != nil || len(errs) > 0 {
			continue
		}
		if o.Namespace == "" {
			o.Namespace = "default"
		}
		want = append(want, convert.PodInfoOf(&o))
	}
	d := newDecoder(nil)
	d.file("pods.yaml", "pods.yaml", file)
	if len(d.errs) != 1 {
		t.Errorf("errors %v, want the broken pod's", d.errs)
	}
	if !reflect.DeepEqual(d.in.PodInfos, want) {
		t.Errorf("pods\n%+v\nwant\n%+v", d.in.PodInfos, want)
	}
}
