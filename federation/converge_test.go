package federation

import (
	"testing"
	"time"
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
