//go:build integration

package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/kubetest"
)

// casesDir holds the translator's golden cases: every seed example, with
// the Kubernetes objects (k8s.yaml, gateway-svc.yaml) it runs against.
const casesDir = "../../xds/translate/testdata/cases"

// The inputs of a case (rejected.yaml, proxies.yaml and the oracle output
// are not inputs).
var caseInputs = []string{"config.yaml", "k8s.yaml", "gateway-svc.yaml"}

// readKinds are the kinds the Kubernetes source reads.
var readKinds = map[string]bool{
	"Namespace": true, "Service": true, "Pod": true, "EndpointSlice": true, "Secret": true,
	"Gateway": true, "VirtualService": true, "DestinationRule": true, "ServiceEntry": true,
	"Ingress": true, "IngressClass": true, "Node": true,
	"GatewayClass": true, "HTTPRoute": true, "GRPCRoute": true, "TLSRoute": true, "TCPRoute": true, "ReferenceGrant": true,
}

const (
	casesCluster = "cluster1"
	casesNetwork = "network1"
)

// The same objects, loaded by the file source and written into a real API
// server watched by the Kubernetes source, give the same ClusterState and
// the same per-object errors: both go through discovery/convert. Every
// golden case of xds/translate runs, one after the other, in one API
// server (objects of the previous case that the next one does not have are
// deleted). Two comparisons per case:
//
//  1. against the case's own YAML, up to what the API server adds by
//     itself: namespaces that exist in the cluster anyway, the
//     kubernetes.io/metadata.name label it puts on every namespace, its own
//     Service default/kubernetes, a Service's allocated clusterIP and
//     defaulted targetPort when the YAML has none;
//  2. exactly, against the objects read back from the API server and
//     loaded by the file source.
//
// Meta.Source differs by design (a file path vs "kube:<cluster>") and is
// blanked in both.
func TestCasesMatchFileSource(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(casesDir, "[0-9]*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases under %s (%v)", casesDir, err)
	}
	c := kubetest.New(t, kubetest.Options{Name: "cases"})
	installGatewayAPICRDs(t, c.RESTConfig())
	a := newApplier(t, c.RESTConfig())
	_, rec := runSource(t, Config{ClusterID: casesCluster, Network: casesNetwork}, Options{REST: c.RESTConfig()})
	rec.waitFor(t, "initial state", func(*model.ClusterState, []error) string { return "" })

	var prev []*unstructured.Unstructured
	compared := 0
	for _, dir := range dirs {
		name := filepath.Base(dir)
		paths, objs := caseObjects(t, dir)
		if slices.ContainsFunc(objs, func(u *unstructured.Unstructured) bool { return u.GetKind() == "Endpoints" }) {
			// 001–003 (the oracle's own examples) give a Service only v1
			// Endpoints; the Kubernetes source reads EndpointSlices, as
			// istiod does.
			t.Logf("%s: skipped: has v1 Endpoints", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			var want *file.Result
			want, prev = applyCase(t, a, paths, objs, prev)
			compareCase(t, a, rec, want)
			compared++
		})
	}
	t.Logf("%d cases compared", compared)
}

func caseObjects(t *testing.T, dir string) (paths []string, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, f := range caseInputs {
		p := filepath.Join(dir, f)
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		docs, err := decodeYAML(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, u := range docs {
			if readKinds[u.GetKind()] || u.GetKind() == "Endpoints" {
				if u.GetNamespace() == "" && u.GetKind() != "Namespace" && u.GetKind() != "Node" {
					u.SetNamespace("default")
				}
				objs = append(objs, u)
			}
		}
	}
	// namespaces first
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return boolRank(a.GetKind() != "Namespace") - boolRank(b.GetKind() != "Namespace")
	})
	return paths, objs
}

