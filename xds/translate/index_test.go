package translate

import (
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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mesh := &model.MeshState{LocalCluster: "c", Clusters: []*model.ClusterState{{ID: "c", DestinationRules: c.drs}}}
			got := BuildIndex(mesh, DefaultOptions()).destinationRule(h, c.proxyNS, "default")
			switch {
			case c.wantNS == "" && got != nil:
				t.Fatalf("got %s, want none", got.NamespacedName())
			case c.wantNS != "" && (got == nil || got.Namespace != c.wantNS || got.Name != "dr"):
				t.Fatalf("got %v, want the rule in %s", got, c.wantNS)
			}
		})
	}
}
