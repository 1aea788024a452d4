package translate

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/xds/node"
)

var update = flag.Bool("update", false, "rewrite golden files")

// caseProxy is one entry of a case's proxies.yaml (the istio-oracle format).
type caseProxy struct {
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Namespace string            `json:"namespace"`
	IP        string            `json:"ip"`
	Labels    map[string]string `json:"labels"`
	Metadata  map[string]any    `json:"metadata"`
	// flavor is the proxy build translated for (not in proxies.yaml: the
	// oracle's proxies are Istio's).
	flavor Flavor
}

const casesDir = "testdata/cases"

// caseInputs are the YAML files of a case: every *.yaml at its top level but proxies.yaml.
func caseInputs(t testing.TB, dir string) []string {
	matches, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range matches {
		if filepath.Base(m) != "proxies.yaml" {
			out = append(out, m)
		}
	}
	return out
}

func caseProxies(t testing.TB, dir string) []caseProxy {
	b, err := os.ReadFile(filepath.Join(dir, "proxies.yaml"))
	if os.IsNotExist(err) {
		return []caseProxy{{Name: "ingressgateway", Type: "router", Namespace: "istio-system", IP: "1.1.1.1",
			Labels: map[string]string{"istio": "ingressgateway"}}}
	}
	if err != nil {
		t.Fatal(err)
	}
	var ps []caseProxy
	if err := yaml.UnmarshalStrict(b, &ps); err != nil {
		t.Fatalf("%s/proxies.yaml: %v", dir, err)
	}
	return ps
}

// caseVariants are the option sets a case is translated with: the defaults,
// and, when the case has a flags.env (Istio feature flags), the flagged options.
func caseVariants(t testing.TB, dir string) map[string]Options {
	out := map[string]Options{"": DefaultOptions()}
	b, err := os.ReadFile(filepath.Join(dir, "flags.env"))
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		switch line {
		case "PILOT_ENABLE_MYSQL_FILTER=true":
			o.EnableMySQLFilter = true
		case "PILOT_ENABLE_REDIS_FILTER=true":
			o.EnableRedisFilter = true
		case "PILOT_ENABLE_QUIC_LISTENERS=true":
			o.EnableQUICListeners = true
		default:
			t.Fatalf("%s/flags.env: unknown flag %q", dir, line)
		}
	}
	out["flags"] = o
	return out
}

// goldenName is golden/<proxy>[.<variant>].<ext>.
func goldenName(dir, proxy, variant, ext string) string {
	if variant != "" {
		proxy += "." + variant
	}
	return filepath.Join(dir, "golden", proxy+ext)
}

// translateCase renders the document and the error report of one proxy of a case.
func translateCase(t testing.TB, dir string, p caseProxy, opts Options) (doc, report []byte) {
	res, objErrs := caseResult(t, dir, p, opts)
	d, err := NewDocument(res)
	if err != nil {
		t.Fatal(err)
	}
	doc, err = d.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	var r bytes.Buffer
	for _, e := range objErrs {
		fmt.Fprintf(&r, "load error: %v\n", e)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(&r, "error: %v\n", e)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(&r, "warning: %v\n", w)
	}
	return doc, r.Bytes()
}

// caseResult translates one proxy of a case; objErrs are the objects the
// loader rejected.
func caseResult(t testing.TB, dir string, p caseProxy, opts Options) (res *Result, objErrs []error) {
	mesh, objErrs, err := file.LoadMesh(file.Config{Paths: caseInputs(t, dir)})
	if err != nil {
		t.Fatalf("%s: load: %v", dir, err)
	}
	proxy := Proxy{Type: p.Type, IP: p.IP, Namespace: p.Namespace, Labels: p.Labels, ClusterID: mesh.LocalCluster, Flavor: p.flavor}
	if nw, ok := p.Metadata["NETWORK"].(string); ok {
		proxy.Network = nw
	}
	if proxy.Type == "" {
		proxy.Type = node.TypeRouter
	}
	res, err = Translate(mesh, proxy, opts)
	if err != nil {
		t.Fatalf("%s: translate: %v", dir, err)
	}
	return res, objErrs
}

// flavorVariant names the golden files of a flavour: the istio flavour (what
// istiod gives, compared with the oracle) has none, the envoy flavour
// ".envoy" after the options variant.
func flavorVariant(variant string, f Flavor) string {
	if f != FlavorEnvoy {
		return variant
	}
	if variant == "" {
		return "envoy"
	}
	return variant + ".envoy"
}

