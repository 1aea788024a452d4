package federation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/metrictest"
)

// TestConvergeThreeNodes: a change in one cluster reaches every other node's
// remote set, with the exported content and the remote secret.
func TestConvergeThreeNodes(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a, b, c := m.start("a", 0, nil), m.start("b", 0, nil), m.start("c", 0, nil)
	nodes := []*tnode{a, b, c}
	for _, n := range nodes {
		n.setLocal(t, 1, 3)
	}
	for _, n := range nodes {
		eventually(t, "rev 1 of "+n.cluster+" everywhere", func() bool { return m.allHave(nodes, n.cluster, 1) })
	}
	a.setLocal(t, 2, 4)
	eventually(t, "rev 2 of a everywhere", func() bool { return m.allHave(nodes, "a", 2) })
	got := b.remote("a")
	if len(got.Services) != 1 || len(got.Services[0].Endpoints) != 4 || got.Network != "net-a" || len(got.NetworkGateways) != 1 {
		t.Fatalf("b's view of a: %+v", got)
	}
	if s := string(c.RemoteSecrets()["a"]); s != "kubeconfig-of-a" {
		t.Fatalf("c's remote secret of a: %q", s)
	}
	for _, n := range nodes {
		n.checkMonotonic(t)
	}
}

// TestConvergeTenNodes: ten clusters, each changing twice, from random
// order; every change converges into every other node's remote set.
func TestConvergeTenNodes(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	var nodes []*tnode
	for i := range 10 {
		nodes = append(nodes, m.start(fmt.Sprintf("c%02d", i), 0, nil))
	}
	for rev := 1; rev <= 2; rev++ {
		for _, n := range nodes {
			n.setLocal(t, rev, 4)
		}
		for _, n := range nodes {
			eventually(t, fmt.Sprintf("%s rev %d everywhere", n.cluster, rev), func() bool { return m.allHave(nodes, n.cluster, rev) })
		}
	}
	for _, n := range nodes {
		n.checkMonotonic(t)
		if got := len(n.RemoteStates()); got != 9 {
			t.Fatalf("%s has %d remote clusters", n.name, got)
		}
	}
}

// TestRejoinWhenAllPeersLost: a node cut off from every peer keeps trying
// to re-join its seeds with backoff, and is back once the network is; another node without seeds joins through
// the SeedSource hook (how the daemon joins through a remote secret).
func TestRejoinWhenAllPeersLost(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	// a never reconnects by itself: only b's re-join can heal.
	a := m.start("a", 0, func(c *Config, _ *Options) { c.ReconnectInterval = time.Hour })
	b := m.start("b", 0, nil)
	a.setLocal(t, 1, 2)
	b.setLocal(t, 1, 2)
	eventually(t, "b has a", func() bool { return revOf(b.remote("a")) == 1 })
	m.net.mu.Lock()
	m.net.down[b.Addr()] = true
	m.net.mu.Unlock()
	eventually(t, "b alone, a sees b dead", func() bool { return b.alive.Load() == 1 && a.sees(b.name, "dead") })
	eventually(t, "b tries to re-join", func() bool {
		return metrictest.Sum(t, b.reg, "meshgate_federation_joins_total", map[string]string{"result": "error"}) >= 4 // a's own dead broadcasts are drained by now
	})
	m.net.mu.Lock()
	delete(m.net.down, b.Addr())
	m.net.mu.Unlock()
	// b's next re-join attempt heals it, unless memberlist's own gossip
	// (queued broadcasts about b) gets there first: either way b is back.
	eventually(t, "b is back", func() bool { return a.sees(b.name, "alive") && b.sees(a.name, "alive") })
	a.setLocal(t, 2, 2)
	eventually(t, "b has a rev 2", func() bool { return revOf(b.remote("a")) == 2 })

	asked := make(chan struct{}, 1)
	c := m.start("c", 0, func(cfg *Config, o *Options) {
		cfg.Seeds = []string{"127.0.0.1:1"} // unreachable: only the hook finds the mesh
		o.SeedSource = func(context.Context) ([]string, error) {
			select {
			case asked <- struct{}{}:
			default:
			}
			return []string{a.Addr()}, nil
		}
	})
	<-asked
	eventually(t, "c joined through the seed source", func() bool { return revOf(c.remote("a")) == 2 && revOf(c.remote("b")) == 1 })
}
