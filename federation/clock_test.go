package federation

import (
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/metrictest"
)

func skewed(d time.Duration) func(*Config, *Options) {
	return func(_ *Config, o *Options) { o.Now = func() time.Time { return time.Now().Add(d) } }
}

// TestClockOffsets: three daemons over real memberlist sockets, two with
// skewed clocks (+3s, -2s). The fetch path's timed exchanges estimate every
// peer's offset within the error bound they report (the bound holds
// exactly: the skews are constant); a peer's observation time arrives moved
// onto the receiver's clock; the offsets are exported, and members shows
// them.
func TestClockOffsets(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	skews := map[string]time.Duration{"a": 0, "b": 3 * time.Second, "c": -2 * time.Second}
	var nodes []*tnode
	for _, c := range []string{"a", "b", "c"} {
		n := m.start(c, 0, skewed(skews[c]))
		n.setLocal(t, 1, 2)
		nodes = append(nodes, n)
	}
	m.waitJoined(t, nodes)
	for _, n := range nodes {
		eventually(t, "everyone holds "+n.cluster+"@1", func() bool { return m.allHave(nodes, n.cluster, 1) })
	}
	// Changes until every node has timed an exchange with every other
	// (fetches go to any holder, so which pairs a change times varies).
	estimated := func() bool {
		for _, n := range nodes {
			for _, o := range nodes {
				if _, ok := n.ClockOffset(o.Name()); !ok {
					return false
				}
			}
		}
		return true
	}
	rev := 1
	for ; !estimated() && rev < 200; rev++ {
		for _, n := range nodes {
			n.setLocal(t, rev+1, 2)
		}
		for _, n := range nodes {
			eventually(t, "everyone holds "+n.cluster, func() bool { return m.allHave(nodes, n.cluster, rev+1) })
		}
	}
	if !estimated() {
		t.Fatalf("after %d changes some pair of nodes has no clock estimate", rev)
	}
	for _, n := range nodes {
		for _, o := range nodes {
			off, _ := n.ClockOffset(o.Name())
			want := skews[o.cluster] - skews[n.cluster]
			if d := (off.Offset - want).Abs(); d > off.Error+time.Millisecond {
				t.Errorf("%s's estimate of %s: offset %v ± %v, true %v", n.cluster, o.cluster, off.Offset, off.Error, want)
			}
			if n != o && off.Error > 500*time.Millisecond {
				t.Errorf("%s's estimate of %s: error bound %v on loopback", n.cluster, o.cluster, off.Error)
			}
			t.Logf("%s sees %s: offset %v ± %v (true %v)", n.cluster, o.cluster, off.Offset, off.Error, want)
		}
	}

	// b's next change: observed at b on b's clock, delivered to a on a's.
	a, b := nodes[0], nodes[1]
	before := time.Now()
	b.setLocal(t, rev+10, 2)
	after := time.Now()
	eventually(t, "a holds b's change", func() bool { return revOf(a.remote("b")) == rev+10 })
	got := a.remote("b").ObservedAt
	off, _ := a.ClockOffset(b.Name())
	if got.Before(before.Add(-off.Error-time.Millisecond)) || got.After(after.Add(off.Error+time.Millisecond)) {
		t.Fatalf("b's observation arrived at a as %v, want within [%v, %v] ± %v (b's clock says %v)",
			got, before, after, off.Error, got.Add(off.Offset))
	}

	if v, ok := metrictest.Get(t, a.reg, "meshgate_federation_clock_offset_seconds", map[string]string{"peer": b.Name()}); !ok || (v-3) > 0.5 || (v-3) < -0.5 {
		t.Errorf("exported offset of b at a: %v (exists %v)", v, ok)
	}
	if _, ok := metrictest.Get(t, a.reg, "meshgate_federation_clock_offset_error_seconds", map[string]string{"peer": b.Name()}); !ok {
		t.Error("no exported error bound of b's offset at a")
	}
	if n := metrictest.Sum(t, a.reg, "meshgate_federation_gossip_seconds", map[string]string{"origin_cluster": "b"}); n == 0 {
		t.Error("no gossip stage observed for b at a")
	}
	mb, _ := a.memberState(b.Name())
	if mb.ClockOffsetSeconds == nil || (*mb.ClockOffsetSeconds-3) > 0.5 || (*mb.ClockOffsetSeconds-3) < -0.5 || mb.ClockErrorSeconds == nil {
		t.Errorf("members shows b's offset as %v ± %v", mb.ClockOffsetSeconds, mb.ClockErrorSeconds)
	}
	if mb.GenerationAgeSeconds == nil || *mb.GenerationAgeSeconds < 0 || *mb.GenerationAgeSeconds > 60 {
		t.Errorf("members shows b's generation age as %v (its clock is 3s ahead: uncorrected it would be negative)", mb.GenerationAgeSeconds)
	}
	self, _ := a.memberState(a.Name())
	if self.ClockOffsetSeconds == nil || *self.ClockOffsetSeconds != 0 {
		t.Errorf("members shows the local offset as %v, want 0", self.ClockOffsetSeconds)
	}
}
