package repocheck

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Package is what the checks need to know of one package, as go list
// reports it.
type Package struct {
	ImportPath string
	Name       string   // "main" for a binary
	Standard   bool     // part of the standard library
	Imports    []string // direct imports of its non-test files
	Deps       []string // every package it depends on, directly or not
	Doc        string   // package comment (of this module's packages)
	DocFile    string   // file holding the package comment, for messages
}

// Kind is the kind of an import rule.
type Kind int

const (
	// Only limits a package's direct imports to the rule's items.
	Only Kind = iota
	// Never forbids the rule's items anywhere in a package's dependencies.
	Never
)

// Phrases that open a rule paragraph in a package comment.
const (
	onlyPhrase  = "Imports only:"
	neverPhrase = "Never imports:"
)

// Rule is one import rule as written in a package comment.
type Rule struct {
	Package string // the package the rule is about
	Kind    Kind
	Items   []Item
	Text    string // the sentence as written (one line)
}

// Item is one entry of a rule's list.
type Item struct {
	Std  bool   // "the standard library"
	Repo bool   // "this repository"
	Path string // import path (module-relative items already resolved)
	Tree bool   // Path/... : Path and every package below it
	Text string // as written
}

// ParseRules reads the import rules in the package comment doc of pkg.
// Rule paragraphs start with "Imports only:" or "Never imports:" (see the
// package documentation); a malformed item is an error.
func ParseRules(pkg, module, doc string) ([]Rule, error) {
	var rules []Rule
	var errs []string
	for _, para := range strings.Split(doc, "\n\n") {
		para = strings.TrimLeft(para, "\n")
		if para == "" || para[0] == ' ' || para[0] == '\t' {
			continue // an indented block is an example, not a rule
		}
		text := strings.Join(strings.Fields(para), " ")
		var kind Kind
		var rest string
		switch {
		case strings.HasPrefix(text, onlyPhrase):
			kind, rest = Only, strings.TrimPrefix(text, onlyPhrase)
		case strings.HasPrefix(text, neverPhrase):
			kind, rest = Never, strings.TrimPrefix(text, neverPhrase)
		default:
			continue
		}
		rest = strings.TrimSuffix(strings.TrimSpace(rest), ".")
		// A closing parenthesis says why; it is not part of the list.
		if strings.HasSuffix(rest, ")") {
			if i := strings.LastIndex(rest, " ("); i >= 0 {
				rest = rest[:i]
			}
		}
		r := Rule{Package: pkg, Kind: kind, Text: text}
		for _, f := range strings.Split(strings.ReplaceAll(rest, " and ", ", "), ",") {
			f = strings.TrimPrefix(strings.TrimSpace(f), "and ")
			if f == "" {
				continue
			}
			it, err := parseItem(module, f)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: rule %q: %v", pkg, text, err))
				continue
			}
			r.Items = append(r.Items, it)
		}
		if len(r.Items) == 0 {
			errs = append(errs, fmt.Sprintf("%s: rule %q lists nothing", pkg, text))
			continue
		}
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return rules, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return rules, nil
}

func parseItem(module, s string) (Item, error) {
	it := Item{Text: s}
	switch {
	case s == "the standard library":
		it.Std = true
		return it, nil
	case s == "this repository":
		it.Repo = true
		return it, nil
	}
	p := s
	if strings.HasSuffix(p, "/...") {
		it.Tree, p = true, strings.TrimSuffix(p, "/...")
	}
	switch {
	case strings.HasPrefix(p, "./"):
		p = module + "/" + strings.TrimPrefix(p, "./")
	case !strings.Contains(strings.SplitN(p, "/", 2)[0], "."):
		return it, fmt.Errorf("item %q is neither \"the standard library\", \"this repository\", a ./path of this module nor an import path with a domain", s)
	}
	if strings.ContainsAny(p, " \t") {
		return it, fmt.Errorf("item %q is not an import path", s)
	}
	it.Path = p
	return it, nil
}

// matches reports whether import path imp (imported by package self) is
// covered by the item.
func (it Item) matches(imp, self, module string, std func(string) bool) bool {
	switch {
	case it.Std:
		return std(imp)
	case it.Repo:
		return imp != self && (imp == module || strings.HasPrefix(imp, module+"/"))
	case it.Tree:
		return imp == it.Path || strings.HasPrefix(imp, it.Path+"/")
	default:
		return imp == it.Path
	}
}

