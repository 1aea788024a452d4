package federation

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
)

// offerRecord considers a cluster's record received from holder: it is
// accepted only when its cluster is admitted (admit.go) and its generation
// is newer than the one held. Records of
// this node's own cluster are never accepted (this node is authoritative);
// they only push its generation counter past a previous incarnation's.
func (n *Node) offerRecord(r wire.Record, holder string) {
	n.offerRecordRaw(r, holder, nil)
}

// offerRecordRaw is offerRecord with r's body already decompressed and
// checked against r.Hash (raw, from a state delta), or nil.
func (n *Node) offerRecordRaw(r wire.Record, holder string, raw []byte) {
	if r.Cluster == n.cfg.ClusterID {
		n.ownRecordSeen(r, holder)
		return
	}
	if n.refuseUnadmitted(r.Cluster, holder, r.Generation, wire.TypeState) {
		return
	}
	n.mu.Lock()
	held := n.records[r.Cluster]
	n.answeredLocked(r.Cluster, holder)
	if held != nil && r.Generation <= held.rec.Generation {
		n.olderOrEqualLocked(held, r.Generation, r.Hash, r.Origin, holder)
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	if n.offerHook != nil {
		n.offerHook(r)
	}

	var state *model.ClusterState
	var part wire.Secret
	var err error
	if raw != nil { // outside the lock: CPU-bound
		state, part, err = wire.DecodeRaw(&r, raw)
	} else {
		state, part, err = wire.DecodeBody(&r, n.limits)
	}
	if err == nil && len(part.SealingKey) > 0 {
		if _, kerr := parseSealingKey(part.SealingKey); kerr != nil {
			err = fmt.Errorf("%w: cluster %s: body: sealingKey: %v", wire.ErrCorrupt, r.Cluster, kerr)
		}
	}
	if err != nil {
		n.mu.Lock()
		n.noteRejectedLocked(r.Cluster, r.Generation, holder, reasonOf(err), err)
		n.mu.Unlock()
		n.reject(reasonOf(err), wire.TypeState, err, "from", holder, "cluster", r.Cluster, "generation", r.Generation)
		return
	}
	var newPin []byte
	var how string
	if n.auth != nil {
		n.pinMu.Lock() // held until the record is stored: no pin changes in between
		defer n.pinMu.Unlock()
		var reason string
		if newPin, how, reason, err = n.verifyLocked(&r, state.TrustBundle); err != nil {
			n.rejectRecord(&r, holder, reason, err)
			return
		}
	}
	if n.auth != nil {
		// A newer record of the cluster stored since the check above (its
		// own verification held pinMu) wins before anything is pinned: a
		// stale record must not move the pin back to its older bundle.
		n.mu.Lock()
		held = n.records[r.Cluster]
		stale := held != nil && r.Generation <= held.rec.Generation
		n.mu.Unlock()
		if stale {
			n.met.stale.WithLabelValues(r.Cluster).Inc()
			return
		}
		// Pinned (and persisted) before the record is visible: whoever sees
		// the state can rely on the pin being taken. pinMu is held since the
		// verification, so no other record of the cluster gets in between.
		n.setPinLocked(r.Cluster, newPin, how)
	}
	secret, keep := n.openSecret(&r, part) // verified: the envelopes are the owner's
	now := n.now()
	n.mu.Lock()
	held = n.records[r.Cluster]
	if held != nil && r.Generation <= held.rec.Generation { // a newer one won the race
		n.mu.Unlock()
		n.met.stale.WithLabelValues(r.Cluster).Inc()
		return
	}
	if fenced, newest := n.fencedLocked(r.Cluster, part.Lease); fenced {
		n.mu.Unlock()
		n.rejectRecord(&r, holder, ReasonFenced, fmt.Errorf("published under the lease of %s at %d transitions, deposed by %s at %d",
			part.Lease.Holder, part.Lease.Transitions, newest.Holder, newest.Transitions))
		return
	}
	if keep && held != nil {
		secret = held.secret
	}
	// The owner's times on this node's clock (0 offset while none is
	// estimated: no timed exchange with the owner yet).
	off, _ := n.clockOffsetLocked(r.Origin)
	observedAt := state.ObservedAt
	if !observedAt.IsZero() {
		state.ObservedAt = observedAt.Add(-off.Offset)
	}
	nr := &record{rec: r, state: state, secret: secret, acceptedAt: now, sealKey: part.SealingKey, observedAt: observedAt, lease: part.Lease, from: holder,
		prev: previousOf(held, r.Hash), deltas: part.Deltas}
	if rj := n.rejected[r.Cluster]; rj != nil && rj.Generation <= r.Generation {
		delete(n.rejected, r.Cluster) // superseded: the history shows refusals newer than the held record
	}
	n.records[r.Cluster] = nr
	if held == nil || !equalBytes(held.secret, secret) {
		n.secretsVer++
	}
	if held != nil && held.withdrawn {
		// Still withdrawn while its owner is down: a newer state relayed
		// from elsewhere does not bring a cluster back, its owner does.
		st, _ := n.ownerLocked(r.Cluster)
		nr.withdrawn = st != ownerAlive
		if nr.withdrawn {
			nr.withdrawnAt, nr.withdrawReason = held.withdrawnAt, held.withdrawReason
		}
	}
	restored := held != nil && held.withdrawn && !nr.withdrawn
	if f := n.fetches[r.Cluster]; f != nil && f.want <= r.Generation {
		f.want = 0
	}
	n.queueDigest(&nr.rec) // relay: this node now holds it
	n.mu.Unlock()

	n.met.generation.WithLabelValues(r.Cluster).Set(float64(r.Generation))
	n.met.stateBytes.WithLabelValues(r.Cluster).Set(float64(len(r.Body)))
	if lag := now.Sub(time.Unix(0, int64(r.Generation))); lag >= 0 && lag < time.Hour {
		n.met.propagation.Observe(lag.Seconds())
	}
	if lag := now.Sub(time.Unix(0, int64(r.Generation)).Add(-off.Offset)); lag >= 0 && lag < time.Hour {
		n.met.gossip.WithLabelValues(r.Cluster).Observe(lag.Seconds())
	}
	if restored {
		n.met.restores.WithLabelValues(r.Cluster).Inc()
	}
	n.log.Debug("accepted cluster state", "remoteCluster", r.Cluster, "generation", r.Generation,
		"hash", r.Hash.Short(), "from", holder, "services", len(state.Services))
	kick(n.kickNotify)
	kick(n.kickFetch)
}

// olderOrEqualLocked handles a record or digest that is not newer than the
// held one: the same generation from the live owner confirms a withdrawn
// state; the same generation with different content is a conflict; the rest
// is merely stale.
func (n *Node) olderOrEqualLocked(held *record, gen uint64, hash wire.Hash, origin, holder string) {
	cluster := held.rec.Cluster
	switch {
	case gen == held.rec.Generation && hash != held.rec.Hash:
		err := fmt.Errorf("cluster %s generation %d: content %s differs from the held %s (origin %s)",
			cluster, gen, hash.Short(), held.rec.Hash.Short(), origin)
		n.reject(ReasonConflict, wire.TypeState, err, "from", holder)
	case gen == held.rec.Generation && held.withdrawn && n.liveOwnerLocked(cluster, holder) && n.auth == nil:
		// Unsigned mode only: with signed records, anyone holding the
		// gossip key could claim to be that live owner and replay the
		// digest; a withdrawn cluster then returns only with a newer
		// signed record (the owner re-signs when probed: serveRequest).
		held.withdrawn = false
		n.met.restores.WithLabelValues(cluster).Inc()
		kick(n.kickNotify)
	default:
		n.met.stale.WithLabelValues(cluster).Inc()
	}
}

// offerDigest notes that holder has a cluster's state at a generation: when
// it is newer than the held one the fetch loop asks holder for it.
func (n *Node) offerDigest(d wire.Digest) {
	n.seen(d.Holder)
	if d.Cluster == n.cfg.ClusterID {
		if n.cfg.Elected && d.Origin != n.name {
			// Another replica's record: fetch it and decide on its lease
			// (who leads, whether this node was deposed, whether to
			// out-bid it), never on the digest alone: two leaders that
			// out-bid each other's digests would do so until one heard of
			// the other's lease.
			n.mu.Lock()
			n.seenOwnGen = max(n.seenOwnGen, d.Generation)
			if d.Generation > n.ownRecGen && d.Holder != n.name {
				f := n.fetchLocked(d.Cluster)
				if d.Generation > f.want {
					f.want, f.from = d.Generation, d.Holder
				}
				kick(n.kickFetch)
			}
			n.mu.Unlock()
			return
		}
		n.ownGenerationSeen(d.Generation, d.Origin, d.Hash, nil)
		return
	}
	if n.refuseUnadmitted(d.Cluster, d.Holder, d.Generation, wire.TypeDigest) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	held := n.records[d.Cluster]
	n.answeredLocked(d.Cluster, d.Holder)
	if held != nil && d.Generation <= held.rec.Generation {
		n.olderOrEqualLocked(held, d.Generation, d.Hash, d.Origin, d.Holder)
		return
	}
	f := n.fetchLocked(d.Cluster)
	if d.Generation > f.want || (d.Generation == f.want && f.from == "") {
		f.want, f.from = d.Generation, d.Holder
	}
	kick(n.kickFetch)
}

// ownGenerationSeen handles a state of this node's own cluster seen from
// the mesh, with the publishing lease it carries when known (nil: a digest,
// a request, or no lease). An elected node's replicas are expected:
// electedOwnSeenLocked decides. Otherwise, if it is at least as new as ours
// and not ours, it comes from a previous incarnation of this daemon
// (restarted with a lost or lower counter, or a clock that went back): this
// node re-publishes its own state above it, so a restarted daemon always
// wins. If another live member owns the same cluster it is counted and
// logged, not fought over.
func (n *Node) ownGenerationSeen(gen uint64, origin string, hash wire.Hash, lease *wire.Lease) {
	n.mu.Lock()
	if origin == n.name && gen <= n.localGen {
		n.mu.Unlock()
		return
	}
	if n.cfg.Elected {
		n.electedOwnSeenLocked(gen, origin, hash, lease)
		return
	}
	if gen < n.localGen {
		n.mu.Unlock()
		return
	}
	if p := n.peers[origin]; origin != n.name && p != nil && p.state == memberlist.StateAlive {
		// Another live member says it owns this cluster: a previous
		// incarnation not yet detected as failed, or a second daemon. Do not
		// fight (two live owners would out-bid each other forever); out-bid
		// it once it is down (peerChanged).
		n.rivals[origin] = max(n.rivals[origin], gen)
		n.mu.Unlock()
		n.met.dupOwner.Inc()
		n.log.Warn("another live daemon publishes this cluster (several daemons per cluster need leader election)",
			"other", origin, "generation", gen)
		return
	}
	bumped := n.outbidLocked(gen, hash)
	n.mu.Unlock()
	if bumped != 0 {
		n.met.generation.WithLabelValues(n.cfg.ClusterID).Set(float64(bumped))
		n.log.Info("own cluster seen at a previous incarnation's generation; re-published above it",
			"seen", gen, "origin", origin, "generation", bumped)
	}
}

// outbidLocked makes the local state's generation exceed gen (a previous
// incarnation's); it returns the new generation, or 0 if nothing changed.
func (n *Node) outbidLocked(gen uint64, hash wire.Hash) uint64 {
	n.seenOwnGen = max(n.seenOwnGen, gen)
	if n.local != nil && (gen > n.localGen || (gen == n.localGen && hash != n.local.rec.Hash)) {
		return n.republishLocked()
	}
	return 0
}

// ownerState is the liveness of a cluster's owning daemon(s).
type ownerState int

const (
	ownerUnknown ownerState = iota
	ownerAlive
	ownerDown
)

// ownerLocked returns whether some member owning cluster is alive, else when
// the last one went down.
func (n *Node) ownerLocked(cluster string) (ownerState, time.Time) {
	st, since := ownerUnknown, time.Time{}
	for _, p := range n.peers {
		if p.cluster != cluster {
			continue
		}
		if p.state == memberlist.StateAlive {
			return ownerAlive, p.since
		}
		st = ownerDown
		if p.since.After(since) {
			since = p.since
		}
	}
	return st, since
}

func (n *Node) liveOwnerLocked(cluster, name string) bool {
	p := n.peers[name]
	return p != nil && p.cluster == cluster && p.state == memberlist.StateAlive
}

// visibleLocked reports whether r is in the remote set at now and, if it is
// only because of the fail-static window, when that window ends. A record is
// visible while an owner is alive, or for FailStaticWindow after the last
// owner went down; a withdrawn record stays hidden until its owner confirms
// it or a newer generation arrives. A record whose owner was never seen
// (relayed before the owner's alive message, or the owner was gone before
// this node joined) is hidden.
func (n *Node) visibleLocked(r *record, now time.Time) (bool, time.Time) {
	if r.withdrawn {
		return false, time.Time{}
	}
	st, since := n.ownerLocked(r.rec.Cluster)
	switch st {
	case ownerAlive:
		return true, time.Time{}
	case ownerDown:
		end := since.Add(n.cfg.FailStaticWindow)
		if now.Before(end) {
			return true, end
		}
		if n.holdForDataPlaneLocked(r.state) {
			return true, now.Add(DataPlaneRecheck)
		}
		r.withdrawn = true
		r.withdrawnAt, r.withdrawReason = now, n.withdrawReasonLocked(r.rec.Cluster, since)
		n.met.withdrawals.WithLabelValues(r.rec.Cluster).Inc()
		n.log.Info("withdrew a remote cluster after the fail-static window", "remoteCluster", r.rec.Cluster,
			"generation", r.rec.Generation, "downSince", since, "window", n.cfg.FailStaticWindow)
	}
	return false, time.Time{}
}
