package repocheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const module = "github.com/meshgate/meshgate"

// rulesRequired are the packages whose import rules DESIGN.md states; their
// doc.go must keep stating them.
var rulesRequired = []string{"sni", "identity", "discovery/model", "xds/translate", "federation"}

// TestImportRules checks every "Imports only" / "Never imports" rule
// written in a package comment of this module.
func TestImportRules(t *testing.T) {
	g := tagged(t)
	rules, err := g.Rules()
	if err != nil {
		t.Fatalf("malformed import rules:\n%v", err)
	}
	for _, pkg := range rulesRequired {
		has := false
		for _, r := range rules {
			has = has || r.Package == module+"/"+pkg
		}
		if !has {
			t.Errorf("%s: its doc.go states no import rule (\"Imports only:\" or \"Never imports:\"), but DESIGN.md gives it one", pkg)
		}
	}
	for _, v := range g.CheckRules(rules) {
		t.Error(v)
	}
	t.Logf("%d rules in %d packages checked", len(rules), len(g.Pkgs))
}

// TestProductBoundary checks the rules of the whole repository: no product
// package depends on test/ or istio.io/istio, no product binary on testing
// packages.
func TestProductBoundary(t *testing.T) {
	g := tagged(t)
	for _, v := range g.CheckProduct() {
		t.Error(v)
	}
	// The check must have something to look at.
	if p := g.Pkgs[module+"/cmd/meshgate"]; p == nil || p.Name != "main" {
		t.Fatalf("cmd/meshgate is not in the package list as a main package")
	}
}

// TestFastTierNeedsNoAPIServer: a test built without tags never depends on
// test/kubetest (it would need built kube-apiserver binaries).
func TestFastTierNeedsNoAPIServer(t *testing.T) {
	g := NewGraph(module, goList(t, "-test", "-deps", "./..."))
	n := 0
	for path := range g.Pkgs {
		if strings.HasSuffix(path, ".test]") {
			n++
		}
	}
	if n == 0 {
		t.Fatal("go list -test reported no test packages")
	}
	for _, v := range g.CheckFastTests() {
		t.Error(v)
	}
}

var taggedOnce struct {
	sync.Once
	pkgs []*Package
	err  error
}

// tagged lists every package with the integration and e2e files included,
// so tagged code is checked too.
func tagged(t *testing.T) *Graph {
	t.Helper()
	taggedOnce.Do(func() {
		taggedOnce.pkgs, taggedOnce.err = list("-tags", "integration,e2e", "-deps", "./...")
	})
	if taggedOnce.err != nil {
		t.Fatal(taggedOnce.err)
	}
	return NewGraph(module, taggedOnce.pkgs)
}

func goList(t *testing.T, args ...string) []*Package {
	t.Helper()
	pkgs, err := list(args...)
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// list runs go list -json in the module root and reads the package
// comments of this module's packages.
func list(args ...string) ([]*Package, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	args = append([]string{"list", "-e", "-json=ImportPath,Name,Dir,Standard,GoFiles,Imports,Deps,Error"}, args...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New("go " + strings.Join(args, " ") + ": " + err.Error() + "\n" + stderr.String())
	}
	var pkgs []*Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Package
			Dir     string
			GoFiles []string
			Error   *struct{ Err string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if p.Error != nil {
			return nil, errors.New(p.ImportPath + ": " + p.Error.Err)
		}
		if strings.HasPrefix(p.ImportPath, module) && !strings.Contains(p.ImportPath, " ") && !strings.HasSuffix(p.ImportPath, ".test") {
			if err := readDoc(&p.Package, root, p.Dir, p.GoFiles); err != nil {
				return nil, err
			}
		}
		pkg := p.Package
		pkgs = append(pkgs, &pkg)
	}
	return pkgs, nil
}

// readDoc sets the package comment: the first file (doc.go first) that has one.
func readDoc(p *Package, root, dir string, files []string) error {
	fset := token.NewFileSet()
	for i, f := range files {
		if f == "doc.go" && i > 0 {
			files[0], files[i] = files[i], files[0]
		}
	}
	for _, f := range files {
		path := filepath.Join(dir, f)
		af, err := parser.ParseFile(fset, path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		if af.Doc != nil {
			p.Doc = af.Doc.Text()
			p.DocFile, _ = filepath.Rel(root, path)
			return nil
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the meshgate module")
	}
	return filepath.Dir(gomod), nil
}
