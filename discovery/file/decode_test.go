package file

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

// loadText loads one file with the given content.
func loadText(t *testing.T, name, content string) *Result {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, content)
	res, err := Load(Config{Paths: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// fieldErrs returns "Kind ns/name field" for every object error, and checks
// that each is located in its file.
func fieldErrs(t *testing.T, res *Result) []string {
	t.Helper()
	var out []string
	for _, e := range res.ObjErrs {
		var fe *model.FieldError
		var oe *ObjectError
		if !errors.As(e, &fe) || !errors.As(e, &oe) {
			t.Errorf("not a located FieldError: %v", e)
			continue
		}
		out = append(out, fe.Object.String()+" "+fe.Field)
	}
	return out
}

const goodService = `apiVersion: v1
kind: Service
metadata: {name: good}
spec: {ports: [{port: 80}]}
`

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string // "Kind ns/name field"
		msg     string   // part of the first error's text
	}{{
		name:    "unknown field in a Kubernetes object",
		content: "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80, targetport: 8080}]}\n",
		want:    []string{"Service shop/web spec.ports[0].targetport"},
		msg:     "unknown field",
	}, {
		name:    "duplicate key in a Kubernetes object",
		content: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: ClusterIP\n  type: NodePort\n",
		want:    []string{"Service default/web "},
		msg:     `duplicate key: line 6: key "type" already set in map`,
	}, {
		name:    "wrong type in a Kubernetes object",
		content: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: eighty}]}\n",
		want:    []string{"Service default/web spec.ports.port"},
		msg:     "cannot use a string here: want int32",
	}, {
		name:    "unknown field in an Istio spec",
		content: "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP, targetPortt: 1}\n    hosts: [a.com]\n",
		want:    []string{"Gateway default/gw spec.servers[0].port.targetPortt"},
		msg:     `unknown field "targetPortt"`,
	}, {
		name:    "unknown field in an Istio map value",
		content: "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  hosts: [a.com]\n  http:\n  - match: [{headers: {x-a: {exakt: b}}}]\n    route: [{destination: {host: a}}]\n",
		want:    []string{"VirtualService default/vs spec.http[0].match[0].headers[x-a].exakt"},
		msg:     "unknown field",
	}, {
		name:    "unknown top-level field of an Istio object",
		content: "apiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata: {name: dr}\nspek: {host: a}\n",
		want:    []string{"DestinationRule default/dr spek"},
		msg:     "unknown field",
	}, {
		name:    "unknown metadata field of an Istio object",
		content: "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se, lables: {a: b}}\nspec: {hosts: [a.com]}\n",
		want:    []string{"ServiceEntry default/se metadata.lables"},
		msg:     "unknown field",
	}, {
		name:    "invalid duration",
		content: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  hosts: [a.com]\n  http: [{timeout: soon, route: [{destination: {host: a}}]}]\n",
		want:    []string{"VirtualService default/vs spec.http[0].timeout"},
		msg:     `invalid duration "soon"`,
	}, {
		name:    "invalid enum value",
		content: "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\nspec:\n  servers:\n  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: [a.com]\n    tls: {mode: simple}\n",
		want:    []string{"Gateway default/gw spec"},
		msg:     `simple`,
	}, {
		name:    "unsupported Istio version",
		content: "apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: gw, namespace: x}\nspec: {}\n",
		want:    []string{"Gateway x/gw apiVersion"},
		msg:     "unsupported version",
	}, {
		name:    "validation error from the converter, located in the file",
		content: "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata: {name: bookinfo}\nspec:\n  hosts: [\"bookinfo.*\"]\n  gateways: [bookinfo-gateway]\n  http: [{route: [{destination: {host: productpage}}]}]\n",
		want:    []string{"VirtualService default/bookinfo spec.hosts[0]"},
		msg:     `invalid host "bookinfo.*"`,
	}, {
		name:    "duplicate object",
		content: goodService + "---\n" + goodService,
		want:    []string{"Service default/good metadata.name"},
		msg:     "already defined in",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := loadText(t, "in.yaml", tt.content+"---\n"+strings.Replace(goodService, "name: good", "name: other", 1))
			if got := fieldErrs(t, res); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("errors = %q, want %q (%v)", got, tt.want, res.ObjErrs)
			}
			if !strings.Contains(res.ObjErrs[0].Error(), tt.msg) || !strings.Contains(res.ObjErrs[0].Error(), "in.yaml (document ") {
				t.Errorf("error %q does not name the file or contain %q", res.ObjErrs[0], tt.msg)
			}
			// the bad object is skipped, the others kept
			if res.Mesh.Local().Service("other.default.svc.cluster.local") == nil {
				t.Errorf("the valid object of the file was not loaded")
			}
		})
	}
}