// withServiceAccounts adds, before each Pod, the ServiceAccount it names:
// the API server's admission refuses a Pod whose ServiceAccount is missing
// (the file source does not care, and ServiceAccounts are not in the model).
func withServiceAccounts(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "Pod" {
			sa, _, _ := unstructured.NestedString(u.Object, "spec", "serviceAccountName")
			if sa == "" {
				sa = "default" // no controller-manager creates it in the testbed
			}
			{
				out = append(out, &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "v1", "kind": "ServiceAccount",
					"metadata": map[string]any{"name": sa, "namespace": u.GetNamespace()},
				}})
			}
		}
		out = append(out, u)
	}
	return out
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func objKey(u *unstructured.Unstructured) string {
	return u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
}

// applyCase loads a case with the file source, applies it to the API server
// and deletes what only the previous case had. It returns the file source's
// result, adjusted for what the API server refused, and the objects now in
// the cluster.
func applyCase(t *testing.T, a *applier, paths []string, objs, prev []*unstructured.Unstructured) (*file.Result, []*unstructured.Unstructured) {
	ctx := ctxT(t)
	res, err := file.Load(file.Config{Paths: paths, ClusterID: casesCluster, Network: casesNetwork})
	if err != nil {
		t.Fatal(err)
	}
	keepNamedSecrets(res.Mesh.Local())
	var applied []*unstructured.Unstructured
	defer func() {
		// even after a failure, so that the next case starts clean
		applied = prune(t, a, applied, prev)
	}()

	// Objects the API server refuses (strict field validation) are those
	// the file source reports and skips: they drop out of both sides.
	for _, u := range withServiceAccounts(objs) {
		if u.GetKind() == "Ingress" && u.GetAPIVersion() != "networking.k8s.io/v1" {
			continue // extensions/v1beta1 is gone from the API server; both sources ignore it
		}
		if err := a.apply(ctx, u); err != nil {
			ref := fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
			i := slices.IndexFunc(res.ObjErrs, func(e error) bool { return strings.HasPrefix(fieldErrorString(e), ref+":") })
			if i < 0 {
				t.Errorf("the API server refused an object the file source accepts: %v", err)
				return res, applied
			}
			t.Logf("the API server refused %s as the file source did (%v): %v", ref, res.ObjErrs[i], err)
			res.ObjErrs = slices.Delete(res.ObjErrs, i, i+1)
			continue
		}
		applied = append(applied, u)
	}
	return res, applied
}

// prune deletes the objects of prev (namespaces excepted: without a
// namespace controller they would stay Terminating) that are not in cur. It
// returns cur.
func prune(t *testing.T, a *applier, cur, prev []*unstructured.Unstructured) []*unstructured.Unstructured {
	keep := map[string]bool{}
	for _, u := range cur {
		keep[objKey(u)] = true
	}
	for _, u := range prev {
		if u.GetKind() != "Namespace" && !keep[objKey(u)] {
			if err := a.delete(ctxT(t), u); err != nil {
				t.Fatalf("delete %s: %v", objKey(u), err)
			}
		}
	}
	return cur
}

// keepNamedSecrets removes from a file source state the Secrets that no
// Gateway (including those generated for an Ingress) or DestinationRule
// names (with its -cacert companion): the file source keeps every TLS
// Secret it is given (one of a Gateway the API server refused, of an
// Ingress of another class), the Kubernetes source reads only the named
// ones. The names are taken from the converted model here, not from
// the objects as the source does.
func keepNamedSecrets(c *model.ClusterState) {
	named := map[string]bool{}
	add := func(n string) {
		if ns, name, ok := model.ParseGatewayCredential(n); ok {
			named[ns+"/"+name] = true // a Gateway API certificateRef: this Secret only
			return
		}
		if n != "" {
			named[n], named[n+"-cacert"] = true, true
		}
	}
	for _, g := range c.Gateways {
		for _, s := range g.Servers {
			if s.TLS != nil {
				add(s.TLS.CredentialName)
				for _, n := range s.TLS.CredentialNames {
					add(n)
				}
			}
		}
	}
	policy := func(p *model.TrafficPolicy) {
		if p == nil {
			return
		}
		if p.TLS != nil {
			add(p.TLS.CredentialName)
		}
		for _, pl := range p.PortLevelSettings {
			if pl.TLS != nil {
				add(pl.TLS.CredentialName)
			}
		}
	}
	for _, d := range c.DestinationRules {
		policy(d.TrafficPolicy)
		for _, ss := range d.Subsets {
			policy(ss.TrafficPolicy)
		}
	}
	c.Secrets = slices.DeleteFunc(c.Secrets, func(s model.Secret) bool { return !named[s.Name] && !named[s.Namespace+"/"+s.Name] })
	if len(c.Secrets) == 0 {
		c.Secrets = nil
	}
}

