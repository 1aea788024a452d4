package file

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

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
		"a: [a, , b]", "a: 'x",
	} {
		if _, _, ok := fastYAMLToJSON([]byte(doc)); ok {
			t.Errorf("fast path took %q", doc)
		}
	}
	for _, doc := range []string{
		"a: 1", "a: -3", "a: x y # c", "a: [1, b, \"c\"]", "a: {b: 1, c: [d]}", "a:\n- 1\n- b: 2\n  c: 3",
		"a: 10.0.0.1", "a: 'it''s'", "a: ~", "a:\nb: null", "a: \"<&>\"", "a: image:1.0", "a:\n  - - x\n    - z",
		"'a b': 1", "a: true", "a: []", "a: {}", "a: 0755", "a: 0x1f", "a: 7d4b9c", "a: 1_000", "a: 0b11", "a: 18446744073709551615",
	} {
		if !checkFastYAML(t, "inline", []byte(doc)) {
			t.Errorf("fast path declined %q", strings.ReplaceAll(doc, "\n", `\n`))
		}
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