func TestDocumentErrors(t *testing.T) {
	res := loadText(t, "mixed.yaml", goodService+`---
this is: [not yaml
---
just a sentence
---
apiVersion: v1
metadata: {name: nokind}
---
kind: Service
metadata: {name: noversion}
---
# only a comment
---
- a
- sequence
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: prod}
spec: {}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: listed, namespace: x}
  spec: {ports: [{port: 81}]}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cfg}
`)
	var docErrs []string
	for _, e := range res.ObjErrs {
		var de *DocumentError
		if !errors.As(e, &de) {
			t.Errorf("not a DocumentError: %v", e)
			continue
		}
		if !strings.HasSuffix(de.File, "mixed.yaml") {
			t.Errorf("file = %q", de.File)
		}
		docErrs = append(docErrs, strings.SplitN(e.Error(), ": ", 2)[1])
	}
	wantPrefixes := []string{"document 2 (line 6): yaml:", "document 3 (line 8): not a Kubernetes object: a plain value, not a mapping",
		"document 4 (line 10): not a Kubernetes object: kind is missing", "document 5 (line 13): not a Kubernetes object: apiVersion is missing"}
	if len(docErrs) != len(wantPrefixes) {
		t.Fatalf("document errors = %q", docErrs)
	}
	for i, w := range wantPrefixes {
		if !strings.HasPrefix(docErrs[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i, docErrs[i], w)
		}
	}
	c := res.Mesh.Local()
	if c.Service("good.default.svc.cluster.local") == nil || c.Service("listed.x.svc.cluster.local") == nil || len(c.Services) != 2 {
		t.Errorf("services = %+v", c.Services)
	}
	var ignored []string
	for _, ig := range res.Ignored {
		ignored = append(ignored, ig.Kind+" "+ig.Namespace+"/"+ig.Name)
	}
	if want := []string{" /", "Deployment prod/app", "ConfigMap default/cfg"}; !reflect.DeepEqual(ignored, want) {
		t.Errorf("ignored = %q, want %q", ignored, want)
	}
}

func TestJSONAndDirectories(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "json-svc"}, "spec": {"ports": [{"port": 80}]}}`)
	writeFile(t, filepath.Join(dir, "sub", "deeper", "b.yml"), strings.Replace(goodService, "good", "yml-svc", 1))
	writeFile(t, filepath.Join(dir, "sub", "c.YAML"), strings.Replace(goodService, "good", "upper-svc", 1))
	writeFile(t, filepath.Join(dir, "notes.txt"), "not: [an input")
	writeFile(t, filepath.Join(dir, ".hidden.yaml"), "not: [an input")
	writeFile(t, filepath.Join(dir, ".git", "x.yaml"), "not: [an input")
	res, err := Load(Config{Paths: []string{dir}, DomainSuffix: "corp.local"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ObjErrs) > 0 {
		t.Fatalf("errors: %v", res.ObjErrs)
	}
	var got []string
	for _, s := range res.Mesh.Local().Services {
		got = append(got, s.Hostname+" "+s.Source)
	}
	want := []string{"json-svc.default.svc.corp.local a.json", "upper-svc.default.svc.corp.local sub/c.YAML", "yml-svc.default.svc.corp.local sub/deeper/b.yml"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("services = %q, want %q", got, want)
	}
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		in   string
		want []document
	}{
		{"a: 1\n", []document{{1, 1, []byte("a: 1\n")}}},
		{"---\na: 1\n---\n---\nb: 2", []document{{1, 2, []byte("a: 1\n")}, {2, 5, []byte("b: 2")}}},
		{"# head\n--- # first\na: 1\n...\n--- {b: 2}\n", []document{{1, 2, []byte("# first\na: 1\n")}, {2, 5, []byte("{b: 2}\n")}}},
		{"a: |\n  ---\n  x\n----\n", []document{{1, 1, []byte("a: |\n  ---\n  x\n----\n")}}},
		{"\r\n---\r\na: 1\r\n", []document{{1, 3, []byte("a: 1\r\n")}}},
		{"", nil},
		{"# nothing\n---\n  \n", nil},
	}
	for _, tt := range tests {
		if got := splitDocuments([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("split(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// A "billion laughs" document is refused by the YAML parser's alias limit, as
// a document error; the file's other documents still load.
func TestAliasBomb(t *testing.T) {
	y := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		y += n + ": &" + n + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
		prev = n
	}
	res := loadText(t, "bomb.yaml", y+"---\n"+goodService)
	var de *DocumentError
	if len(res.ObjErrs) != 1 || !errors.As(res.ObjErrs[0], &de) || de.Document != 1 || !strings.Contains(de.Error(), "excessive aliasing") {
		t.Errorf("errors = %v", res.ObjErrs)
	}
	if len(res.Mesh.Local().Services) != 1 {
		t.Errorf("the file's other document was not loaded")
	}
}

func TestObjectWithoutName(t *testing.T) {
	res := loadText(t, "noname.yaml", "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {namespace: istio-system}\nspec: {}\n---\n"+goodService)
	if got := fieldErrs(t, res); !reflect.DeepEqual(got, []string{"Gateway istio-system/ metadata.name"}) {
		t.Errorf("errors = %q", got)
	}
	if len(res.Mesh.Local().Services) != 1 {
		t.Error("the named object was not loaded")
	}
}

func TestIgnoredString(t *testing.T) {
	for _, tt := range []struct {
		in   Ignored
		want string
	}{
		{Ignored{File: "a.yaml", Document: 2, APIVersion: "apps/v1", Kind: "Deployment", Namespace: "prod", Name: "web", Reason: "kind not used by meshgate"},
			"a.yaml (document 2): apps/v1 Deployment prod/web: kind not used by meshgate"},
		{Ignored{File: "proxies.yaml", Document: 1, Reason: "a YAML sequence, not a Kubernetes object"},
			"proxies.yaml (document 1): a YAML sequence, not a Kubernetes object"},
	} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