// compareCase waits until the Kubernetes source publishes the file
// source's state and errors, then compares with the API server's objects
// loaded by the file source.
func compareCase(t *testing.T, a *applier, rec *recorder, res *file.Result) {
	wantErrs := fieldErrorStrings(res.ObjErrs)
	want := normalizeForCompare(res.Mesh.Local(), nil)
	wantJSON := mustJSON(want)
	got := rec.waitFor(t, "the file source's state", func(c *model.ClusterState, errs []error) string {
		if d := diffJSON(wantJSON, mustJSON(normalizeForCompare(c, want))); d != "" {
			return "state differs (-file +kube):\n" + d
		}
		if d := diffJSON(mustJSON(wantErrs), mustJSON(fieldErrorStrings(errs))); d != "" {
			return "errors differ (-file +kube):\n" + d
		}
		return ""
	})

	// 2: the objects as the API server stores them, through the file source.
	dump := dumpCluster(t, a)
	res2, err := file.Load(file.Config{Paths: []string{dump}, ClusterID: casesCluster, Network: casesNetwork})
	if err != nil {
		t.Fatal(err)
	}
	keepNamedSecrets(res2.Mesh.Local())
	if d := diffJSON(mustJSON(normalizeForCompare(res2.Mesh.Local(), nil)), mustJSON(normalizeForCompare(got, nil))); d != "" {
		t.Errorf("state differs from the API server's objects loaded by the file source (-file +kube):\n%s", d)
	}
}

// fieldErrorStrings maps errors to the text of their *model.FieldError
// (the file source wraps them with the file and document), sorted.
func fieldErrorStrings(errs []error) []string {
	out := []string{}
	for _, e := range errs {
		out = append(out, fieldErrorString(e))
	}
	slices.Sort(out)
	return out
}

func fieldErrorString(e error) string {
	var fe *model.FieldError
	if errors.As(e, &fe) {
		return fe.Error()
	}
	return "not a FieldError: " + e.Error()
}

// apiServerService is the Service the API server creates (and keeps
// recreating) for itself.
const apiServerService = "kubernetes.default.svc.cluster.local"

