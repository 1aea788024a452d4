package file

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader as one YAML file: it must never
// panic, every problem must be a located error, and the state it builds must
// validate.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/seeds/*.yaml")
	more, _ := filepath.Glob("testdata/oracle/*/*.yaml")
	for _, p := range append(files, more...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "---", "- a", "~", "{}", "[", "a: b: c", "apiVersion: v1\nkind: List\nitems: [1, null, {kind: Service}]",
		"apiVersion: v1\nkind: Service\nmetadata: {name: [x]}\n",
		"apiVersion: networking.istio.io/v1\nkind: Gateway\nspec: 3\n",
		"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec: {http: [{timeout: 9999999999999h}]}\n",
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: a}}\nendpoints: [{addresses: []}]\nports: [{}]\n",
		"&a [*a]", "a: &a\n  b: *a\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoder(nil)
		d.file("fuzz.yaml", "fuzz.yaml", data)
		c := d.convert("fuzz", "net", "", nil)
		for _, e := range d.errs {
			var de *DocumentError
			var oe *ObjectError
			if !errors.As(e, &de) && !errors.As(e, &oe) {
				t.Errorf("unlocated error %T: %v", e, e)
			}
		}
		if err := c.Validate(); err != nil {
			t.Errorf("state does not validate: %v", err)
		}
	})
}
