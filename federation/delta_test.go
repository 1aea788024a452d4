package federation

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/test/metrictest"
)

// stateBytesIn is what n received in State frames so far.
func stateBytesIn(t *testing.T, n *tnode) float64 {
	return metrictest.Sum(t, n.reg, "meshgate_federation_message_bytes_total", map[string]string{"direction": "in", "type": "state"})
}

// statesIn is the number of State frames n received so far.
func statesIn(t *testing.T, n *tnode) float64 {
	return metrictest.Sum(t, n.reg, "meshgate_federation_messages_total", map[string]string{"direction": "in", "type": "state"})
}

func deltaResults(t *testing.T, n *tnode, result string) float64 {
	return metrictest.Sum(t, n.reg, "meshgate_federation_state_deltas_total", map[string]string{"result": result})
}

// oneEndpointMoved is clusterState(cluster, 1, endpoints) with endpoint i's
// address changed to addr.
func oneEndpointMoved(cluster string, endpoints, i int, addr string) *model.ClusterState {
	c := clusterState(cluster, 1, endpoints)
	c.Services[0].Endpoints[i].Address = addr
	c.Normalize()
	return c
}

// holdsAddr reports whether n holds cluster with endpoint address addr.
func (tn *tnode) holdsAddr(cluster, addr string) bool {
	c := tn.remote(cluster)
	if c == nil || len(c.Services) == 0 {
		return false
	}
	for _, e := range c.Services[0].Endpoints {
		if e.Address == addr {
			return true
		}
	}
	return false
}

// TestStateDeltas: a cluster of 10,000 endpoints, over real memberlist
// sockets. Once every node holds it, one endpoint moves: p and q (clusters
// b and c) fetch the
// new record as a delta against the body they hold (from the owner or a
// relay), rebuild it, and hold exactly the owner's state; every State frame
// that carries the change to them is a delta, a small fraction of the full
// record (frames carrying older generations, late answers under load, are
// counted in the printed figures only).
// An older daemon o (cluster old, records without Deltas) that joins then
// is never sent a delta request (it would refuse the flag), asks for none
// and gets the next change in full. A delta
// that does not rebuild the signed body (a forging relay) is rejected and
// changes nothing.
func TestStateDeltas(t *testing.T) {
	const endpoints = 10000
	m := newTestMesh(t, time.Minute)
	a := m.start("a", 0, nil)
	p, q := m.start("b", 0, nil), m.start("c", 0, nil)
	nodes := []*tnode{a, p, q}
	m.waitJoined(t, nodes)
	for _, n := range nodes[1:] {
		n.setLocal(t, 1, 1)
	}
	if err := a.SetLocal(clusterState("a", 1, endpoints), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "everyone holds a", func() bool { return m.allHave(nodes, "a", 1) })
	eventually(t, "a, p and q know each other's capabilities", func() bool {
		for _, n := range []*tnode{a, p, q} {
			for _, c := range []string{"a", "b", "c"} {
				if rec, _ := n.heldRecord(c); c != n.cluster && rec == nil {
					return false
				}
			}
		}
		return true
	})
	full, _ := a.heldRecordLocal()
	for i, addr := range []string{"10.255.0.1", "10.255.0.2", "10.255.0.3"} {
		before, beforeN := map[*tnode]float64{}, map[*tnode]float64{}
		for _, n := range []*tnode{p, q} {
			before[n], beforeN[n] = stateBytesIn(t, n), statesIn(t, n)
		}
		if err := a.SetLocal(oneEndpointMoved("a", endpoints, 100*i, addr), nil); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes[1:] {
			eventually(t, fmt.Sprintf("%s holds change %d", n.name, i), func() bool { return n.holdsAddr("a", addr) })
		}
		gen := a.LocalGeneration()
		for _, n := range []*tnode{p, q} {
			got, frames := stateBytesIn(t, n)-before[n], statesIn(t, n)-beforeN[n]
			fmt.Printf("FIGURE state delta endpoints=%d change=%d node=%s states=%.0f bytes=%.0f (full record: body %d bytes, proof %d)\n",
				endpoints, i, n.cluster, frames, got, len(full.Body), full.Proof.Size())
			// The frames that carried this change (a late answer to an
			// earlier request, slow under load, carries an older one).
			carried := n.statesOf("a", gen)
			if len(carried) == 0 {
				t.Errorf("%s holds change %d (generation %d) without a State frame carrying it", n.name, i, gen)
			}
			for _, st := range carried {
				if !st.delta || st.size > len(full.Body)/10 {
					t.Errorf("%s received generation %d in a State frame of %d bytes (delta %v) for a one-endpoint change: the full body is %d",
						n.name, gen, st.size, st.delta, len(full.Body))
				}
			}
			if rec, _ := n.heldRecord("a"); rec == nil || rec.Hash != a.LocalHash() {
				t.Errorf("%s holds another body than a's", n.name)
			}
		}
	}
	if deltaResults(t, p, "applied")+deltaResults(t, q, "applied") < 3 {
		t.Errorf("applied deltas: p %v, q %v", deltaResults(t, p, "applied"), deltaResults(t, q, "applied"))
	}
	for _, n := range nodes { // requests before a node is known are refused (unknown_requester): no other reason
		all := metrictest.Sum(t, n.reg, "meshgate_federation_rejected_messages_total", nil)
		if r := all - metrictest.Sum(t, n.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonUnknownRequester}); r != 0 {
			t.Errorf("%s rejected %v messages", n.name, r)
		}
	}

	// An older daemon joins: it neither asks for deltas nor is asked.
	o := m.start("old", 0, func(c *Config, _ *Options) { c.noDeltas = true })
	m.waitJoined(t, append(nodes, o))
	o.setLocal(t, 1, 1)
	eventually(t, "a knows old's record", func() bool { rec, _ := a.heldRecord("old"); return rec != nil })
	if err := a.SetLocal(oneEndpointMoved("a", endpoints, 400, "10.255.0.4"), nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range append(nodes[1:], o) {
		eventually(t, n.name+" holds the fourth change", func() bool { return n.holdsAddr("a", "10.255.0.4") })
	}
	if n := deltaResults(t, o, "sent") + deltaResults(t, o, "full") + deltaResults(t, o, "applied"); n != 0 {
		t.Errorf("the older daemon asked for, was asked for or applied %v deltas", n)
	}
	if r := metrictest.Sum(t, o.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonCorrupt}); r != 0 {
		t.Errorf("the older daemon rejected %v messages as corrupt", r)
	}

	// A forged delta: it rebuilds a body other than the one the record's
	// hash (and signature) names.
	held, _ := p.heldRecord("a")
	braw, err := wire.RawBody(held, wire.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace(braw, []byte("10.255.0.4"), []byte("10.66.6.6"), 1)
	if bytes.Equal(forged, braw) {
		t.Fatal("no address to forge")
	}
	d, err := wire.EncodeDelta(braw, forged)
	if err != nil {
		t.Fatal(err)
	}
	st := wire.State{Mesh: "mesh1", Holder: q.name, Record: *held, DeltaBase: &held.Hash}
	st.Record.Generation++
	st.Record.Body = d
	if p.rebuildDelta(&st) != nil {
		t.Fatal("a delta rebuilding a forged body was accepted")
	}
	if r := metrictest.Sum(t, p.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonCorrupt}); r != 1 {
		t.Errorf("rejected as corrupt: %v, want 1", r)
	}
	if !p.holdsAddr("a", "10.255.0.4") || p.holdsAddr("a", "10.66.6.6") {
		t.Error("the forged delta changed what p holds")
	}
}

