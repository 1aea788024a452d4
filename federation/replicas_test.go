package federation

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/test/metrictest"
)

func elected(c *Config, _ *Options) { c.Elected = true }

// heldRecord is the record of cluster tn holds (nil: none) and its lease.
func (tn *tnode) heldRecord(cluster string) (*wire.Record, *wire.Lease) {
	tn.Node.mu.Lock()
	defer tn.Node.mu.Unlock()
	if r := tn.records[cluster]; r != nil {
		return &r.rec, r.lease
	}
	return nil, nil
}

// publishedBy reports whether tn holds cluster at rev, published by origin
// under a lease with the given term.
func (tn *tnode) publishedBy(cluster string, rev int, origin string, term uint64) bool {
	rec, l := tn.heldRecord(cluster)
	return rec != nil && rec.Origin == origin && l != nil && l.Transitions == term && revOf(tn.remote(cluster)) == rev
}

// TestReplicasPublishOnlyUnderTheLease: two elected replicas of cluster a
// and a peer p, over real memberlist sockets. Nothing of a is published
// before a replica leads; the leader's records carry its lease; the other
// replica's changes go nowhere; its members table names the leader; when
// the leader dies the other replica takes the lease and publishes above the
// old generation, with no warning about duplicate owners. OwnTerm names the
// newest lease of the cluster each replica knows.
func TestReplicasPublishOnlyUnderTheLease(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	p := m.start("p", 0, nil)
	a1, a2 := m.start("a", 0, elected), m.start("a", 0, elected)
	m.waitJoined(t, []*tnode{p, a1, a2})
	a1.setLocal(t, 1, 2)
	a2.setLocal(t, 1, 2)
	p.setLocal(t, 1, 1)
	eventually(t, "a1 and a2 hold p", func() bool { return revOf(a1.remote("p")) == 1 && revOf(a2.remote("p")) == 1 })
	if rec, _ := p.heldRecord("a"); rec != nil || a1.Leading() || a2.Leading() {
		t.Fatalf("a published before any replica led: p holds %+v, leading %v %v", rec, a1.Leading(), a2.Leading())
	}

	if err := a1.SetLeading(&Lease{Holder: "a1-pod", Transitions: 1}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "p holds a from a1 under lease 1", func() bool { return p.publishedBy("a", 1, a1.name, 1) })
	a2.setLocal(t, 7, 2) // a replica's change: published by nobody
	a1.setLocal(t, 2, 2)
	eventually(t, "p holds a1's rev 2", func() bool { return p.publishedBy("a", 2, a1.name, 1) })
	for _, n := range []*tnode{p, a2} {
		eventually(t, n.name+" names a1 the leader of a", func() bool {
			mb, ok := n.memberState(a1.name)
			return ok && mb.Leader && mb.Lease != nil && *mb.Lease == Lease{Holder: "a1-pod", Transitions: 1}
		})
		if mb, _ := n.memberState(a2.name); mb.Leader {
			t.Fatalf("%s names a2 a leader too: %+v", n.name, mb)
		}
	}
	eventually(t, "a2 knows its cluster's term from a1's records", func() bool {
		k, ok := a2.OwnTerm()
		return ok && k == Lease{Holder: "a1-pod", Transitions: 1}
	})
	oldGen := a1.LocalGeneration()

	a1.Close() // the leader dies; the elector gives a2 the lease
	if err := a2.SetLeading(&Lease{Holder: "a2-pod", Transitions: 2}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "p holds a2's rev 7 under lease 2", func() bool { return p.publishedBy("a", 7, a2.name, 2) })
	if k, ok := a2.OwnTerm(); !ok || k != (Lease{Holder: "a2-pod", Transitions: 2}) {
		t.Fatalf("a2's own term while it leads: %+v %v", k, ok)
	}
	if g, _ := p.heldRecord("a"); g.Generation <= oldGen {
		t.Fatalf("a2 published generation %d, not above a1's %d", g.Generation, oldGen)
	}
	for _, n := range []*tnode{a1, a2} {
		if d := metrictest.Sum(t, n.reg, "meshgate_federation_duplicate_owner_total", nil); d != 0 {
			t.Fatalf("%s counted %v duplicate owners: replicas are not duplicates", n.name, d)
		}
	}
	p.checkMonotonic(t)

	if err := a2.SetLeading(nil); err != nil {
		t.Fatal(err)
	}
	if a2.Leading() {
		t.Fatal("a2 still leads after losing the lease")
	}
}