// Violation is one broken rule.
type Violation struct {
	Package string   // the package that breaks the rule
	Import  string   // the offending import path
	Chain   []string // Package → … → Import (for dependencies, not direct imports)
	Rule    string   // the rule, as written, and where
}

func (v Violation) String() string {
	s := fmt.Sprintf("%s imports %s", v.Package, v.Import)
	if len(v.Chain) > 2 {
		s += " (via " + strings.Join(v.Chain[1:len(v.Chain)-1], " → ") + ")"
	}
	return s + ", breaking: " + v.Rule
}

// Graph is a package list indexed by import path.
type Graph struct {
	Module string
	Pkgs   map[string]*Package
}

// NewGraph indexes pkgs.
func NewGraph(module string, pkgs []*Package) *Graph {
	g := &Graph{Module: module, Pkgs: make(map[string]*Package, len(pkgs))}
	for _, p := range pkgs {
		g.Pkgs[p.ImportPath] = p
	}
	return g
}

func (g *Graph) std(path string) bool {
	if p, ok := g.Pkgs[path]; ok {
		return p.Standard
	}
	return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
}

// InModule reports whether path is a package of this module.
func (g *Graph) InModule(path string) bool {
	return path == g.Module || strings.HasPrefix(path, g.Module+"/")
}