// heldRecordLocal is the local record tn publishes.
func (tn *tnode) heldRecordLocal() (*wire.Record, bool) {
	tn.Node.mu.Lock()
	defer tn.Node.mu.Unlock()
	if tn.local == nil {
		return nil, false
	}
	r := tn.local.rec
	return &r, true
}

// LocalHash is the hash of the body tn publishes.
func (tn *tnode) LocalHash() wire.Hash {
	r, _ := tn.heldRecordLocal()
	if r == nil {
		return wire.Hash{}
	}
	return r.Hash
}

// TestFiguresLargeClusterChange: one member owns a cluster of 10,000
// endpoints; one endpoint moves, five times. Per change: the bytes on the
// wire (all members, memberlist framing included) and the time until every
// member holds it, with state deltas and without (every daemon as a release
// before deltas). Printed; the only assertion is that the State frames
// (what deltas shrink) carry fewer bytes with deltas. The bytes on the wire
// are printed, not compared: under load memberlist's push/pull (full
// records on each rejoin) dominates them at 10 members, and one run of
// three had more with deltas than without.
func TestFiguresLargeClusterChange(t *testing.T) {
	const endpoints, changes = 10000, 5
	for _, size := range scale().sizes {
		perChange, statePerChange := map[bool]float64{}, map[bool]float64{}
		for _, deltas := range []bool{true, false} {
			m := newTestMesh(t, time.Hour)
			mod := func(c *Config, _ *Options) { c.noDeltas = !deltas }
			nodes := startMesh(t, m, size, mod)
			owner := nodes[0]
			if err := owner.SetLocal(clusterState(owner.cluster, 1, endpoints), nil); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the large cluster everywhere", func() bool {
				for _, n := range nodes[1:] {
					if c := n.remote(owner.cluster); c == nil || len(c.Services[0].Endpoints) != endpoints {
						return false
					}
				}
				return true
			})
			var took []time.Duration
			stateBytes := func() float64 {
				var sum float64
				for _, n := range nodes {
					sum += stateBytesIn(t, n)
				}
				return sum
			}
			before, stateBefore := m.net.total(), stateBytes()
			for i := range changes {
				addr := fmt.Sprintf("10.254.0.%d", i+1)
				start := time.Now()
				if err := owner.SetLocal(oneEndpointMoved(owner.cluster, endpoints, 10*i, addr), nil); err != nil {
					t.Fatal(err)
				}
				for _, n := range nodes[1:] {
					eventually(t, n.name+" holds the change", func() bool { return n.holdsAddr(owner.cluster, addr) })
				}
				took = append(took, time.Since(start))
			}
			perChange[deltas] = float64(m.net.total()-before) / changes
			statePerChange[deltas] = (stateBytes() - stateBefore) / changes
			fmt.Printf("FIGURE large cluster change nodes=%d endpoints=%d deltas=%v bytes/change=%.0f (%.0f per member; State frames %.0f) everywhere p50=%v max=%v\n",
				size, endpoints, deltas, perChange[deltas], perChange[deltas]/float64(size), statePerChange[deltas], percentile(took, 0.5).Round(time.Millisecond), slices.Max(took).Round(time.Millisecond))
			for _, n := range m.nodes {
				n.Close()
			}
		}
		if statePerChange[true] >= statePerChange[false] {
			t.Errorf("nodes=%d: %.0f State bytes per change with deltas, %.0f without", size, statePerChange[true], statePerChange[false])
		}
	}
}