// TestDeposedHolderIsFenced: the leader a1 is cut off from the mesh (a
// paused process, a partition) while a2 takes the lease. a1, still
// believing it leads, publishes a change at a newer generation. When the
// network heals on p's side, p refuses a1's record (reason fenced) and
// never shows it; a relayed copy of it is refused the same way by q, which
// learned the newer lease from p; a1 hears of the newer lease and stops
// publishing; the mesh goes on with a2's state.
func TestDeposedHolderIsFenced(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	p := m.start("p", 0, nil)
	a2 := m.start("a", 0, elected)
	a1 := m.start("a", 1, elected) // group 1: cut off by the partition
	m.waitJoined(t, []*tnode{p, a1, a2})
	a1.setLocal(t, 1, 2)
	a2.setLocal(t, 1, 2)
	if err := a1.SetLeading(&Lease{Holder: "a1-pod", Transitions: 1}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "p holds a from a1", func() bool { return p.publishedBy("a", 1, a1.name, 1) })
	eventually(t, "a2 knows a1's lease", func() bool {
		mb, ok := a2.memberState(a1.name)
		return ok && mb.Leader
	})

	m.net.partition(true)
	eventually(t, "a1 cut off", func() bool { // dead, or already forgotten
		return !p.sees(a1.name, "alive") && !a1.sees(p.name, "alive") && !a1.sees(a2.name, "alive")
	})
	if err := a2.SetLeading(&Lease{Holder: "a2-pod", Transitions: 2}); err != nil {
		t.Fatal(err)
	}
	a2.setLocal(t, 2, 2)
	eventually(t, "p holds a2's rev 2", func() bool { return p.publishedBy("a", 2, a2.name, 2) })
	a1.setLocal(t, 3, 2) // the deposed holder, unaware, publishes
	if !a1.Leading() {
		t.Fatal("a1 stopped leading without hearing of the new lease")
	}
	deposed := a1.Node.localRecord()
	if deposed.Generation <= a2.LocalGeneration() {
		t.Fatalf("set-up: the deposed record's generation %d is not above a2's %d", deposed.Generation, a2.LocalGeneration())
	}
	// p (and then q) move to a1's side: they hold a2's lease 2 and meet
	// a1 alone, so what a1 sends is all they get.
	m.net.move(p.Addr(), 1)
	healed := time.Now()
	eventually(t, "p refuses a1's record", func() bool {
		return metrictest.Sum(t, p.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonFenced}) >= 1
	})
	if rec, _ := p.heldRecord("a"); rec.Origin != a2.name || revOf(p.remote("a")) != 2 {
		t.Fatalf("p holds a from %s at rev %d after the deposed holder's record", rec.Origin, revOf(p.remote("a")))
	}
	// Relayed: q, on the same side, learns lease 2 from p, then gets a1's
	// record from p's name.
	q := m.start("q", 1, nil)
	eventually(t, "q holds a2's state", func() bool { return q.publishedBy("a", 2, a2.name, 2) })
	before := metrictest.Sum(t, q.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonFenced})
	q.offerRecord(deposed, p.name)
	if got := metrictest.Sum(t, q.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonFenced}); got != before+1 {
		t.Fatalf("q's fenced rejections went %v → %v on a relayed deposed record", before, got)
	}
	if rec, _ := q.heldRecord("a"); rec.Origin != a2.name {
		t.Fatalf("q holds a from %s after the relayed deposed record", rec.Origin)
	}
	// q's history (what explain says) keeps a2's record as served and names
	// the refused newer one: fenced, its generation, who sent it.
	found := false
	for _, h := range q.History() {
		if h.Cluster != "a" {
			continue
		}
		found = true
		if h.Owner != a2.name || h.Status != model.ProvenanceServing || h.Rejected == nil || h.Rejected.Reason != ReasonFenced ||
			h.Rejected.Generation != deposed.Generation || h.Rejected.From != p.name || !strings.Contains(h.Rejected.Error, "deposed by a2-pod") {
			t.Fatalf("q's history of a after the fenced record: %+v (rejected %+v)", h, h.Rejected)
		}
	}
	if !found {
		t.Fatal("q's history has no cluster a")
	}

	m.net.partition(false) // a1 meets a2
	eventually(t, "a1 stops publishing", func() bool { return !a1.Leading() })
	a2.setLocal(t, 4, 2)
	eventually(t, "p and q hold a2's rev 4", func() bool { return p.publishedBy("a", 4, a2.name, 2) && q.publishedBy("a", 4, a2.name, 2) })
	if !a2.Leading() || a1.Leading() {
		t.Fatalf("after the heal: a1 leads %v, a2 leads %v", a1.Leading(), a2.Leading())
	}
	for _, n := range []*tnode{p, q} {
		for _, s := range n.historySince(healed) {
			if s.revs["a"] == 3 {
				t.Fatalf("%s showed the deposed holder's rev 3 at %v", n.name, s.at)
			}
		}
		n.checkMonotonic(t)
	}
}

