package federation

import (
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/metrictest"
)

// syncedWithin waits up to d for tn's Synced, reporting whether it closed.
func syncedWithin(tn *tnode, d time.Duration) bool {
	select {
	case <-tn.Synced():
		return true
	case <-time.After(d):
		return false
	}
}

// A node with nothing to join is synced at once; a node that joins a peer is
// synced only once it holds the peer's cluster, and its subscribers have that
// cluster when Synced closes: what a restarted daemon serves first.
func TestSyncedHoldsEveryLiveMembersCluster(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("cluster-a", 0, nil)
	if !syncedWithin(a, 10*time.Second) {
		t.Fatal("a node with no seed is not synced")
	}
	a.setLocal(t, 1, 3)
	b := m.start("cluster-b", 0, nil) // seeds: a
	if !syncedWithin(b, 10*time.Second) {
		t.Fatal("b did not sync with a")
	}
	if c := b.remote("cluster-a"); c == nil || revOf(c) != 1 {
		t.Fatalf("when Synced closed, b's subscriber had cluster-a %v, want revision 1", c)
	}
}

// A live member that has not published its cluster yet is waited for: the
// node syncs when the record arrives, not when the member is first seen.
func TestSyncedWaitsForAMemberThatHasNotPublished(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("cluster-a", 0, nil)
	b := m.start("cluster-b", 0, func(c *Config, _ *Options) { c.SyncTimeout = time.Hour })
	eventually(t, "b sees a alive", func() bool { return b.sees(a.Name(), "alive") })
	if syncedWithin(b, 300*time.Millisecond) {
		t.Fatal("b synced although a has not published its cluster")
	}
	a.setLocal(t, 7, 2)
	if !syncedWithin(b, 10*time.Second) {
		t.Fatal("b did not sync once a published")
	}
	if c := b.remote("cluster-a"); c == nil || revOf(c) != 7 {
		t.Fatalf("when Synced closed, b's subscriber had cluster-a %v, want revision 7", c)
	}
}

// A node whose seeds never answer gives up after SyncTimeout (counted), and
// not before: the local cluster is served without the mesh.
func TestSyncedGivesUpAfterTheTimeout(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	const timeout = 700 * time.Millisecond
	start := time.Now()
	n := m.start("cluster-a", 0, func(c *Config, _ *Options) {
		c.Seeds = []string{"127.0.0.1:1"} // nothing listens
		c.SyncTimeout = timeout
	})
	if !syncedWithin(n, 10*time.Second) {
		t.Fatal("Synced did not close after the timeout")
	}
	if took := time.Since(start); took < timeout {
		t.Fatalf("Synced closed after %v, before the %v timeout, with no peer", took, timeout)
	}
	if v := metrictest.Sum(t, n.reg, "meshgate_federation_initial_sync_seconds", nil); v < timeout.Seconds() {
		t.Fatalf("meshgate_federation_initial_sync_seconds = %v, want ≥ %v", v, timeout.Seconds())
	}
}
