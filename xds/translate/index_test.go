package translate

import (
	"slices"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

func TestDestinationRuleResolution(t *testing.T) {
	dr := func(ns, host string, exportTo ...string) model.DestinationRule {
		return model.DestinationRule{Meta: model.Meta{Name: "dr", Namespace: ns}, Host: host, ExportTo: exportTo}
	}
	const h = "reviews.default.svc.cluster.local"
	cases := []struct {
		name    string
		drs     []model.DestinationRule
		proxyNS string
		wantNS  string // "" = none
	}{
		{"service namespace", []model.DestinationRule{dr("default", "reviews")}, "istio-system", "default"},
		{"proxy namespace wins over service namespace", []model.DestinationRule{dr("default", "reviews"), dr("gw", h)}, "gw", "gw"},
		{"root namespace last", []model.DestinationRule{dr("istio-system", h)}, "gw", "istio-system"},
		{"another namespace is not consulted", []model.DestinationRule{dr("other", h)}, "gw", ""},
		{"exportTo . hides it from other namespaces", []model.DestinationRule{dr("default", h, ".")}, "gw", ""},
		{"wildcard host in the service namespace", []model.DestinationRule{dr("default", "*.default.svc.cluster.local")}, "gw", "default"},
		{"exact beats wildcard in the same namespace", []model.DestinationRule{
			{Meta: model.Meta{Name: "wild", Namespace: "default"}, Host: "*.svc.cluster.local"}, dr("default", h)}, "gw", "default"},
		{"root-namespace proxy: service namespace before a public root rule", []model.DestinationRule{dr("istio-system", h), dr("default", "reviews")}, "istio-system", "default"},
		{"root-namespace proxy: its private root rule first", []model.DestinationRule{dr("istio-system", h, "."), dr("default", "reviews")}, "istio-system", "istio-system"},
		{"exported to the proxy namespace by name", []model.DestinationRule{dr("default", h, "gw")}, "gw", "default"},
		{"exported to another namespace only", []model.DestinationRule{dr("default", h, "other")}, "gw", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mesh := &model.MeshState{LocalCluster: "c", Clusters: []*model.ClusterState{{ID: "c", DestinationRules: c.drs}}}
			got := BuildIndex(mesh, DefaultOptions()).destinationRule(h, c.proxyNS, "default", nil)
			switch {
			case c.wantNS == "" && got != nil:
				t.Fatalf("got %s, want none", got.NamespacedName())
			case c.wantNS != "" && (got == nil || got.Namespace != c.wantNS || got.Name != "dr"):
				t.Fatalf("got %v, want the rule in %s", got, c.wantNS)
			}
		})
	}
}

func TestProxyServiceTargetsWithoutIP(t *testing.T) {
	gwSvc := model.Service{Meta: model.Meta{Name: "istio-ingressgateway", Namespace: "istio-system"},
		Hostname: "istio-ingressgateway.istio-system.svc.cluster.local", Selector: map[string]string{"istio": "ingressgateway"},
		Ports:     []model.ServicePort{{Name: "http2", Port: 80, TargetPort: 8080}, {Name: "https", Port: 443, TargetPortName: "https"}},
		Endpoints: []model.Endpoint{{Address: "10.0.0.5", Ports: []model.EndpointPort{{Name: "http2", Port: 8080}, {Name: "https", Port: 8443}}}}}
	mesh := &model.MeshState{LocalCluster: "c", Clusters: []*model.ClusterState{{ID: "c", Services: []model.Service{gwSvc}}}}
	ix := BuildIndex(mesh, DefaultOptions())
	for _, ip := range []string{"10.0.0.5", "", "10.9.9.9"} {
		got := ix.proxyServiceTargets(&Proxy{IP: ip, ClusterID: "c", Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway", "pod": "x"}})
		if len(got) != 2 || got[0].TargetPort != 8080 || got[1].TargetPort != 8443 {
			t.Errorf("ip %q: %+v", ip, got)
		}
	}
	if got := ix.proxyServiceTargets(&Proxy{ClusterID: "c", Namespace: "other", Labels: map[string]string{"istio": "ingressgateway"}}); len(got) != 0 {
		t.Errorf("a gateway in another namespace is not selected: %+v", got)
	}
}

// TestDestinationRuleMerge: rules of one namespace for one host merge as in
// istiod (first traffic policy wins, subsets appended, duplicates reported),
// rules with other exportTo stay apart, and a workloadSelector rule applies
// only to the proxies of its namespace it selects.
func TestDestinationRuleMerge(t *testing.T) {
	const h = "reviews.default.svc.cluster.local"
	rr := &model.TrafficPolicy{LoadBalancer: &model.LoadBalancer{Simple: "ROUND_ROBIN"}}
	random := &model.TrafficPolicy{LoadBalancer: &model.LoadBalancer{Simple: "RANDOM"}}
	drs := []model.DestinationRule{
		{Meta: model.Meta{Name: "b", Namespace: "default"}, Host: "reviews", TrafficPolicy: random,
			Subsets: []model.Subset{{Name: "v2"}, {Name: "v1", Labels: map[string]string{"dup": "yes"}}}},
		{Meta: model.Meta{Name: "a", Namespace: "default"}, Host: h, Subsets: []model.Subset{{Name: "v1"}}},
		{Meta: model.Meta{Name: "c", Namespace: "default"}, Host: h, TrafficPolicy: rr, Subsets: []model.Subset{{Name: "v3"}}},
		{Meta: model.Meta{Name: "sel", Namespace: "gw"}, Host: h, WorkloadSelector: map[string]string{"app": "gw-a"}, TrafficPolicy: rr},
	}
	mesh := &model.MeshState{LocalCluster: "c", Clusters: []*model.ClusterState{{ID: "c", DestinationRules: drs}}}
	ix := BuildIndex(mesh, DefaultOptions())
	got := ix.destinationRule(h, "istio-system", "default", nil)
	if got == nil || got.Name != "a" || got.TrafficPolicy != random {
		t.Fatalf("merged rule: got %+v, want a's name with b's traffic policy (a has none)", got)
	}
	var names []string
	for _, s := range got.Subsets {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"v1", "v2", "v3"}) || got.Subsets[0].Labels != nil {
		t.Errorf("subsets %v (first v1 kept), want [v1 v2 v3]", names)
	}
	if len(ix.errs) != 1 || !strings.Contains(ix.errs[0].Error(), `subset "v1"`) {
		t.Errorf("want one error for the duplicate subset v1, got %v", ix.errs)
	}
	if drs[1].Subsets[0].Name != "v1" || len(drs[1].Subsets) != 1 {
		t.Error("merging modified the input rule")
	}
	if got := ix.destinationRule(h, "gw", "default", map[string]string{"app": "gw-a"}); got == nil || got.Name != "sel" {
		t.Errorf("selected proxy: got %v, want the workloadSelector rule", got)
	}
	// istiod: the proxy's namespace has a rule for the host, so the search
	// stops there, and it selects another workload: no rule at all.
	if got := ix.destinationRule(h, "gw", "default", map[string]string{"app": "gw-b"}); got != nil {
		t.Errorf("unselected proxy: got %v, want none", got)
	}
}
