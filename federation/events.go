package federation

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/hashicorp/memberlist"

	"github.com/meshgate/meshgate/federation/wire"
)

// events is the Node's memberlist.EventDelegate. memberlist calls it from
// several goroutines but never concurrently, with its member lock held: it
// only updates the peer table and wakes the Node's loops, never calling back
// into memberlist.
type events struct{ n *Node }

var _ memberlist.EventDelegate = (*events)(nil)

func (e *events) NotifyJoin(node *memberlist.Node) { e.n.peerChanged(node, memberlist.StateAlive) }
func (e *events) NotifyLeave(node *memberlist.Node) {
	// memberlist v0.7.0 does not fill node.State here (it keeps the state in
	// its own nodeState), so a failed and a departed member both read as dead.
	st := memberlist.StateDead
	if node.State == memberlist.StateLeft {
		st = memberlist.StateLeft
	}
	e.n.peerChanged(node, st)
}
func (e *events) NotifyUpdate(node *memberlist.Node) { e.n.peerChanged(node, memberlist.StateAlive) }

// peerChanged records a member's state. A member coming back alive is asked
// for its cluster's state (the fetch loop sends the request): the answer
// brings what changed while it was away, or confirms a withdrawn state.
func (n *Node) peerChanged(node *memberlist.Node, state memberlist.NodeStateType) {
	meta, err := wire.DecodeMeta(node.Meta)
	if err != nil || meta.Mesh != n.cfg.MeshID {
		return // refused by the filter already; nothing to track
	}
	if state != memberlist.StateLeft && state != memberlist.StateDead {
		state = memberlist.StateAlive
	}
	now := n.now()
	n.mu.Lock()
	p := n.peers[node.Name]
	if p == nil {
		p = &peer{name: node.Name}
		n.peers[node.Name] = p
	}
	wasAlive := p.state == memberlist.StateAlive && !p.since.IsZero()
	p.ip, p.port = slices.Clone(node.Addr), node.Port
	p.addr = net.JoinHostPort(p.ip.String(), strconv.Itoa(int(p.port)))
	p.cluster = meta.Cluster
	if p.state != state || p.since.IsZero() {
		p.state, p.since = state, now
	}
	p.lastSeen = now
	if state == memberlist.StateAlive && !wasAlive && node.Name != n.name && meta.Cluster != n.cfg.ClusterID {
		n.fetchLocked(meta.Cluster).probe = node.Name
	}
	var bumped uint64
	if gen, ok := n.rivals[node.Name]; ok && state != memberlist.StateAlive {
		delete(n.rivals, node.Name) // a previous incarnation is gone: out-bid it now
		bumped = n.outbidLocked(gen, wire.Hash{})
	}
	n.pruneSupersededLocked(meta.Cluster)
	alive, counts := n.countPeersLocked()
	n.mu.Unlock()
	if bumped != 0 {
		n.met.generation.WithLabelValues(n.cfg.ClusterID).Set(float64(bumped))
		n.log.Info("re-published the local state above a failed rival's generation", "rival", node.Name, "generation", bumped)
	}

	n.alive.Store(int32(alive))
	for st, c := range counts {
		n.met.members.WithLabelValues(st).Set(float64(c))
	}
	if node.Name != n.name {
		n.log.Info("member changed", "member", node.Name, "memberCluster", meta.Cluster, "state", stateName(state))
	}
	kick(n.kickNotify)
	kick(n.kickFetch)
	kick(n.kickRejoin)
}

// pruneSupersededLocked forgets the dead or departed members of cluster once
// another member of it is alive: a restarted daemon joins under a new name,
// and its previous incarnations would otherwise stay listed (and counted)
// until this process restarts. The cluster's state is unaffected: its owner
// is alive.
func (n *Node) pruneSupersededLocked(cluster string) {
	alive := false
	for _, p := range n.peers {
		if p.cluster == cluster && p.state == memberlist.StateAlive {
			alive = true
			break
		}
	}
	if !alive {
		return
	}
	for name, p := range n.peers {
		if p.cluster == cluster && p.state != memberlist.StateAlive && name != n.name {
			if _, rival := n.rivals[name]; rival {
				continue // still to be out-bid when it is declared gone
			}
			delete(n.peers, name)
		}
	}
}

func (n *Node) countPeersLocked() (int, map[string]int) {
	counts := map[string]int{"alive": 0, "dead": 0, "left": 0}
	for _, p := range n.peers {
		counts[stateName(p.state)]++
	}
	return counts["alive"], counts
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return fmt.Sprintf("state(%d)", s)
}

// seen notes a message from a member.
func (n *Node) seen(name string) {
	now := n.now()
	n.mu.Lock()
	if p := n.peers[name]; p != nil {
		p.lastSeen = now
	}
	n.mu.Unlock()
}

func errForeignMesh(got, want string) error {
	return fmt.Errorf("mesh id %q is not this mesh (%q)", got, want)
}

func errUnknownType(t wire.Type) error { return fmt.Errorf("message type %s is not known", t) }