// IsProduct reports whether path is a product package: of this module and
// not under test/.
func (g *Graph) IsProduct(path string) bool {
	return g.InModule(path) && !under(path, g.Module+"/test")
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// chain returns a shortest import chain from → … → to, or nil.
func (g *Graph) chain(from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			var c []string
			for n := to; n != ""; n = prev[n] {
				c = append(c, n)
			}
			slices.Reverse(c)
			return c
		}
		p, ok := g.Pkgs[cur]
		if !ok {
			continue
		}
		for _, imp := range p.Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = cur
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

// Rules parses the rules of every package of the module in g.
func (g *Graph) Rules() ([]Rule, error) {
	var rules []Rule
	var errs []string
	for _, path := range g.sorted() {
		p := g.Pkgs[path]
		if !g.InModule(path) {
			continue
		}
		rs, err := ParseRules(path, g.Module, p.Doc)
		if err != nil {
			errs = append(errs, err.Error())
		}
		for i := range rs {
			rs[i].Text = fmt.Sprintf("%q (%s)", rs[i].Text, p.DocFile)
		}
		rules = append(rules, rs...)
	}
	// A ./path item must name a package of this module: a typo is an error,
	// not a rule that can never fail.
	for _, r := range rules {
		for _, it := range r.Items {
			if it.Path == "" || !g.InModule(it.Path) {
				continue
			}
			found := false
			for path := range g.Pkgs {
				if it.matches(path, "", g.Module, g.std) {
					found = true
					break
				}
			}
			if !found {
				errs = append(errs, fmt.Sprintf("%s: rule %s names %s, which matches no package of this module", r.Package, r.Text, it.Text))
			}
		}
	}
	if len(errs) > 0 {
		return rules, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return rules, nil
}

func (g *Graph) sorted() []string {
	paths := make([]string, 0, len(g.Pkgs))
	for p := range g.Pkgs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// CheckRules returns every violation of rules in g.
func (g *Graph) CheckRules(rules []Rule) []Violation {
	var vs []Violation
	for _, r := range rules {
		p, ok := g.Pkgs[r.Package]
		if !ok {
			continue
		}
		switch r.Kind {
		case Only:
			for _, imp := range p.Imports {
				if !slices.ContainsFunc(r.Items, func(it Item) bool { return it.matches(imp, p.ImportPath, g.Module, g.std) }) {
					vs = append(vs, Violation{Package: p.ImportPath, Import: imp, Chain: []string{p.ImportPath, imp}, Rule: r.Text})
				}
			}
		case Never:
			forbidden := func(path string) bool {
				return slices.ContainsFunc(r.Items, func(it Item) bool { return it.matches(path, p.ImportPath, g.Module, g.std) })
			}
			for _, dep := range p.Deps {
				if !forbidden(dep) {
					continue
				}
				// Name only the first forbidden package on the way: what
				// it imports in turn is the same violation.
				c := g.chain(p.ImportPath, dep)
				if len(c) > 2 && slices.ContainsFunc(c[1:len(c)-1], forbidden) {
					continue
				}
				vs = append(vs, Violation{Package: p.ImportPath, Import: dep, Chain: c, Rule: r.Text})
			}
		}
	}
	return vs
}

// ProductNever are the dependencies no product package may have.
var ProductNever = []string{"./test/...", "istio.io/istio/..."}

// TestingPackages are the packages of the testing framework.
var TestingPackages = []string{"testing/...", "net/http/httptest"}

// AllowedTestingImporters are the third-party packages through which a
// product binary may depend on a testing package, with the reason.
var AllowedTestingImporters = map[string]string{
	"github.com/envoyproxy/go-control-plane/pkg/log": "go-control-plane's logger package has a logger adapter for testing.T (test.go) in the same package",
}

// CheckProduct checks the rules of the whole repository on the product:
// ProductNever for every product package, and no testing package in a
// product binary except through AllowedTestingImporters.
func (g *Graph) CheckProduct() []Violation {
	var vs []Violation
	never := Rule{Kind: Never, Text: fmt.Sprintf("the product never imports %s (test/repocheck/doc.go)", strings.Join(ProductNever, ", "))}
	for _, s := range ProductNever {
		it, err := parseItem(g.Module, s)
		if err != nil {
			panic(err)
		}
		never.Items = append(never.Items, it)
	}
	var testing []Item
	for _, s := range TestingPackages {
		testing = append(testing, Item{Path: strings.TrimSuffix(s, "/..."), Tree: strings.HasSuffix(s, "/..."), Text: s})
	}
	isTesting := func(path string) bool {
		return slices.ContainsFunc(testing, func(it Item) bool { return it.matches(path, "", g.Module, g.std) })
	}
	const binRule = "a product binary never depends on testing packages except through AllowedTestingImporters (test/repocheck/doc.go)"
	for _, path := range g.sorted() {
		p := g.Pkgs[path]
		if !g.IsProduct(path) {
			continue
		}
		never.Package = path
		vs = append(vs, g.CheckRules([]Rule{never})...)
		if p.Name != "main" {
			continue
		}
		// Every dependency of the binary that imports a testing package
		// must be an allowed third-party package.
		for _, dep := range append([]string{path}, p.Deps...) {
			d, ok := g.Pkgs[dep]
			if !ok || d.Standard {
				continue
			}
			for _, imp := range d.Imports {
				if !isTesting(imp) {
					continue
				}
				if _, ok := AllowedTestingImporters[dep]; ok && !g.InModule(dep) {
					continue
				}
				vs = append(vs, Violation{Package: path, Import: imp, Chain: append(g.chain(path, dep), imp), Rule: binRule})
			}
		}
	}
	return vs
}

// NeedsBinaries are the packages (relative to the module) that start
// processes a fast-tier machine may not have: kube-apiserver and etcd
// (test/kubetest), Envoy (test/envoytest).
var NeedsBinaries = []string{"/test/kubetest", "/test/envoytest"}

// CheckFastTests checks the test packages of g, a graph of
// `go list -test -deps` built without tags (the fast tier): none depends on
// a package of NeedsBinaries but that package's own tests.
func (g *Graph) CheckFastTests() []Violation {
	const rule = "a test without the integration or e2e build tag never depends on ./test/kubetest or ./test/envoytest (test/repocheck/doc.go)"
	var vs []Violation
	for _, path := range g.sorted() {
		base, variant, isTest := strings.Cut(path, " ")
		if !isTest || !strings.HasSuffix(variant, ".test]") || !g.InModule(base) {
			continue
		}
		for _, rel := range NeedsBinaries {
			pkg := g.Module + rel
			if base == pkg || base == pkg+"_test" {
				continue
			}
			for _, dep := range g.Pkgs[path].Deps {
				if d, _, _ := strings.Cut(dep, " "); d == pkg {
					vs = append(vs, Violation{Package: path, Import: dep, Chain: g.chain(path, dep), Rule: rule})
					break
				}
			}
		}
	}
	return vs
}