// TestGolden translates every case for every proxy, in both flavours, and
// compares with golden/<proxy>[.<variant>].json and .errors.txt (rewritten by
// -update); the envoy flavour's files are golden/<proxy>[.<variant>].envoy.*.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(casesDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || strings.HasPrefix(filepath.Base(dir), "_") {
			continue
		}
		for _, p := range caseProxies(t, dir) {
			for variant, opts := range caseVariants(t, dir) {
				for _, f := range []Flavor{FlavorIstio, FlavorEnvoy} {
					n++
					p := p
					p.flavor = f
					fv := flavorVariant(variant, f)
					t.Run(filepath.Base(dir)+"/"+p.Name+"/"+fv, func(t *testing.T) {
						doc, report := translateCase(t, dir, p, opts)
						checkGolden(t, goldenName(dir, p.Name, fv, ".json"), doc)
						checkGolden(t, goldenName(dir, p.Name, fv, ".errors.txt"), report)
					})
				}
			}
		}
	}
	if n == 0 {
		t.Fatalf("no cases under %s", casesDir)
	}
}

// TestExpectedErrors checks that every error a case's errors.txt names (object
// and field) is reported when the case is translated.
func TestExpectedErrors(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(casesDir, "*", "errors.txt"))
	if len(files) == 0 {
		t.Fatal("no errors.txt under the cases")
	}
	for _, f := range files {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range caseProxies(t, dir) {
				_, report := translateCase(t, dir, p, DefaultOptions())
				for _, line := range strings.Split(string(b), "\n") {
					line = strings.TrimSpace(line)
					if line == "" || strings.HasPrefix(line, "#") {
						continue
					}
					head, _, _ := strings.Cut(line, ": ")
					parts := strings.Fields(head) // Kind ns/name field
					if len(parts) != 3 {
						t.Fatalf("%s: malformed line %q", f, line)
					}
					// The reported field may be more specific (tls → tls.serverCertificate).
					want := parts[0] + " " + parts[1] + ": " + parts[2]
					if !strings.Contains(string(report), want+":") && !strings.Contains(string(report), want+".") {
						t.Errorf("expected an error %q (from %q); reported:\n%s", want, line, report)
					}
				}
			}
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./xds/translate -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: output differs (run go test ./xds/translate -update and review the diff); -golden +got, by line:\n%s",
			path, cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")))
	}
}

var agreementRE = regexp.MustCompile(`(?m)^agreement (\d+)/(\d+)$`)

// TestOracleAgreement compares every golden output with istiod's output for
// the same input (stored by test/oracle/refresh.sh under istio/<proxy>/) using
// the project's compare.py. Full agreement is required, except for lines listed
// in the case's deviations.txt (each with its reason), which must match exactly:
// a failure prints the difference between the documented and the found lines.
func TestOracleAgreement(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is required for the oracle comparison: %v", err)
	}
	compare, _ := filepath.Abs("../../test/tools/compare.py")
	dirs, _ := filepath.Glob(filepath.Join(casesDir, "*", "istio*", "*", "listeners.json"))
	if len(dirs) == 0 {
		t.Fatalf("no oracle outputs under %s/*/istio", casesDir)
	}
	for _, l := range dirs {
		istioDir := filepath.Dir(l)
		caseDir := filepath.Dir(filepath.Dir(istioDir))
		proxy := filepath.Base(istioDir)
		variant := strings.TrimPrefix(strings.TrimPrefix(filepath.Base(filepath.Dir(istioDir)), "istio"), "-")
		t.Run(filepath.Base(caseDir)+"/"+proxy+"/"+variant, func(t *testing.T) {
			t.Parallel()
			golden := goldenName(caseDir, proxy, variant, ".json")
			out, err := exec.Command(py, compare, "-v", istioDir, golden).CombinedOutput()
			if err != nil {
				t.Fatalf("compare.py: %v\n%s", err, out)
			}
			m := agreementRE.FindSubmatch(out)
			if m == nil {
				t.Fatalf("compare.py printed no agreement line:\n%s", out)
			}
			dev, err := os.ReadFile(filepath.Join(caseDir, "deviations.txt"))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			found, documented := differenceLines(out), differenceLines(dev)
			if string(m[1]) == string(m[2]) && len(documented) == 0 {
				return
			}
			if d := cmp.Diff(documented, found); d != "" {
				t.Errorf("agreement %s/%s with istiod; differences -documented in deviations.txt +found by compare.py:\n%s\ncompare.py -v output:\n%s",
					m[1], m[2], d, out)
			}
		})
	}
}

// differenceLines returns the difference lines of compare.py -v output (or of
// a deviations.txt: the lines indented by four spaces), trimmed and sorted.
func differenceLines(b []byte) []string {
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "    ") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	slices.Sort(lines)
	return slices.Compact(lines)
}
