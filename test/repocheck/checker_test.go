package repocheck

import (
	"slices"
	"strings"
	"testing"
)

// fake is a small synthetic module with one violation of each kind.
func fake() *Graph {
	const m = "example.com/mod"
	return NewGraph(m, []*Package{
		{ImportPath: m + "/leaf", Imports: []string{"fmt"}, Deps: []string{"fmt"},
			Doc: "Package leaf is a leaf.\n\nNever imports: this repository.\n", DocFile: "leaf/doc.go"},
		{ImportPath: m + "/model", Imports: []string{"fmt", m + "/leaf", "k8s.io/client-go/rest"},
			Deps: []string{"fmt", m + "/leaf", "k8s.io/client-go/rest", "k8s.io/client-go/transport"},
			Doc:  "Package model.\n\nImports only: the standard library\nand ./leaf.\n", DocFile: "model/doc.go"},
		{ImportPath: m + "/translate", Imports: []string{m + "/model", "google.golang.org/protobuf/proto"},
			Deps: []string{m + "/model", m + "/leaf", "k8s.io/client-go/rest", "k8s.io/client-go/transport", "google.golang.org/protobuf/proto"},
			Doc:  "Package translate.\n\nNever imports: k8s.io/client-go/...,\ngoogle.golang.org/grpc/... and ./other/....\n", DocFile: "translate/doc.go"},
		{ImportPath: m + "/other", Imports: []string{m + "/test/helper"}, Deps: []string{m + "/test/helper", "testing"}},
		{ImportPath: m + "/cmd/app", Name: "main", Imports: []string{m + "/other", "github.com/envoyproxy/go-control-plane/pkg/log", "third.party/util"},
			Deps: []string{m + "/other", m + "/test/helper", "testing", "github.com/envoyproxy/go-control-plane/pkg/log", "third.party/util"}},
		{ImportPath: m + "/test/helper", Imports: []string{"testing"}, Deps: []string{"testing"}},
		{ImportPath: "github.com/envoyproxy/go-control-plane/pkg/log", Imports: []string{"testing"}, Deps: []string{"testing"}},
		{ImportPath: "third.party/util", Imports: []string{"net/http/httptest"}, Deps: []string{"net/http/httptest"}},
		{ImportPath: "fmt", Standard: true},
		{ImportPath: "testing", Standard: true},
		{ImportPath: "net/http/httptest", Standard: true},
		{ImportPath: "k8s.io/client-go/rest", Imports: []string{"k8s.io/client-go/transport"}, Deps: []string{"k8s.io/client-go/transport"}},
		{ImportPath: "k8s.io/client-go/transport"},
		{ImportPath: "google.golang.org/protobuf/proto"},
	})
}

func strs(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.String())
	}
	return out
}

// TestCheckerCatchesViolations proves that the checks fail on a broken
// module, naming the package and the offending import.
func TestCheckerCatchesViolations(t *testing.T) {
	g := fake()
	rules, err := g.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 3 {
		t.Fatalf("parsed %d rules, want 3: %+v", len(rules), rules)
	}
	got := strs(g.CheckRules(rules))
	want := []string{
		// model imports client-go directly: not in its "Imports only" list.
		`example.com/mod/model imports k8s.io/client-go/rest, breaking: "Imports only: the standard library and ./leaf." (model/doc.go)`,
		// translate reaches client-go through model: named with the chain;
		// client-go/transport, imported by client-go/rest, is not repeated.
		`example.com/mod/translate imports k8s.io/client-go/rest (via example.com/mod/model), breaking: "Never imports: k8s.io/client-go/..., google.golang.org/grpc/... and ./other/...." (translate/doc.go)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("rule violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	got = strs(g.CheckProduct())
	want = []string{
		// cmd/app reaches test/helper through other.
		`example.com/mod/cmd/app imports example.com/mod/test/helper (via example.com/mod/other), breaking: the product never imports ./test/..., istio.io/istio/... (test/repocheck/doc.go)`,
		// test/helper imports testing; go-control-plane's log is allowed, third.party/util is not.
		`example.com/mod/cmd/app imports testing (via example.com/mod/other → example.com/mod/test/helper), breaking: a product binary never depends on testing packages except through AllowedTestingImporters (test/repocheck/doc.go)`,
		`example.com/mod/cmd/app imports net/http/httptest (via third.party/util), breaking: a product binary never depends on testing packages except through AllowedTestingImporters (test/repocheck/doc.go)`,
		`example.com/mod/other imports example.com/mod/test/helper, breaking: the product never imports ./test/..., istio.io/istio/... (test/repocheck/doc.go)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("product violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheckFastTests(t *testing.T) {
	const m = "example.com/mod"
	kt := m + NeedsBinaries[0]
	g := NewGraph(m, []*Package{
		{ImportPath: m + "/a [" + m + "/a.test]", Imports: []string{kt}, Deps: []string{kt, "testing"}},
		{ImportPath: m + "/b [" + m + "/b.test]", Imports: []string{"testing"}, Deps: []string{"testing"}},
		{ImportPath: kt + " [" + kt + ".test]", Imports: []string{"testing"}, Deps: []string{"testing"}},
		{ImportPath: kt, Imports: []string{"testing"}, Deps: []string{"testing"}},
	})
	got := strs(g.CheckFastTests())
	want := []string{`example.com/mod/a [example.com/mod/a.test] imports example.com/mod/test/kubetest, breaking: a test without the integration or e2e build tag never depends on ./test/kubetest or ./test/envoytest (test/repocheck/doc.go)`}
	if !slices.Equal(got, want) {
		t.Errorf("fast-tier violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, doc := range []string{
		"Imports only: identity.",         // neither ./identity nor a domain
		"Never imports: .",                // nothing
		"Never imports: k8s.io/client go", // space in a path
	} {
		if _, err := ParseRules("p", "example.com/mod", doc); err == nil {
			t.Errorf("ParseRules(%q) accepted a malformed rule", doc)
		}
	}
	// A ./path that names no package of the module is an error too.
	g := NewGraph("example.com/mod", []*Package{{ImportPath: "example.com/mod/a", Doc: "Never imports: ./nosuch/...."}})
	if _, err := g.Rules(); err == nil || !strings.Contains(err.Error(), "./nosuch/...") {
		t.Errorf("Rules() = %v, want an error naming ./nosuch/...", err)
	}
	// Prose that merely mentions imports is not a rule.
	rs, err := ParseRules("p", "example.com/mod", "The package imports only what it needs.\n\nIt never imports grpc.")
	if err != nil || len(rs) != 0 {
		t.Errorf("ParseRules on prose = %v, %v; want no rules", rs, err)
	}
}