// normalizeForCompare blanks Meta.Source and the namespace label the API
// server adds; with ref set, it keeps only the namespaces ref has.
func normalizeForCompare(c *model.ClusterState, ref *model.ClusterState) *model.ClusterState {
	c = c.Clone()
	if ref != nil {
		if ref.Service(apiServerService) == nil {
			c.Services = slices.DeleteFunc(c.Services, func(s model.Service) bool { return s.Hostname == apiServerService })
		}
		c.Namespaces = slices.DeleteFunc(c.Namespaces, func(n model.Namespace) bool {
			return !slices.ContainsFunc(ref.Namespaces, func(r model.Namespace) bool { return r.Name == n.Name })
		})
		for i := range c.Services {
			serviceDefaults(&c.Services[i], ref.Service(c.Services[i].Hostname))
		}
	}
	for i := range c.Namespaces {
		n := &c.Namespaces[i]
		if n.Labels["kubernetes.io/metadata.name"] == n.Name {
			delete(n.Labels, "kubernetes.io/metadata.name")
			if len(n.Labels) == 0 {
				n.Labels = nil
			}
		}
	}
	clear := func(m *model.Meta) { m.Source = "" }
	for i := range c.Namespaces {
		clear(&c.Namespaces[i].Meta)
	}
	gatewayAPIStatusWithoutServerFields(c.GatewayAPIStatus)
	for i := range c.Services {
		clear(&c.Services[i].Meta)
	}
	for i := range c.Gateways {
		clear(&c.Gateways[i].Meta)
	}
	for i := range c.VirtualServices {
		clear(&c.VirtualServices[i].Meta)
	}
	for i := range c.DestinationRules {
		clear(&c.DestinationRules[i].Meta)
	}
	for i := range c.ServiceEntries {
		clear(&c.ServiceEntries[i].Meta)
	}
	for i := range c.Secrets {
		clear(&c.Secrets[i].Meta)
	}
	return c
}

// serviceDefaults undoes what the API server fills in when the YAML leaves
// it out: an allocated clusterIP, targetPort = port.
func serviceDefaults(s, ref *model.Service) {
	if ref == nil {
		return
	}
	if ref.ClusterIP == "" {
		s.ClusterIP = ""
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if rp, ok := ref.Port(p.Port); ok && rp.TargetPort == 0 && rp.TargetPortName == "" && p.TargetPort == p.Port {
			p.TargetPort = 0
		}
	}
}

// dumpGVRs are what the source reads, as the API server serves them.
var dumpGVRs = []schema.GroupVersionResource{
	{Version: "v1", Resource: "namespaces"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "nodes"},
	{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
	{Version: "v1", Resource: "secrets"},
	{Group: "networking.istio.io", Version: "v1", Resource: "gateways"},
	{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
	{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
	{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingressclasses"},
}

// dumpCluster writes every object the source reads, as stored, to one YAML
// file and returns its path.
func dumpCluster(t *testing.T, a *applier) string {
	t.Helper()
	var b strings.Builder
	for _, gvr := range append(slices.Clone(dumpGVRs), gatewayAPIGVRs()...) {
		items, err := a.list(ctxT(t), gvr)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			y, err := yaml.Marshal(it.Object)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("---\n")
			b.Write(y)
		}
	}
	p := filepath.Join(t.TempDir(), "dump.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// diffJSON returns "" when a == b, else a line diff (-a +b) with context.
func diffJSON(a, b string) string {
	return cmp.Diff(strings.Split(a, "\n"), strings.Split(b, "\n"))
}

// gatewayAPIStatusWithoutServerFields zeroes the generations of st and
// drops the parentRefs' group and kind where they are the defaults (the API
// server sets both; files have neither).
func gatewayAPIStatusWithoutServerFields(st *model.GatewayAPIStatus) {
	if st == nil {
		return
	}
	zero := func(cs []model.Condition) {
		for i := range cs {
			cs[i].ObservedGeneration = 0
		}
	}
	for i := range st.Classes {
		st.Classes[i].Generation = 0
		zero(st.Classes[i].Conditions)
	}
	for i := range st.Gateways {
		g := &st.Gateways[i]
		g.Generation = 0
		zero(g.Conditions)
		for j := range g.Listeners {
			zero(g.Listeners[j].Conditions)
		}
	}
	for i := range st.Routes {
		r := &st.Routes[i]
		r.Generation = 0
		for j := range r.Parents {
			p := &r.Parents[j]
			zero(p.Conditions)
			if p.ParentRef.Group != nil && *p.ParentRef.Group == convert.GatewayAPIGroup {
				p.ParentRef.Group = nil
			}
			if p.ParentRef.Kind != nil && *p.ParentRef.Kind == "Gateway" {
				p.ParentRef.Kind = nil
			}
		}
	}
}
