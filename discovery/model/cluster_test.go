package model

import (
	"slices"
	"testing"
)

func TestCompose(t *testing.T) {
	local := &ClusterState{ID: "b", Network: "n-local"}
	base := &MeshState{MeshID: "m", LocalCluster: "b", Clusters: []*ClusterState{local}}
	ids := func(m *MeshState) (out []string) {
		for _, c := range m.Clusters {
			out = append(out, c.ID+"/"+c.Network)
		}
		return out
	}

	if Compose(nil, []*ClusterState{{ID: "a"}}) != nil {
		t.Error("Compose(nil) is not nil")
	}
	if got := Compose(base, nil); got != base {
		t.Error("nothing to add: want base itself")
	}
	if got := Compose(base, []*ClusterState{{ID: "b", Network: "n-gossip"}, nil}); got != base {
		t.Errorf("an extra copy of a base cluster was added: %v", ids(got))
	}

	extra := []*ClusterState{
		{ID: "c", Network: "n1"},
		{ID: "b", Network: "n-remote"}, // base wins
		{ID: "a", Network: "n2"},
		{ID: "c", Network: "n3"}, // the first extra wins
	}
	got := Compose(base, extra)
	want := []string{"a/n2", "b/n-local", "c/n1"}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("Compose = %v, want %v", ids(got), want)
	}
	if got.MeshID != "m" || got.LocalCluster != "b" || got.Cluster("b") != local {
		t.Errorf("mesh fields or local cluster changed: %+v", got)
	}
	if len(base.Clusters) != 1 {
		t.Errorf("base modified: %v", ids(base))
	}
	// deterministic: the order of distinct extras does not matter
	rev := slices.Clone(extra[:3])
	slices.Reverse(rev)
	if g := Compose(base, rev); !slices.Equal(ids(g), want) {
		t.Errorf("reversed extras: %v, want %v", ids(g), want)
	}
}
