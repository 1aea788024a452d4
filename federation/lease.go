package federation

import (
	"errors"
	"fmt"

	"github.com/meshgate/meshgate/federation/wire"
)

// Lease is a cluster's publishing lease (see "Replicas" in the package doc):
// the holder identity and the lease's transition count, its term.
type Lease = wire.Lease

// SetLeading tells an elected node (Config.Elected) whether it holds its
// cluster's publishing lease: l is the lease it holds, nil when it lost it
// or never had it. While it leads the node publishes the local record (at a
// new generation, above any generation of its cluster seen from another
// replica) carrying l; otherwise it keeps its local state ready but sends
// it nowhere. A lease older than one already seen in a verified record of
// the cluster is refused (the node is a deposed holder): an error, and the
// node does not publish. It does not block on the network.
func (n *Node) SetLeading(l *Lease) error {
	if !n.cfg.Elected {
		return errors.New("federation: SetLeading: the node is not elected (Config.Elected is off)")
	}
	own := n.cfg.ClusterID
	n.mu.Lock()
	if l == nil {
		was := n.lease
		n.lease = nil
		n.mu.Unlock()
		if was != nil {
			n.met.leading.Set(0)
			n.log.Info("lost the publishing lease: this replica stops publishing the cluster", "holder", was.Holder, "transitions", was.Transitions)
		}
		return nil
	}
	if l.Holder == "" || len(l.Holder) > wire.MaxLeaseHolder {
		n.mu.Unlock()
		return fmt.Errorf("federation: SetLeading: lease holder %q: want 1..%d characters", l.Holder, wire.MaxLeaseHolder)
	}
	if f, ok := n.fences[own]; ok && l.Older(f) {
		n.lease = nil
		n.mu.Unlock()
		n.met.leading.Set(0)
		return fmt.Errorf("federation: SetLeading: lease of %s at %d transitions is older than the lease of %s at %d seen in the mesh: not publishing",
			l.Holder, l.Transitions, f.Holder, f.Transitions)
	}
	cp := *l
	n.lease, n.fences[own], n.ownLeader = &cp, cp, n.name
	n.mu.Unlock()
	n.met.leading.Set(1)
	n.log.Info("holds the publishing lease: this replica publishes the cluster", "holder", l.Holder, "transitions", l.Transitions)
	gen, err := n.publishLocal(nil)
	if gen != 0 {
		n.log.Info("published the cluster under the lease", "generation", gen, "transitions", l.Transitions)
	}
	return err
}

// OwnTerm returns the newest publishing lease of this node's cluster it
// knows: its own while it leads, else the newest in a verified record of
// another replica (ok false: none). An elector raises a re-created lease's
// transition count above it (package election, Config.KnownTerm), so that
// the term stays monotonic when the lease object is deleted. It does not
// block.
func (n *Node) OwnTerm() (Lease, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := n.fences[n.cfg.ClusterID]
	return f, ok
}

// Leading reports whether this node publishes its cluster: always without
// election, while it holds the lease with it.
func (n *Node) Leading() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.publishingLocked()
}

func (n *Node) publishingLocked() bool { return !n.cfg.Elected || n.lease != nil }

// ownRecordSeen handles a record of this node's own cluster seen from the
// mesh. An elected node reads the lease it carries (after checking its body
// and its proof under this cluster's own anchors: a forged lease must not
// depose anyone); the rest is ownGenerationSeen's.
func (n *Node) ownRecordSeen(r wire.Record, holder string) {
	if !n.cfg.Elected || r.Origin == n.name {
		n.ownGenerationSeen(r.Generation, r.Origin, r.Hash, nil)
		return
	}
	_, part, err := wire.DecodeBody(&r, n.limits)
	reason := ReasonCorrupt
	if err != nil {
		reason = reasonOf(err)
	} else if n.auth != nil {
		if err = n.auth.Verify(r.Cluster, n.auth.Anchors(), r.SignedBytes(n.cfg.MeshID), r.Proof); err != nil {
			reason = ReasonBadSignature
		}
	}
	n.mu.Lock()
	n.answeredLocked(r.Cluster, holder)
	if f := n.fetches[r.Cluster]; f != nil && (err != nil && f.from == holder || f.want <= r.Generation) {
		f.want, f.from = 0, ""
	}
	if err == nil {
		n.ownRecGen = max(n.ownRecGen, r.Generation)
	}
	n.mu.Unlock()
	if err != nil {
		n.reject(reason, wire.TypeState, fmt.Errorf("own cluster %s generation %d: %w", r.Cluster, r.Generation, err),
			"from", holder, "origin", r.Origin)
		return
	}
	n.ownGenerationSeen(r.Generation, r.Origin, r.Hash, part.Lease)
}

// electedOwnSeenLocked is ownGenerationSeen for an elected node (n.mu held;
// it returns with n.mu released): another replica's record (lease known) or
// digest (lease nil) of this cluster. A replica that does not lead notes
// the generation (to publish above it once it leads) and the leader; a
// leader that sees a newer lease stops publishing (it was deposed); a
// leader that sees its cluster at or above its generation from anyone else
// (a deposed holder that has not noticed yet, a previous incarnation)
// out-bids it: peers refuse the deposed holder's records anyway.
func (n *Node) electedOwnSeenLocked(gen uint64, origin string, hash wire.Hash, lease *wire.Lease) {
	own := n.cfg.ClusterID
	n.seenOwnGen = max(n.seenOwnGen, gen)
	if lease != nil {
		if f, ok := n.fences[own]; !ok || f.Older(*lease) {
			n.fences[own], n.ownLeader = *lease, origin
		}
	}
	switch {
	case n.lease == nil: // a replica: the leader publishes
		n.mu.Unlock()
	case lease != nil && n.lease.Older(*lease):
		was := *n.lease
		n.lease = nil
		n.mu.Unlock()
		n.met.leading.Set(0)
		n.log.Warn("deposed: another replica publishes this cluster under a newer lease; this one stops publishing",
			"other", origin, "otherHolder", lease.Holder, "otherTransitions", lease.Transitions, "transitions", was.Transitions)
	default:
		bumped := uint64(0)
		if gen >= n.localGen {
			bumped = n.outbidLocked(gen, hash)
		}
		n.mu.Unlock()
		if bumped != 0 {
			n.met.generation.WithLabelValues(own).Set(float64(bumped))
			n.log.Info("own cluster seen from another replica at or above the leader's generation; re-published above it",
				"seen", gen, "origin", origin, "generation", bumped)
		}
	}
}

// fencedLocked reports whether a verified record of a remote cluster
// carrying lease l comes from a deposed holder; if not, l becomes the
// cluster's newest lease when it is newer.
func (n *Node) fencedLocked(cluster string, l *wire.Lease) (bool, wire.Lease) {
	if l == nil {
		return false, wire.Lease{}
	}
	f, ok := n.fences[cluster]
	if ok && l.Older(f) {
		return true, f
	}
	if !ok || f.Older(*l) {
		n.fences[cluster] = *l
	}
	return false, f
}
