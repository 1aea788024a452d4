package file

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery"
)

func TestUnknownKinds(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), `
apiVersion: networking.istio.io/v1
kind: virtualservice
metadata: {name: lower, namespace: ns1}
---
apiVersion: networking.istio.io/v1
kind: Frobnicator
metadata: {name: frob}
---
apiVersion: networking.istio.oi/v1
kind: VirtualService
metadata: {name: group}
---
apiVersion: networking.istio.io/v2
kind: EnvoyFilter
metadata: {name: version}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: used-elsewhere}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crd}
---
apiVersion: frob.example.com/v1
kind: Frob
metadata: {name: othergroup}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef}
`)
	res, err := Load(Config{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ObjErrs) != 0 {
		t.Errorf("unknown kinds are warnings, not object errors: %v", res.ObjErrs)
	}
	want := map[string]string{ // name → reason ("" = known kind, ignored)
		"lower": `no matches for kind "virtualservice" in version "networking.istio.io/v1": did you mean kind "VirtualService"?`,
		"frob":  `no matches for kind "Frobnicator" in version "networking.istio.io/v1"`,
		"group": `no matches for kind "VirtualService" in version "networking.istio.oi/v1": ` +
			`did you mean apiVersion networking.istio.io/v1 or networking.istio.io/v1alpha3 or networking.istio.io/v1beta1 (kind VirtualService)?`,
		"version":        `no matches for kind "EnvoyFilter" in version "networking.istio.io/v2": EnvoyFilter is served in networking.istio.io/v1alpha3`,
		"othergroup":     `no matches for kind "Frob" in version "frob.example.com/v1" (an API group meshgate does not know)`,
		"used-elsewhere": "",
		"crd":            "",
		"ef":             "",
	}
	if len(res.Ignored) != len(want) {
		t.Fatalf("ignored: %v", res.Ignored)
	}
	for _, ig := range res.Ignored {
		w, ok := want[ig.Name]
		switch {
		case !ok:
			t.Errorf("unexpected %v", ig)
		case w == "" && (ig.Unknown || ig.Reason != "kind not used by meshgate"):
			t.Errorf("%s: %v, want a known kind, ignored", ig.Name, ig)
		case w != "" && (!ig.Unknown || ig.Reason != w):
			t.Errorf("%s: unknown=%v %q\n want %q", ig.Name, ig.Unknown, ig.Reason, w)
		}
	}
}

func rejectionsOf(t *testing.T, p published) []*discovery.Rejection {
	t.Helper()
	var out []*discovery.Rejection
	for _, e := range p.objErrs {
		var r *discovery.Rejection
		if !errors.As(e, &r) {
			t.Fatalf("Watch published a %T, not a Rejection: %v", e, e)
		}
		out = append(out, r)
	}
	return out
}

// TestWatchKeepsTheLastGood: a file that no longer parses keeps its
// objects; an object that no longer decodes keeps its last good version;
// a new broken file is reported and serves nothing; each is published as
// a Rejection naming file and field until fixed.
func TestWatchKeepsTheLastGood(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	writeFile(t, a, service("a", 80)+"---\n"+service("b", 80))
	ch := startWatch(t, Config{Paths: []string{dir}})
	waitFor(t, ch, "the initial state", func(p published) bool { return hasService("a", 1)(p) && hasService("b", 1)(p) })

	// a.yaml no longer parses: a and b stay.
	writeFile(t, a, service("a", 80)+"  - {name: x, port: [unclosed\n---\n"+service("b", 80, 81))
	p := waitFor(t, ch, "a broken a.yaml", func(p published) bool { return len(p.objErrs) > 0 })
	if !hasService("a", 1)(p) || !hasService("b", 2)(p) {
		t.Errorf("a.yaml broken: a (kept) and b (its good document, edited) must be served")
	}
	rs := rejectionsOf(t, p)
	if len(rs) != 1 || !rs[0].Kept || rs[0].Object.Name != "a" || rs[0].Origin != a || rs[0].Document != 1 || rs[0].Reason != discovery.ReasonSyntax ||
		!strings.Contains(rs[0].Error(), "line 7: ") {
		t.Errorf("rejections: %v", p.objErrs)
	}

	// An unknown field in a: its last good version stays, named with the field.
	writeFile(t, a, strings.Replace(service("a", 80, 81), "spec:", "spec:\n  selectorr: {app: a}", 1)+"---\n"+service("b", 80, 81))
	p = waitFor(t, ch, "a's unknown field", func(p published) bool {
		rs := rejectionsOf(t, p)
		return len(rs) == 1 && rs[0].Field == "spec.selectorr"
	})
	if rs := rejectionsOf(t, p); !hasService("a", 1)(p) || !rs[0].Kept || rs[0].Reason != discovery.ReasonSchema {
		t.Errorf("a with an unknown field: %v", p.objErrs)
	}

	// A new file, broken from the start: nothing of it is served.
	writeFile(t, filepath.Join(dir, "c.yaml"), strings.Replace(service("c", 80), "port: 80", "port: 0", 1))
	p = waitFor(t, ch, "the broken new file", func(p published) bool { return len(p.objErrs) == 2 })
	if !noService("c")(p) {
		t.Error("c, broken from the start, is served")
	}
	for _, r := range rejectionsOf(t, p) {
		if r.Object.Name == "c" && (r.Kept || r.Reason != discovery.ReasonInvalid || r.Field != "spec.ports[0].port") {
			t.Errorf("c: %+v", r)
		}
	}

	// b's kind misspelled: b stays, reported as an unknown kind.
	writeFile(t, a, service("a", 80, 81)+"---\n"+strings.Replace(service("b", 80, 81), "kind: Service", "kind: service", 1))
	p = waitFor(t, ch, "b's misspelled kind", func(p published) bool {
		for _, r := range rejectionsOf(t, p) {
			if r.Reason == discovery.ReasonUnknownKind {
				return true
			}
		}
		return false
	})
	for _, r := range rejectionsOf(t, p) {
		if r.Reason == discovery.ReasonUnknownKind && (!r.Kept || r.Object.String() != "Service default/b" || r.Document != 2 ||
			!strings.Contains(r.Error(), `no matches for kind "service" in version "v1": did you mean kind "Service"?`)) {
			t.Errorf("b: %+v: %v", r, r)
		}
	}
	if !hasService("b", 2)(p) {
		t.Error("b, its kind misspelled, is not served")
	}

	// Fixed: the new versions, nothing rejected.
	writeFile(t, a, service("a", 80, 81, 82)+"---\n"+service("b", 80, 81))
	writeFile(t, filepath.Join(dir, "c.yaml"), service("c", 80))
	waitFor(t, ch, "the fixed files", func(p published) bool {
		return len(p.objErrs) == 0 && hasService("a", 3)(p) && hasService("c", 1)(p)
	})
}
