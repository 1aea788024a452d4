package daemon

import (
	"context"
	"sync"

	"github.com/meshgate/meshgate/discovery/model"
)

// mesher composes what the xDS server serves: the source's state plus the
// remote clusters federation learned by gossip (model.Compose: a cluster the
// source has is never replaced by a gossiped one, but takes the
// ServiceExports of its gossiped state: model.WithGossipedExports); and it hands the source's
// local cluster, with its remote secret, to federation.
//
//	source ─publish─▶ setSource ────┐
//	federation ─Subscribe─▶ setRemote ─┼─▶ state (mu) ─kick─▶ run ─▶ serve(Compose(source, remote)) ─▶ ROOTCA, xds Update
//	secret renewer ─Changed─▶ localChanged ─┘                       └─▶ publishLocal(source) ─▶ federation SetLocal
//
// The setters record the newest state under mu and wake run; run, one
// goroutine, takes a snapshot under mu and calls out after unlocking. So no
// lock is held across a call into another package (no lock order to keep),
// the callers never wait for the xDS server or federation, and what is
// handed on is always the newest state: an older one never overwrites it.
type mesher struct {
	kick chan struct{} // cap 1
	// ready, when set, holds back serve until it is closed (federation's
	// Synced: a restarted daemon must not hand its gateways a mesh without
	// the remote clusters it is about to learn). publishLocal is never held.
	ready <-chan struct{}

	mu         sync.Mutex
	source     *model.MeshState
	remote     []*model.ClusterState
	meshDirty  bool // source or remote changed: serve again
	localDirty bool // source or remote secret changed: publish the local cluster again
}

func newMesher() *mesher { return &mesher{kick: make(chan struct{}, 1)} }

// setSource records a new source state.
func (m *mesher) setSource(s *model.MeshState) {
	m.update(func() { m.source, m.meshDirty, m.localDirty = s, true, true })
}

// setRemote records federation's current remote set (federation's
// notifier calls it).
func (m *mesher) setRemote(r []*model.ClusterState) {
	m.update(func() { m.remote, m.meshDirty = r, true })
}

// again serves the current state again (the gateway probes changed what
// is reachable). It never blocks.
func (m *mesher) again() { m.update(func() { m.meshDirty = true }) }

// localChanged says the local cluster must be published again (a new
// remote secret).
func (m *mesher) localChanged() { m.update(func() { m.localDirty = true }) }

func (m *mesher) update(f func()) {
	m.mu.Lock()
	f()
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// run hands the newest state on after every change until ctx is done:
// serve gets the composition, publishLocal the source's state. Nothing is
// handed on before the source's first state, and nothing is served before
// ready is closed.
func (m *mesher) run(ctx context.Context, serve, publishLocal func(*model.MeshState)) error {
	gate, open := m.ready, m.ready == nil
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-gate: // a nil gate never fires
			gate, open = nil, true
		}
		m.mu.Lock()
		source, remote, meshDirty, localDirty := m.source, m.remote, m.meshDirty && open, m.localDirty
		if source != nil {
			m.localDirty = false
			if open {
				m.meshDirty = false
			}
		}
		m.mu.Unlock()
		if source == nil {
			continue // nothing before the first complete load
		}
		if meshDirty {
			// a remote cluster watched through its API server keeps the
			// ServiceExports its daemon gossips (the watch reads none)
			serve(model.WithGossipedExports(model.Compose(source, remote), remote))
		}
		if localDirty {
			publishLocal(source)
		}
	}
}
