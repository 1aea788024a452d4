package federation

import (
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/metrictest"
)

// TestRestartWithLowerGenerationStillWins: a daemon restarts with its state
// and counter lost and a clock an hour behind, so its first generation is
// lower than the one the mesh holds. It learns the old generation from the
// mesh and re-publishes above it; no node ever goes back to an older
// generation, and every node ends with the restarted daemon's state.
func TestRestartWithLowerGenerationStillWins(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a, b, c := m.start("a", 0, nil), m.start("b", 0, nil), m.start("c", 0, nil)
	nodes := []*tnode{a, b, c}
	a.setLocal(t, 1, 2)
	eventually(t, "a rev 1 everywhere", func() bool { return m.allHave(nodes, "a", 1) })
	m.waitJoined(t, nodes)
	oldGen := a.LocalGeneration()
	a.Close()

	behind := func() time.Time { return time.Now().Add(-time.Hour) }
	a2 := m.start("a", 0, func(c *Config, o *Options) { c.Seeds = []string{b.Addr()}; o.Now = behind })
	a2.setLocal(t, 2, 2)
	nodes = []*tnode{a2, b, c}
	eventually(t, "restarted a's rev 2 everywhere", func() bool { return m.allHave(nodes, "a", 2) })
	if g := a2.LocalGeneration(); g <= oldGen {
		t.Fatalf("restarted generation %d is not above the old %d", g, oldGen)
	}
	if g := b.remote("a").Generation; g != a2.LocalGeneration() {
		t.Fatalf("b holds generation %d of a, a2 has %d", g, a2.LocalGeneration())
	}
	for _, n := range nodes {
		n.checkMonotonic(t)
	}
}

// TestDeadPeerWithdrawnAfterWindowAndRestored: a daemon killed without
// leaving keeps its cluster in the others' remote sets for the fail-static
// window after it is detected dead, is then withdrawn, and comes back with
// its current state when a daemon of that cluster returns.
func TestDeadPeerWithdrawnAfterWindowAndRestored(t *testing.T) {
	const window = 1500 * time.Millisecond
	m := newTestMesh(t, window)
	a, b, c := m.start("a", 0, nil), m.start("b", 0, nil), m.start("c", 0, nil)
	nodes := []*tnode{a, b, c}
	for _, n := range nodes {
		n.setLocal(t, 1, 2)
	}
	for _, n := range nodes {
		eventually(t, n.cluster+" everywhere", func() bool { return m.allHave(nodes, n.cluster, 1) })
	}
	m.waitSecrets(t, nodes)
	m.waitJoined(t, nodes)
	killed := time.Now()
	a.Close()
	for _, n := range []*tnode{b, c} {
		eventually(t, n.name+" withdraws a", func() bool { return n.remote("a") == nil })
		dead, _ := n.memberState(a.name)
		if dead.State != "dead" {
			t.Fatalf("%s sees a as %s", n.name, dead.State)
		}
		at, ok := n.withdrawnAt("a", killed)
		if !ok || at.Sub(dead.StateSince) < window {
			t.Fatalf("%s withdrew a at %v, %v after it was declared dead; window %v", n.name, at, at.Sub(dead.StateSince), window)
		}
		t.Logf("%s: detection %v after the kill, withdrawal %v after the kill", n.name, dead.StateSince.Sub(killed), at.Sub(killed))
		if w := metrictest.Sum(t, n.reg, "meshgate_federation_withdrawals_total", map[string]string{"cluster": "a"}); w != 1 {
			t.Fatalf("%s withdrawals_total{cluster=a} = %v", n.name, w)
		}
	}
	if _, ok := b.RemoteSecrets()["a"]; !ok {
		t.Fatal("the remote secret of a withdrawn cluster must stay (to re-join through it)")
	}
	a2 := m.start("a", 0, func(c *Config, _ *Options) { c.Seeds = []string{b.Addr()} })
	a2.setLocal(t, 2, 3)
	eventually(t, "a back at rev 2", func() bool { return m.allHave([]*tnode{b, c}, "a", 2) })
	for _, n := range nodes {
		n.checkMonotonic(t)
	}
	// The restarted daemon joined under a new name; its dead predecessor is
	// no longer listed: one member per cluster, alive.
	for _, n := range []*tnode{b, c} {
		eventually(t, n.name+" lists one member of a", func() bool {
			var of []Member
			for _, mb := range n.Members() {
				if mb.Cluster == "a" {
					of = append(of, mb)
				}
			}
			return len(of) == 1 && of[0].State == "alive" && of[0].Name == a2.name
		})
	}
}