// localRecord is the node's current local record (a copy).
func (n *Node) localRecord() wire.Record {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.local.rec
}

// heldSealKey is the sealing key of cluster's record tn holds.
func (tn *tnode) heldSealKey(cluster string) []byte {
	tn.Node.mu.Lock()
	defer tn.Node.mu.Unlock()
	if r := tn.records[cluster]; r != nil {
		return slices.Clone(r.sealKey)
	}
	return nil
}

// TestReplicasShareSealingKey: replicas a1 and a2 of cluster a are given
// the same sealing seed (the daemon's comes from the CA they share). p seals
// its remote secret for the key a1, the leader, publishes, and both
// replicas open it, the one that does not lead too. When a1 dies and a2
// leads, a2 publishes the same key: p keeps the envelopes it sealed and a2
// still holds p's secret. A replica a3 of cluster a without the seed (a
// key of its own) gets nothing (result old_key: not its key). A short seed
// is refused.
func TestReplicasShareSealingKey(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, minSealingSeed)
	seeded := func(c *Config, o *Options) { c.Elected, o.SealingSeed = true, seed }
	m := newTestMesh(t, time.Minute)
	p := m.start("p", 0, nil)
	a1, a2, a3 := m.start("a", 0, seeded), m.start("a", 0, seeded), m.start("a", 0, elected)
	m.waitJoined(t, []*tnode{p, a1, a2, a3})
	for _, n := range []*tnode{p, a1, a2, a3} {
		n.setLocal(t, 1, 1)
	}
	if err := a1.SetLeading(&Lease{Holder: "a1-pod", Transitions: 1}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "p holds a from a1", func() bool { return p.publishedBy("a", 1, a1.name, 1) })
	for _, n := range []*tnode{a1, a2} {
		eventually(t, n.name+" opens p's remote secret", func() bool {
			return string(n.RemoteSecrets()["p"]) == "kubeconfig-of-p"
		})
	}
	eventually(t, "a3 holds p's current record", func() bool {
		return a3.heldGeneration("p") == p.LocalGeneration() && secretResults(t, a3, "p", secretOldKey) > 0
	})
	if s, ok := a3.RemoteSecrets()["p"]; ok {
		t.Fatalf("a3, without the seed, opened p's remote secret (%d bytes)", len(s))
	}
	if n := secretResults(t, a2, "p", secretOpened); n == 0 {
		t.Fatal("a2 (not leading) counted no opened remote secret of p")
	}
	key := p.heldSealKey("a")
	if len(key) == 0 || !bytes.Equal(key, a1.sealer.pub) || !bytes.Equal(a2.sealer.pub, a1.sealer.pub) || bytes.Equal(a3.sealer.pub, a1.sealer.pub) {
		t.Fatalf("sealing keys: p holds %x for a; a1 %x a2 %x a3 %x", key, a1.sealer.pub, a2.sealer.pub, a3.sealer.pub)
	}

	a1.Close()
	if err := a2.SetLeading(&Lease{Holder: "a2-pod", Transitions: 2}); err != nil {
		t.Fatal(err)
	}
	a2.setLocal(t, 2, 1)
	eventually(t, "p holds a2's rev 2", func() bool { return p.publishedBy("a", 2, a2.name, 2) })
	if k := p.heldSealKey("a"); !bytes.Equal(k, key) {
		t.Fatalf("the new leader published another sealing key: %x, not %x", k, key)
	}
	if s := a2.RemoteSecrets()["p"]; string(s) != "kubeconfig-of-p" {
		t.Fatalf("a2 lost p's remote secret on taking the lead: %q", s)
	}

	if _, err := newSealer([]byte("short"), "mesh1", "a"); err == nil {
		t.Fatal("a 5-byte sealing seed was accepted")
	}
	other, err := newSealer(seed, "mesh1", "b")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.pub, a1.sealer.pub) {
		t.Fatal("one seed gives two clusters the same sealing key")
	}
}
