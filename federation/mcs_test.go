package federation

import (
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
)

// TestExportModeServiceExport: a node in export mode serviceexport gossips
// only the Services its cluster exports with a ServiceExport, and the
// exports themselves; a node in the default mode gossips every Service.
func TestExportModeServiceExport(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("a", 0, func(c *Config, _ *Options) { c.ExportMode = wire.ExportServiceExport })
	b := m.start("b", 0, nil)
	for _, n := range []*tnode{a, b} {
		c := clusterState(n.cluster, 1, 1)
		c.Services = append(c.Services, model.Service{Meta: model.Meta{Name: "unexported", Namespace: "ns"},
			Hostname: "unexported.ns.svc.cluster.local", Ports: []model.ServicePort{{Port: 80}}})
		c.ServiceExports = []model.ServiceExport{{Meta: model.Meta{Name: "svc-" + n.cluster, Namespace: "ns"}, Created: "2026-01-01T00:00:00Z"}}
		c.Normalize()
		if err := n.SetLocal(c, []byte("kubeconfig-of-"+n.cluster)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "each cluster at the other", func() bool { return b.remote("a") != nil && a.remote("b") != nil })
	ofA, ofB := b.remote("a"), a.remote("b")
	if len(ofA.Services) != 1 || ofA.Services[0].Name != "svc-a" {
		t.Errorf("b's view of a (serviceexport mode): services %+v, want svc-a only", ofA.Services)
	}
	if len(ofB.Services) != 2 {
		t.Errorf("a's view of b (mode all): %d services, want 2", len(ofB.Services))
	}
	for _, c := range []*model.ClusterState{ofA, ofB} {
		if len(c.ServiceExports) != 1 || c.ServiceExports[0].Created != "2026-01-01T00:00:00Z" {
			t.Errorf("exports of %s: %+v", c.ID, c.ServiceExports)
		}
	}
}
