package federation

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshgate/meshgate/discovery/model"
)

// History is, per remote cluster, how this node came to hold its state and
// where that state stands: the member it was received from and the daemon
// that published it, the generation, when it was accepted (and published
// and observed at its owner, on this node's clock), whether it is served,
// held fail-static, withdrawn (when, and why: its last daemon went down and
// the fail-static window ended) or hidden, the newest record of it refused
// since (fenced, bad signature, ...), and the clusters refused because they
// are not admitted. Sorted by cluster. What `meshgate explain` says about
// what came from another cluster (the daemon hands it to the xDS server's
// explain); served as /federation/history. The states are shared and must
// not be modified.
func (n *Node) History() []model.ClusterProvenance {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []model.ClusterProvenance
	for _, id := range sortedKeys(n.records) {
		r := n.records[id]
		p := model.ClusterProvenance{Cluster: id, Network: r.state.Network, Generation: r.rec.Generation,
			Owner: r.rec.Origin, Peer: r.from, ReceivedAt: r.acceptedAt, State: r.state, ObservedAt: r.state.ObservedAt}
		if peer := n.peers[r.from]; peer != nil {
			p.PeerCluster = peer.cluster
		}
		off, _ := n.clockOffsetLocked(r.rec.Origin)
		p.PublishedAt = time.Unix(0, int64(r.rec.Generation)).Add(-off.Offset)
		vis, end := n.visibleLocked(r, now)
		st, since := n.ownerLocked(id)
		switch {
		case r.withdrawn:
			p.Status, p.Since, p.Reason = model.ProvenanceWithdrawn, r.withdrawnAt, r.withdrawReason
		case vis && st == ownerAlive:
			p.Status = model.ProvenanceServing
		case vis:
			p.Status, p.Since = model.ProvenanceFailStatic, since
			name, _ := n.lastOwnerLocked(id)
			if until := since.Add(n.cfg.FailStaticWindow); now.Before(until) {
				p.Reason = fmt.Sprintf("its last daemon %s went down at %s; its endpoints stay until the fail-static window (%v) ends at %s",
					name, stamp(since), n.cfg.FailStaticWindow, stamp(until))
			} else {
				p.Reason = fmt.Sprintf("its last daemon %s went down at %s; kept past the fail-static window (%v) because its east-west gateways still answer (rechecked until %s)",
					name, stamp(since), n.cfg.FailStaticWindow, stamp(end))
			}
		default:
			p.Status, p.Reason = model.ProvenanceHidden, "no daemon of the cluster has been seen alive by this one (a relayed record is held hidden until its owner is seen)"
		}
		if rj := n.rejected[id]; rj != nil {
			p.Rejected = new(*rj)
		}
		out = append(out, p)
	}
	for _, id := range sortedKeys(n.refused) {
		if n.records[id] != nil {
			continue
		}
		rc := n.refused[id]
		p := model.ClusterProvenance{Cluster: id, Status: model.ProvenanceRefused, Since: rc.FirstSeen, Peer: rc.From,
			Reason: fmt.Sprintf("not admitted here (--admit-cluster, --trust-pin or a joined remote secret's trust bundle): %d digests and records refused since %s, the last from %s at %s (generation %d)",
				rc.Messages, stamp(rc.FirstSeen), rc.From, stamp(rc.LastSeen), rc.Generation)}
		if rj := n.rejected[id]; rj != nil {
			p.Rejected = new(*rj)
		}
		out = append(out, p)
	}
	for _, id := range sortedKeys(n.rejected) { // refused records of clusters never held
		if n.records[id] != nil || n.refused[id] != nil {
			continue
		}
		rj := n.rejected[id]
		out = append(out, model.ClusterProvenance{Cluster: id, Status: model.ProvenanceRefused, Since: rj.At, Peer: rj.From,
			Reason:   fmt.Sprintf("no record of it was accepted: the last one (generation %d from %s) was refused (%s)", rj.Generation, rj.From, rj.Reason),
			Rejected: new(*rj)})
	}
	slices.SortStableFunc(out, func(a, b model.ClusterProvenance) int { return cmp.Compare(a.Cluster, b.Cluster) })
	return out
}

// noteRejectedLocked remembers a refused record of a remote cluster newer
// than the held one (n.mu held).
func (n *Node) noteRejectedLocked(cluster string, gen uint64, from, reason string, err error) {
	if cluster == n.cfg.ClusterID {
		return
	}
	if held := n.records[cluster]; held != nil && gen <= held.rec.Generation {
		return
	}
	if len(n.rejected) >= maxRefused && n.rejected[cluster] == nil {
		return // bounded like the refused clusters: ids can be invented without end
	}
	n.rejected[cluster] = &model.RecordRejection{Reason: reason, At: n.now(), Generation: gen, From: from, Error: err.Error()}
}

// withdrawReasonLocked says why a cluster whose owners are down since
// since is withdrawn now (n.mu held).
func (n *Node) withdrawReasonLocked(cluster string, since time.Time) string {
	name, state := n.lastOwnerLocked(cluster)
	how := "went down"
	if state == memberlist.StateLeft {
		how = "left"
	}
	why := fmt.Sprintf("its last daemon %s %s at %s and the fail-static window (%v) ended", name, how, stamp(since), n.cfg.FailStaticWindow)
	if n.opts.DataPlaneServing != nil {
		why += " with none of its east-west gateways answering this daemon's probes"
	}
	return why
}

// lastOwnerLocked is the member of cluster that went down last, and its
// state (n.mu held).
func (n *Node) lastOwnerLocked(cluster string) (string, memberlist.NodeStateType) {
	var last *peer
	for _, p := range n.peers {
		if p.cluster == cluster && p.state != memberlist.StateAlive && (last == nil || p.since.After(last.since)) {
			last = p
		}
	}
	if last == nil {
		return "(unknown)", memberlist.StateDead
	}
	return last.name, last.state
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
