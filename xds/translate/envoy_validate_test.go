//go:build integration

package translate

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/node"
)

// envoyTarget is one proxy's translation to load into Envoy.
type envoyTarget struct {
	name string // case/proxy[/variant]
	res  func(t *testing.T) *Result
}

// examplesDir holds the examples the README walks through.
const examplesDir = "../../deploy/examples"

// exampleProxies are the gateways of deploy/examples: their selectors,
// and the cluster and network of the multi-cluster example's proxies.
var exampleProxies = map[string][]Proxy{
	"quickstart": {
		{ID: "ingressgateway", Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}},
		{ID: "l4-gateway", Namespace: "istio-system", Labels: map[string]string{"app": "l4-gateway"}},
	},
	"multicluster": {
		{ID: "ingressgateway", Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"},
			ClusterID: "cluster1", Network: "network1"},
		{ID: "eastwestgateway-cluster1", Namespace: "istio-system", Labels: map[string]string{"istio": "eastwestgateway"},
			ClusterID: "cluster1", Network: "network1"},
		{ID: "eastwestgateway-cluster2", Namespace: "istio-system", Labels: map[string]string{"istio": "eastwestgateway"},
			ClusterID: "cluster2", Network: "network2"},
	},
}

// envoyTargets lists every proxy of every golden case (with its variants) and
// of every example.
func envoyTargets(t *testing.T) []envoyTarget {
	var out []envoyTarget
	dirs, err := filepath.Glob(filepath.Join(casesDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || strings.HasPrefix(filepath.Base(dir), "_") {
			continue
		}
		for _, p := range caseProxies(t, dir) {
			variants := caseVariants(t, dir)
			keys := make([]string, 0, len(variants))
			for v := range variants {
				keys = append(keys, v)
			}
			sort.Strings(keys)
			for _, v := range keys {
				name := filepath.Base(dir) + "/" + p.Name
				if v != "" {
					name += "/" + v
				}
				p := p
				p.flavor = FlavorEnvoy // upstream Envoy gets the envoy flavour
				out = append(out, envoyTarget{name: name, res: func(t *testing.T) *Result {
					res, _ := caseResult(t, dir, p, variants[v])
					return res
				}})
			}
		}
	}
	examples := make([]string, 0, len(exampleProxies))
	for ex := range exampleProxies {
		examples = append(examples, ex)
	}
	sort.Strings(examples)
	for _, ex := range examples {
		dir := filepath.Join(examplesDir, ex)
		for _, p := range exampleProxies[ex] {
			out = append(out, envoyTarget{name: "examples/" + ex + "/" + p.ID, res: func(t *testing.T) *Result {
				mesh, objErrs, err := file.LoadMesh(file.Config{Paths: []string{dir}})
				if err != nil || len(objErrs) > 0 {
					t.Fatalf("%s: load: %v %v", dir, err, objErrs)
				}
				proxy := p
				proxy.ID, proxy.Type, proxy.Flavor = "", node.TypeRouter, FlavorEnvoy
				if proxy.ClusterID == "" {
					proxy.ClusterID = mesh.LocalCluster
				}
				proxy.IP = InferProxyIP(mesh, proxy.Namespace, proxy.Labels)
				res, err := Translate(mesh, proxy, DefaultOptions())
				if err != nil {
					t.Fatalf("%s: translate: %v", dir, err)
				}
				if len(res.Errors) > 0 {
					t.Fatalf("%s: the example has errors: %v", dir, res.Errors)
				}
				return res
			}})
		}
	}
	return out
}

// envoyKnownRejections are outputs that upstream Envoy rejects for a reason
// stated here, each with the message Envoy gives. The test fails when such an
// output is accepted (remove the entry) or rejected for another reason.
var envoyKnownRejections = map[string]struct{ reason, message string }{}

// TestEnvoyValidate loads every golden case's and every example's output,
// per proxy, into the real Envoy (`envoy --mode validate` on a static
// bootstrap, see test/envoytest) and fails with Envoy's message when Envoy
// rejects it. Without Envoy the test fails with the command that installs it.
func TestEnvoyValidate(t *testing.T) {
	envoy := envoytest.Path(t)
	mat, err := envoytest.NewMaterial(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	targets := envoyTargets(t)
	var accepted, empty int
	var rejected, knownRejected []string
	warnings := map[string]string{} // Envoy's warning → first proxy that drew it
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			res := tg.res(t)
			if len(res.Listeners)+len(res.Clusters) == 0 {
				empty++
				return
			}
			boot, rep, err := envoytest.StaticBootstrap("router~1.1.1.1~envoytest.istio-system~istio-system.svc.cluster.local",
				envoytest.Resources{Listeners: res.Listeners, Routes: res.Routes, Clusters: res.Clusters,
					Endpoints: res.Endpoints, Secrets: res.Secrets}, mat)
			if err != nil {
				rejected = append(rejected, tg.name+": "+err.Error())
				t.Fatalf("%s: cannot load into Envoy: %v", tg.name, err)
			}
			warns, err := envoytest.Validate(envoy, boot, t.TempDir())
			for _, w := range warns {
				if warnings[w] == "" {
					warnings[w] = tg.name
				}
			}
			if known, ok := envoyKnownRejections[tg.name]; ok {
				switch {
				case err == nil:
					t.Fatalf("%s: Envoy accepts the output now; remove it from envoyKnownRejections (%s)", tg.name, known.reason)
				case !strings.Contains(err.Error(), known.message):
					t.Fatalf("%s: Envoy rejects the output for another reason than the known one (%s): %v", tg.name, known.message, err)
				}
				knownRejected = append(knownRejected, tg.name+": "+known.message)
				return
			}
			if err != nil {
				rejected = append(rejected, tg.name+": "+err.Error())
				t.Fatalf("%s: Envoy rejects the output: %v", tg.name, err)
			}
			accepted++
			t.Logf("%s: accepted: %d listeners (%d inline routes), %d clusters (%d EDS made static, %d without endpoints), %d secrets; "+
				"generated secrets %v, placeholder material replaced in %v, substituted files %v",
				tg.name, rep.Listeners, rep.InlinedRoutes, rep.Clusters, rep.StaticEDS, len(rep.EmptyEDS), rep.Secrets,
				rep.GeneratedSecrets, rep.PlaceholderSecrets, rep.SubstitutedFiles)
		})
	}
	if len(targets) == 0 {
		t.Fatal("no cases or examples to validate")
	}
	msg := fmt.Sprintf("envoy --mode validate: %d proxies: %d accepted, %d rejected, %d known rejections, %d with empty output (nothing to load)",
		len(targets), accepted, len(rejected), len(knownRejected), empty)
	for _, r := range append(rejected, knownRejected...) {
		msg += "\n  " + r
	}
	for _, w := range slices.Sorted(maps.Keys(warnings)) {
		msg += fmt.Sprintf("\n  warning (first from %s): %s", warnings[w], w)
	}
	t.Log(msg)
}
