package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
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
	// Locality is "region/zone/subzone" (the oracle's proxy locality).
	Locality string `json:"locality"`
	// flavor is the proxy build translated for (not in proxies.yaml: the
	// oracle's proxies are Istio's).
	flavor Flavor
}

const casesDir = "testdata/cases"

// caseInputs are the YAML files of a case: every *.yaml at its top level but
// proxies.yaml and mesh.yaml (the oracle's MeshConfig, see caseMeshConfig).
func caseInputs(t testing.TB, dir string) []string {
	matches, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range matches {
		if b := filepath.Base(m); b != "proxies.yaml" && b != "mesh.yaml" {
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
	base := caseMeshConfig(t, dir)
	out := map[string]Options{"": base}
	b, err := os.ReadFile(filepath.Join(dir, "flags.env"))
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	o := base
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

// caseMeshConfig is DefaultOptions with a case's mesh.yaml (the MeshConfig
// overrides the oracle applies) over it; the settings meshgate has are the
// only ones accepted.
func caseMeshConfig(t testing.TB, dir string) Options {
	o := DefaultOptions()
	b, err := os.ReadFile(filepath.Join(dir, "mesh.yaml"))
	if os.IsNotExist(err) {
		return o
	}
	if err != nil {
		t.Fatal(err)
	}
	var mc struct {
		DefaultServiceExportTo []string `json:"defaultServiceExportTo"`
	}
	if err := yaml.UnmarshalStrict(b, &mc); err != nil {
		t.Fatalf("%s/mesh.yaml: %v", dir, err)
	}
	o.DefaultServiceExportTo = mc.DefaultServiceExportTo
	return o
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
	// translate -o json streams the document: the same bytes, whatever the
	// chunk size (it consumes the resources of the result it writes)
	for _, chunk := range []int{1, 2, writeChunk} {
		streamed, _ := caseResult(t, dir, p, opts)
		var b bytes.Buffer
		if err := writeResult(&b, streamed, chunk); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), doc) {
			t.Fatalf("%s: WriteResult (chunks of %d) differs from NewDocument's MarshalIndent", dir, chunk)
		}
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

// caseMesh loads a case: its top-level YAML is the local cluster, and each
// remote/<cluster>/ directory (only where a case has one) another cluster
// of the mesh, as federation would add it.
func caseMesh(t testing.TB, dir string) (*model.MeshState, []error) {
	mesh, objErrs, err := file.LoadMesh(file.Config{Paths: caseInputs(t, dir)})
	if err != nil {
		t.Fatalf("%s: load: %v", dir, err)
	}
	remotes, _ := filepath.Glob(filepath.Join(dir, "remote", "*"))
	var extra []*model.ClusterState
	for _, r := range remotes {
		m, errs, err := file.LoadMesh(file.Config{Paths: []string{r}, ClusterID: filepath.Base(r)})
		if err != nil {
			t.Fatalf("%s: load: %v", r, err)
		}
		objErrs = append(objErrs, errs...)
		extra = append(extra, m.Local())
	}
	return model.Compose(mesh, extra), objErrs
}

// caseResult translates one proxy of a case; objErrs are the objects the
// loader rejected.
func caseResult(t testing.TB, dir string, p caseProxy, opts Options) (res *Result, objErrs []error) {
	mesh, objErrs := caseMesh(t, dir)
	proxy := Proxy{Type: p.Type, IP: p.IP, Namespace: p.Namespace, Labels: p.Labels, ClusterID: mesh.LocalCluster, Flavor: p.flavor}
	if p.Locality != "" {
		l := localityOf(p.Locality)
		proxy.Locality = model.Locality{Region: l.Region, Zone: l.Zone, Subzone: l.SubZone}
	}
	if nw, ok := p.Metadata["NETWORK"].(string); ok {
		proxy.Network = nw
	}
	if proxy.Type == "" {
		proxy.Type = node.TypeRouter
	}
	res, err := Translate(mesh, proxy, opts)
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
				_, report := translateCase(t, dir, p, caseMeshConfig(t, dir))
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

// xdsdiffReport is what xdsdiff.py --json writes.
type xdsdiffReport struct {
	Info struct {
		Listeners int `json:"listeners_compared"`
		Routes    int `json:"routes_compared"`
		Clusters  int `json:"clusters_compared"`
		Endpoints int `json:"endpoints_compared"`
	} `json:"info"`
	Diffs []struct {
		Kind     string          `json:"kind"`
		Resource string          `json:"resource"`
		Path     string          `json:"path"`
		Meshgate json.RawMessage `json:"meshgate"`
	} `json:"diffs"`
}

// deviationKey is how a deviations.txt names one difference: the path
// xdsdiff prints and meshgate's value there ("<absent>" when it has none), so
// a change of meshgate's output at a listed path is a new difference.
func deviationKey(kind, resource, path string, meshgate json.RawMessage) string {
	v := "<absent>"
	if len(meshgate) > 0 && string(meshgate) != "null" {
		var b bytes.Buffer
		if err := json.Compact(&b, meshgate); err == nil {
			v = b.String()
		}
	}
	return kind + "[" + resource + "]" + path + " meshgate=" + v
}

// readDeviations reads the deviations of one proxy of a case:
// deviations.<proxy>.txt when the case has one (cases with several proxies),
// else deviations.txt: comment lines (#) giving the reason, then one
// deviationKey per line. A file without a reason is an error.
func readDeviations(t *testing.T, caseDir, proxy string) map[string]bool {
	name := "deviations." + proxy + ".txt"
	if _, err := os.Stat(filepath.Join(caseDir, name)); err != nil {
		name = "deviations.txt"
	}
	b, err := os.ReadFile(filepath.Join(caseDir, name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	reason := false
	for _, line := range strings.Split(string(b), "\n") {
		switch line = strings.TrimSpace(line); {
		case line == "":
		case strings.HasPrefix(line, "#"):
			reason = reason || len(strings.TrimSpace(strings.TrimPrefix(line, "#"))) > 0
		default:
			out[line] = true
		}
	}
	if !reason || len(out) == 0 {
		t.Fatalf("%s/%s: needs a reason (# lines) and at least one difference", caseDir, name)
	}
	return out
}

// TestOracleAgreement compares every istio-flavour golden output with
// istiod's output for the same input (stored by test/oracle/refresh.sh under
// istio*/<proxy>/) using test/tools/xdsdiff.py, the full-field comparison
// (python3 required). Any difference fails unless the case's deviations.txt
// (or deviations.<proxy>.txt) lists it with a reason; a listed difference that no longer occurs fails too.
// An error or crash of the tool fails, and so does a comparison that compared
// nothing while either side has resources.
func TestOracleAgreement(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is required for the oracle comparison: %v", err)
	}
	tool, _ := filepath.Abs("../../test/tools/xdsdiff.py")
	dirs, _ := filepath.Glob(filepath.Join(casesDir, "*", "istio*", "*", "listeners.json"))
	if len(dirs) < 70 {
		t.Fatalf("%d oracle outputs under %s/*/istio*, want every case's", len(dirs), casesDir)
	}
	tmp := t.TempDir()
	for i, l := range dirs {
		istioDir := filepath.Dir(l)
		caseDir := filepath.Dir(filepath.Dir(istioDir))
		proxy := filepath.Base(istioDir)
		variant := strings.TrimPrefix(strings.TrimPrefix(filepath.Base(filepath.Dir(istioDir)), "istio"), "-")
		t.Run(filepath.Base(caseDir)+"/"+proxy+"/"+variant, func(t *testing.T) {
			t.Parallel()
			golden := goldenName(caseDir, proxy, variant, ".json")
			jsonOut := filepath.Join(tmp, fmt.Sprintf("%d.json", i))
			out, err := exec.Command(py, tool, "--full", "--json", jsonOut, istioDir, golden).CombinedOutput()
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("xdsdiff.py: %v", err)
			}
			if code != 0 && code != 1 || !bytes.Contains(out, []byte("\nxdsdiff: ")) {
				t.Fatalf("xdsdiff.py failed (exit %d):\n%s", code, out)
			}
			var rep xdsdiffReport
			b, err := os.ReadFile(jsonOut)
			if err == nil {
				err = json.Unmarshal(b, &rep)
			}
			if err != nil {
				t.Fatalf("xdsdiff.py --json: %v\n%s", err, out)
			}
			if (code == 0) != (len(rep.Diffs) == 0) {
				t.Fatalf("xdsdiff.py exit %d with %d differences:\n%s", code, len(rep.Diffs), out)
			}
			if rep.Info.Listeners+rep.Info.Routes+rep.Info.Clusters+rep.Info.Endpoints == 0 {
				requireEmpty(t, istioDir, golden)
			}
			allowed := readDeviations(t, caseDir, proxy)
			seen := map[string]bool{}
			for _, d := range rep.Diffs {
				key := deviationKey(d.Kind, d.Resource, d.Path, d.Meshgate)
				seen[key] = true
				if !allowed[key] {
					t.Errorf("difference with istiod: %s[%s]%s (deviations.txt key: %s)", d.Kind, d.Resource, d.Path, key)
				}
			}
			for key := range allowed {
				if !seen[key] {
					t.Errorf("deviations.txt lists %q, which no longer differs: remove it", key)
				}
			}
			if t.Failed() {
				t.Logf("xdsdiff.py output:\n%s", out)
			}
		})
	}
}

// requireEmpty: a comparison of nothing is agreement only when istiod gives
// the gateway no listener and no route and meshgate gives it nothing at all.
func requireEmpty(t *testing.T, istioDir, golden string) {
	t.Helper()
	for _, f := range []string{"listeners.json", "routes.json"} {
		var v []any
		b, err := os.ReadFile(filepath.Join(istioDir, f))
		if err == nil {
			err = json.Unmarshal(b, &v)
		}
		if err != nil || len(v) != 0 {
			t.Fatalf("xdsdiff.py compared nothing, but istiod's %s has %d entries (err %v)", f, len(v), err)
		}
	}
	var doc Document
	b, err := os.ReadFile(golden)
	if err == nil {
		err = json.Unmarshal(b, &doc)
	}
	if err != nil || len(doc.Listeners)+len(doc.Routes)+len(doc.Clusters)+len(doc.Endpoints) != 0 {
		t.Fatalf("xdsdiff.py compared nothing, but %s is not empty (err %v)", golden, err)
	}
}

// TestXdsdiffSelfTest runs xdsdiff.py's own check over every oracle output:
// each perturbation it makes (dropped listener, changed SNI, LB policy,
// istio.alpn, ...) must be reported and its normalisations must hold, so a
// tool that stopped seeing differences fails here rather than passing
// TestOracleAgreement silently.
func TestXdsdiffSelfTest(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is required: %v", err)
	}
	dirs, _ := filepath.Glob(filepath.Join(casesDir, "*", "istio*", "*"))
	if len(dirs) < 70 {
		t.Fatalf("%d oracle outputs", len(dirs))
	}
	out, err := exec.Command(py, append([]string{"../../test/tools/xdsdiff.py", "--self-test"}, dirs...)...).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("\nself-test: 0 failures")) {
		t.Fatalf("xdsdiff.py --self-test: %v\n%s", err, out)
	}
}
