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
