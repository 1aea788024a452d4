package daemon

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

// The mesher hands nothing on before the source's first state; then serve
// gets the source composed with the gossiped clusters (the source wins) and
// publishLocal the source's state, each from the mesher's goroutine and
// only for what changed; run returns nil when ctx ends.
func TestMesher(t *testing.T) {
	m := newMesher()
	served, local := make(chan *model.MeshState, 10), make(chan *model.MeshState, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.run(ctx, func(s *model.MeshState) { served <- s }, func(s *model.MeshState) { local <- s })
	}()
	next := func(ch chan *model.MeshState, what string) *model.MeshState {
		t.Helper()
		select {
		case s := <-ch:
			return s
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", what)
			return nil
		}
	}
	ids := func(s *model.MeshState) (out []string) {
		for _, c := range s.Clusters {
			out = append(out, c.ID+"/"+c.Network)
		}
		return out
	}

	m.setRemote([]*model.ClusterState{{ID: "a", Network: "gossip"}, {ID: "c", Network: "gossip"}})
	m.localChanged()
	src := &model.MeshState{LocalCluster: "a", Clusters: []*model.ClusterState{{ID: "a", Network: "source"}}}
	m.setSource(src)
	if got := ids(next(served, "served state")); !slices.Equal(got, []string{"a/source", "c/gossip"}) {
		t.Errorf("served %v, want the source's a and the gossiped c", got)
	}
	if got := next(local, "local state"); got != src {
		t.Errorf("publishLocal got %v, want the source's state", ids(got))
	}

	// a new remote secret: only the local cluster is published again
	m.localChanged()
	if got := next(local, "local state after a new secret"); got != src {
		t.Errorf("publishLocal got %v", ids(got))
	}
	// gossip changes: only serve
	m.setRemote(nil)
	if got := ids(next(served, "served state after gossip")); !slices.Equal(got, []string{"a/source"}) {
		t.Errorf("served %v", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(served) != 0 || len(local) != 0 {
		t.Errorf("extra hand-ons: %d served, %d local", len(served), len(local))
	}
}

// With a ready gate (federation's Synced), the local cluster is published
// to federation at once (peers must learn it to sync themselves), but
// nothing is served before the gate opens; then the newest composition is.
func TestMesherServesOnlyOnceReady(t *testing.T) {
	m := newMesher()
	ready := make(chan struct{})
	m.ready = ready
	served, local := make(chan *model.MeshState, 10), make(chan *model.MeshState, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.run(ctx, func(s *model.MeshState) { served <- s }, func(s *model.MeshState) { local <- s })
	}()
	src := &model.MeshState{LocalCluster: "a", Clusters: []*model.ClusterState{{ID: "a"}}}
	m.setSource(src)
	select {
	case got := <-local:
		if got != src {
			t.Fatalf("publishLocal got %v, want the source's state", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the local cluster was not published before the gate opened")
	}
	m.setRemote([]*model.ClusterState{{ID: "b"}})
	select {
	case s := <-served:
		t.Fatalf("served %d clusters before the gate opened", len(s.Clusters))
	case <-time.After(200 * time.Millisecond):
	}
	close(ready)
	select {
	case s := <-served:
		if len(s.Clusters) != 2 {
			t.Fatalf("served %d clusters once ready, want the source's a and the gossiped b", len(s.Clusters))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing served after the gate opened")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(served) != 0 {
		t.Errorf("%d extra states served", len(served))
	}
}
