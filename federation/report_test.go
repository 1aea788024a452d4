package federation

import (
	"reflect"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

// TestProbeReportTravels: the gateways a daemon finds down travel in its
// cluster's record over real memberlist sockets: a change of the report
// alone is a new generation, and clearing it is one too.
func TestProbeReportTravels(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a, b := m.start("a", 0, nil), m.start("b", 0, nil)
	a.setLocal(t, 1, 1)
	eventually(t, "b holds a rev 1", func() bool { return m.allHave([]*tnode{b}, "a", 1) })
	gen := b.remote("a").Generation

	report := []model.NetworkGateway{{Network: "net-b", Cluster: "b", Address: "192.0.2.1", Port: 15443}}
	st := clusterState("a", 1, 1)
	st.UnreachableGateways = report
	if err := a.SetLocal(st, []byte("kubeconfig-of-a")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b holds a's report", func() bool {
		r := b.remote("a")
		return r != nil && r.Generation > gen && reflect.DeepEqual(r.UnreachableGateways, report)
	})
	a.setLocal(t, 1, 1) // the same state without a report
	eventually(t, "b holds a without a report", func() bool {
		r := b.remote("a")
		return r != nil && len(r.UnreachableGateways) == 0 && revOf(r) == 1
	})
}
