package federation

import (
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/metrictest"
)

// TestPartitionAndHeal cuts a six-node mesh into two groups of three. During
// the cut each side keeps the other's clusters for the fail-static window
// after detecting them dead, then withdraws them (the window is shorter than
// the cut); changes keep converging inside each side. After the heal every
// node holds every cluster at its owner's current revision, no cluster ever
// went back a generation, and no withdrawn cluster came back with an older
// revision than its owner's current one (no resurrected endpoint).
func TestPartitionAndHeal(t *testing.T) {
	const window = time.Second
	m := newTestMesh(t, window)
	var left, right []*tnode
	for _, c := range []string{"a", "b", "c"} {
		left = append(left, m.start(c, 0, nil))
	}
	for _, c := range []string{"d", "e", "f"} {
		right = append(right, m.start(c, 1, nil))
	}
	all := append(append([]*tnode{}, left...), right...)
	for _, n := range all {
		n.setLocal(t, 1, 3)
	}
	for _, n := range all {
		eventually(t, n.cluster+" everywhere", func() bool { return m.allHave(all, n.cluster, 1) })
	}

	cut := time.Now()
	m.net.partition(true)
	for _, l := range left {
		for _, r := range right {
			eventually(t, l.name+" and "+r.name+" see each other dead", func() bool { return l.sees(r.name, "dead") && r.sees(l.name, "dead") })
		}
	}
	left[0].setLocal(t, 2, 3)  // a changes during the cut
	right[0].setLocal(t, 2, 3) // d too
	eventually(t, "a rev 2 on the left", func() bool { return m.allHave(left, "a", 2) })
	eventually(t, "d rev 2 on the right", func() bool { return m.allHave(right, "d", 2) })
	for _, l := range left {
		for _, r := range right {
			eventually(t, l.name+" withdraws "+r.cluster, func() bool { return l.remote(r.cluster) == nil })
			eventually(t, r.name+" withdraws "+l.cluster, func() bool { return r.remote(l.cluster) == nil })
		}
	}
	for _, pair := range [][2]*tnode{{left[1], right[1]}, {right[2], left[2]}} {
		obs, gone := pair[0], pair[1]
		dead, _ := obs.memberState(gone.name)
		at, ok := obs.withdrawnAt(gone.cluster, cut)
		if !ok || at.Sub(dead.StateSince) < window {
			t.Fatalf("%s withdrew %s %v after detecting it dead; window %v", obs.name, gone.cluster, at.Sub(dead.StateSince), window)
		}
	}

	healed := time.Now()
	m.net.partition(false)
	want := map[string]int{"a": 2, "b": 1, "c": 1, "d": 2, "e": 1, "f": 1}
	for c, rev := range want {
		eventually(t, c+" at its current revision everywhere after the heal", func() bool { return m.allHave(all, c, rev) })
	}
	for _, n := range all {
		n.checkMonotonic(t)
		for _, s := range n.historySince(healed) {
			for c, rev := range s.revs {
				if rev != want[c] {
					t.Errorf("%s showed %s at revision %d after the heal (current %d): resurrected", n.name, c, rev, want[c])
				}
			}
		}
	}
	for _, c := range []string{"d", "e", "f"} {
		w := metrictest.Sum(t, left[1].reg, "meshgate_federation_withdrawals_total", map[string]string{"cluster": c})
		r := metrictest.Sum(t, left[1].reg, "meshgate_federation_restores_total", map[string]string{"cluster": c})
		if w != 1 || r != 1 {
			t.Errorf("%s: cluster %s withdrawn %v times, restored %v times; want once each", left[1].name, c, w, r)
		}
	}
}
