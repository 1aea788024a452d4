package wire

import (
	"reflect"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

func mcsState() *model.ClusterState {
	c := &model.ClusterState{ID: "east", Services: []model.Service{
		{Meta: model.Meta{Name: "exported", Namespace: "ns"}, Hostname: "exported.ns.svc.cluster.local", Ports: []model.ServicePort{{Name: "http", Port: 80}}},
		{Meta: model.Meta{Name: "hidden", Namespace: "ns", Annotations: map[string]string{AnnotationExportTo: "~"}}, Hostname: "hidden.ns.svc.cluster.local"},
		{Meta: model.Meta{Name: "plain", Namespace: "ns"}, Hostname: "plain.ns.svc.cluster.local"},
	}, ServiceExports: []model.ServiceExport{
		{Meta: model.Meta{Name: "exported", Namespace: "ns"}, Created: "2026-01-01T00:00:00Z"},
		{Meta: model.Meta{Name: "hidden", Namespace: "ns"}},  // invalid: exportTo ~
		{Meta: model.Meta{Name: "missing", Namespace: "ns"}}, // invalid: no Service
	}}
	c.Normalize()
	return c
}

func roundTrip(t *testing.T, b Body) *model.ClusterState {
	t.Helper()
	z, h, err := EncodeBody(&b)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := DecodeBody(&Record{Cluster: b.Cluster, Hash: h, Body: z}, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serviceNames(c *model.ClusterState) []string {
	var out []string
	for _, s := range c.Services {
		out = append(out, s.Name)
	}
	return out
}

// TestServiceExportsTravel: valid ServiceExports cross clusters in both
// export modes; in serviceexport mode only the exported Services do.
func TestServiceExportsTravel(t *testing.T) {
	wantExports := []model.ServiceExport{{Meta: model.Meta{Name: "exported", Namespace: "ns", Source: "federation:east"}, Created: "2026-01-01T00:00:00Z"}}
	for mode, wantSvcs := range map[string][]string{"": {"exported", "plain"}, ExportAll: {"exported", "plain"}, ExportServiceExport: {"exported"}} {
		c := roundTrip(t, BuildBody(mcsState(), nil, BodyOptions{ExportMode: mode}))
		if got := serviceNames(c); !reflect.DeepEqual(got, wantSvcs) {
			t.Errorf("mode %q: services %v, want %v", mode, got, wantSvcs)
		}
		if !reflect.DeepEqual(c.ServiceExports, wantExports) {
			t.Errorf("mode %q: exports %+v, want %+v", mode, c.ServiceExports, wantExports)
		}
	}
}

// TestServiceExportsChecked: an export without a name, or twice, is corrupt.
func TestServiceExportsChecked(t *testing.T) {
	for _, exps := range [][]ServiceExport{{{Namespace: "ns"}}, {{Name: "a", Namespace: "ns"}, {Name: "a", Namespace: "ns", Created: "x"}}} {
		b := Body{Cluster: "east", ServiceExports: exps}
		z, h, _ := EncodeBody(&b)
		_, _, err := DecodeBody(&Record{Cluster: "east", Hash: h, Body: z}, DefaultLimits)
		if err == nil || !strings.Contains(err.Error(), "serviceExports[") {
			t.Errorf("%+v: err %v, want one naming serviceExports", exps, err)
		}
	}
}
