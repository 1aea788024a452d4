package federation

import (
	"sync"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/metrictest"
)

// TestDeadPeerHeldWhileItsDataPlaneServes: a's daemon dies; b's
// DataPlaneServing says a's gateways still answer, so a stays past the
// fail-static window (b keeps asking); once it says they do not, a is
// withdrawn at the next recheck.
func TestDeadPeerHeldWhileItsDataPlaneServes(t *testing.T) {
	const window = time.Second
	m := newTestMesh(t, window)
	var mu sync.Mutex
	serving, asked := true, 0
	a := m.start("a", 0, nil)
	b := m.start("b", 0, func(_ *Config, o *Options) {
		o.DataPlaneServing = func(c *model.ClusterState) bool {
			mu.Lock()
			defer mu.Unlock()
			if c.ID == "a" {
				asked++
			}
			return serving
		}
	})
	a.setLocal(t, 1, 2)
	b.setLocal(t, 1, 2)
	eventually(t, "b holds a", func() bool { return m.allHave([]*tnode{b}, "a", 1) })
	a.Close()
	eventually(t, "b declares a dead", func() bool { st, _ := b.memberState(a.name); return st.State == "dead" })
	dead, _ := b.memberState(a.name)
	eventually(t, "b asks about a's data plane after the window", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return asked >= 3 && time.Since(dead.StateSince) > window+DataPlaneRecheck
	})
	if b.remote("a") == nil {
		t.Fatal("a was withdrawn while its data plane still served")
	}
	if w := metrictest.Sum(t, b.reg, "meshgate_federation_withdrawals_total", map[string]string{"cluster": "a"}); w != 0 {
		t.Fatalf("withdrawals_total{cluster=a} = %v while held", w)
	}
	mu.Lock()
	serving = false
	mu.Unlock()
	off := time.Now()
	eventually(t, "b withdraws a once its data plane is gone", func() bool { return b.remote("a") == nil })
	if d := time.Since(off); d > DataPlaneRecheck+time.Second {
		t.Errorf("withdrawn %s after the data plane went, want within about DataPlaneRecheck", d)
	}
	if w := metrictest.Sum(t, b.reg, "meshgate_federation_withdrawals_total", map[string]string{"cluster": "a"}); w != 1 {
		t.Fatalf("withdrawals_total{cluster=a} = %v, want 1", w)
	}
}
