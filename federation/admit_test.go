package federation

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/logtest"
	"github.com/meshgate/meshgate/test/metrictest"
)

// envelopesFor lists the recipients of the envelopes in r.
func envelopesFor(t *testing.T, r wire.Record) []string {
	t.Helper()
	_, part, err := wire.DecodeBody(&r, wire.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range part.Sealed {
		out = append(out, e.Recipient)
	}
	return out
}

func refusedOf(tn *tnode, cluster string) (RefusedCluster, bool) {
	for _, r := range tn.Refused() {
		if r.Cluster == cluster {
			return r, true
		}
	}
	return RefusedCluster{}, false
}

// A holder of the gossip key runs a real node of a cluster id nobody
// admitted ("evil"), under a CA of its own, and publishes it (it admits
// every cluster itself, so it takes whatever it is sent). a and b refuse
// every digest and record of evil: evil never enters their remote sets, is
// not pinned, and gets no envelope in their records; a and b seal for each
// other only. Each refusal is counted (reason not_admitted), the cluster
// is logged once however many messages come, and members and Refused show
// it. A node that starts afterwards is synced without waiting for evil.
func TestImpostorClusterRefused(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := m.start("a", 0, func(_ *Config, o *Options) { o.Logger = logger })
	b := m.start("b", 0, nil)
	nodes := []*tnode{a, b}
	for _, n := range nodes {
		n.setLocal(t, 1, 2)
	}
	m.waitSecrets(t, nodes)

	evil := m.start("evil", 0, func(c *Config, _ *Options) { c.AdmitClusters, c.AdmitAnyCluster = nil, true })
	for rev := 1; rev <= 3; rev++ { // three generations: more messages, still one log line
		evil.setLocal(t, rev, 2)
	}
	for _, n := range nodes {
		eventually(t, n.cluster+" refuses evil's messages", func() bool {
			r, ok := refusedOf(n, "evil")
			return ok && r.Messages >= 3 && rejected(t, n, ReasonNotAdmitted) >= 3
		})
	}
	// evil admits everyone: it holds a's and b's records (trust on first
	// use), and neither carries an envelope for it.
	eventually(t, "evil holds a's and b's current records", func() bool {
		return evil.heldGeneration("a") == a.LocalGeneration() && evil.heldGeneration("b") == b.LocalGeneration()
	})
	for _, owner := range nodes {
		r, _ := evil.heldRecord(owner.cluster)
		if r == nil {
			t.Fatalf("evil holds no record of %s", owner.cluster)
		}
		if got := envelopesFor(t, *r); slices.Contains(got, "evil") || len(got) != 1 {
			t.Errorf("%s's record is sealed for %v, want only the other genuine cluster", owner.cluster, got)
		}
	}
	if s := evil.RemoteSecrets(); len(s) != 0 {
		t.Errorf("evil opened %d remote secrets", len(s))
	}
	for _, n := range nodes {
		if n.remote("evil") != nil {
			t.Errorf("%s: evil is in the remote set", n.name)
		}
		for _, s := range n.historySince(time.Time{}) {
			if _, ok := s.revs["evil"]; ok {
				t.Errorf("%s: a notification held evil", n.name)
				break
			}
		}
		if r, _ := n.heldRecord("evil"); r != nil {
			t.Errorf("%s holds a record of evil", n.name)
		}
		if n.pinnedBundle("evil") != nil {
			t.Errorf("%s pinned evil's bundle", n.name)
		}
		if want := []string{"a", "b"}; !slices.Equal(n.SealedFor(), slices.DeleteFunc(want, func(c string) bool { return c == n.cluster })) {
			t.Errorf("%s seals for %v", n.name, n.SealedFor())
		}
		if g := metrictest.Sum(t, n.reg, "meshgate_federation_refused_clusters", nil); g != 1 {
			t.Errorf("%s: refused_clusters = %v, want 1", n.name, g)
		}
		mb, ok := n.memberState(evil.name)
		if !ok || !mb.Refused || mb.Visible {
			t.Errorf("%s: members shows evil as %+v (listed %v), want refused", n.name, mb, ok)
		}
		if mb, _ := n.memberState(nodes[0].name); mb.Refused {
			t.Errorf("%s: members shows a as refused", n.name)
		}
	}
	if k := strings.Count(logs.String(), "remote cluster refused"); k != 1 {
		t.Errorf("a logged evil's refusal %d times, want once:\n%s", k, logs.String())
	}
	if strings.Contains(logs.String(), "kubeconfig-of-") {
		t.Error("a remote secret was logged")
	}

	// A node started now learns a and b and is synced without evil's
	// cluster (refused, not missing).
	c := m.start("c", 0, func(c *Config, _ *Options) { c.SyncTimeout = time.Hour })
	c.setLocal(t, 1, 2)
	select {
	case <-c.Synced():
	case <-time.After(90 * time.Second):
		t.Fatal("c never synced: it waits for the refused cluster")
	}
	if c.remote("a") == nil || c.remote("b") == nil || c.remote("evil") != nil {
		t.Errorf("c synced with a=%v b=%v evil=%v", c.remote("a") != nil, c.remote("b") != nil, c.remote("evil") != nil)
	}
}

// A new cluster the operator admits joins: a lists it (AdmitClusters,
// pinned at first contact), b pins its trust bundle at run time (what the
// remote-secret join does) after refusing it; b then fetches it at once,
// both seal their remote secrets for it and it opens them.
func TestAdmittedNewCluster(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("a", 0, func(c *Config, _ *Options) { c.AdmitClusters = append(c.AdmitClusters, "new") })
	b := m.start("b", 0, nil)
	for _, n := range []*tnode{a, b} {
		n.setLocal(t, 1, 2)
	}
	nw := m.start("new", 0, nil) // admits a and b (the harness's list)
	nw.setLocal(t, 1, 2)
	eventually(t, "b refuses new", func() bool { _, ok := refusedOf(b, "new"); return ok })
	eventually(t, "a holds new", func() bool { return revOf(a.remote("new")) == 1 })
	if n := rejected(t, a, ReasonNotAdmitted); n != 0 {
		t.Errorf("a refused %v messages of an admitted cluster", n)
	}
	if b.remote("new") != nil {
		t.Fatal("b holds new before the operator admitted it")
	}

	if err := b.Pin("new", identity.EncodeCertificatesPEM(m.ca("new").Roots())); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b holds new", func() bool { return revOf(b.remote("new")) == 1 })
	if _, ok := refusedOf(b, "new"); ok {
		t.Error("b still lists new as refused")
	}
	if g := metrictest.Sum(t, b.reg, "meshgate_federation_refused_clusters", nil); g != 0 {
		t.Errorf("b: refused_clusters = %v after the pin", g)
	}
	if n := metrictest.Sum(t, b.reg, "meshgate_federation_trust_pins_total", map[string]string{"cluster": "new", "how": pinFirstContact}); n != 0 {
		t.Errorf("b pinned new at first contact %v times despite the operator pin", n)
	}
	m.waitSecrets(t, []*tnode{a, b, nw})
}
