package federation

import (
	"cmp"
	"slices"
	"time"

	"github.com/meshgate/meshgate/federation/wire"
)

// ReasonNotAdmitted: a digest or record of a remote cluster the operator
// has not admitted (label "reason" of
// meshgate_federation_rejected_messages_total). See Node.admittedLocked.
const ReasonNotAdmitted = "not_admitted"

// maxRefused bounds the refused clusters a Node remembers (and logs one
// by one): a key holder can invent cluster ids without end. Refusals past
// it are still counted.
const maxRefused = 64

// RefusedCluster is a remote cluster whose gossip this node refuses because
// the operator has not admitted it (what members and /debug show).
type RefusedCluster struct {
	Cluster string `json:"cluster"`
	// Messages counts its refused digests and records.
	Messages uint64 `json:"messages"`
	// From is the member that last sent or relayed one, Generation the
	// newest generation announced.
	From       string    `json:"from"`
	Generation uint64    `json:"generation"`
	FirstSeen  time.Time `json:"firstSeen"`
	LastSeen   time.Time `json:"lastSeen"`
}

// admittedLocked reports whether cluster's records may be accepted
// (n.pinMu held): the operator admitted it by id (Config.AdmitClusters),
// pinned its trust bundle (Config.TrustPins, Node.Pin: the remote-secret
// join; also a pin rotated from such a pin by verified records), or
// admitted every cluster (Config.AdmitAnyCluster, trust on first use). A
// bundle pinned at first contact admits nothing.
func (n *Node) admittedLocked(cluster string) bool {
	if n.cfg.AdmitAnyCluster || slices.Contains(n.cfg.AdmitClusters, cluster) {
		return true
	}
	p := n.pins[cluster]
	return p != nil && p.origin != ""
}

// refuseUnadmitted reports whether cluster is not admitted; if so, it
// counts the message (reason not_admitted), remembers the refusal (the
// first one of each cluster is logged) and the message stays unanswered:
// nothing is fetched, pinned, stored, relayed or sealed for it. Checked
// under pinMu, so a Pin that admits the cluster either comes first or
// finds the refusal and fetches what it announced.
func (n *Node) refuseUnadmitted(cluster, holder string, gen uint64, t wire.Type) bool {
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	if n.admittedLocked(cluster) {
		return false
	}
	n.met.rejected.WithLabelValues(ReasonNotAdmitted).Inc()
	now := n.now()
	n.mu.Lock()
	r := n.refused[cluster]
	first := r == nil && len(n.refused) < maxRefused
	if first {
		r = &RefusedCluster{Cluster: cluster, FirstSeen: now}
		n.refused[cluster] = r
		n.met.refused.Set(float64(len(n.refused)))
	}
	if r != nil {
		r.Messages++
		r.From, r.LastSeen, r.Generation = holder, now, max(r.Generation, gen)
	}
	n.mu.Unlock()
	switch {
	case first:
		kick(n.kickNotify) // Synced does not wait for a refused cluster
		n.log.Warn("remote cluster refused: not admitted by the operator; its records are not accepted and no remote secret is sealed for it "+
			"(admit it by id or by pinning its trust bundle: the daemon's --admit-cluster, --trust-pin, or a joined remote secret)",
			"remoteCluster", cluster, "from", holder, "type", t.String())
	case r == nil:
		n.warnOnce("refused/overflow", "more clusters refused than are remembered: the others are only counted",
			"remembered", maxRefused, "remoteCluster", cluster, "from", holder)
	}
	return true
}

// admitRefusedLocked is called when a Pin admits cluster (n.pinMu held): a
// generation it announced while refused is fetched now, from the member
// that announced it, instead of waiting for the next digest.
func (n *Node) admitRefusedLocked(cluster string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.refused[cluster]
	if r == nil {
		return
	}
	delete(n.refused, cluster)
	n.met.refused.Set(float64(len(n.refused)))
	if f := n.fetchLocked(cluster); r.Generation > f.want {
		f.want, f.from = r.Generation, r.From
	}
	kick(n.kickFetch)
}

// Refused lists the remote clusters this node refuses (not admitted),
// sorted by cluster id.
func (n *Node) Refused() []RefusedCluster {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]RefusedCluster, 0, len(n.refused))
	for _, r := range n.refused {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RefusedCluster) int { return cmp.Compare(a.Cluster, b.Cluster) })
	return out
}

// logAdmission says at start who may join the remote set.
func (n *Node) logAdmission() {
	if n.cfg.AdmitAnyCluster {
		n.log.Warn("every remote cluster is admitted (admit-any-cluster): a holder of the gossip key can add a cluster under a CA " +
			"of its own and receive every cluster's remote secret; labs only")
		return
	}
	n.pinMu.Lock()
	operator := 0
	for _, p := range n.pins {
		if p.origin != "" {
			operator++
		}
	}
	n.pinMu.Unlock()
	n.log.Info("remote clusters are admitted by the operator only", "admitted", n.cfg.AdmitClusters, "operatorPins", operator)
}
