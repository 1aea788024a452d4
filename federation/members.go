package federation

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Member is one daemon of the mesh as this node sees it.
type Member struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Cluster string `json:"cluster"`
	// State is alive or dead (memberlist v0.7.0 does not tell its event
	// delegate whether a member failed or left, nor when it is suspect).
	State string `json:"state"`
	// Generation of the member's cluster state held here (0: none).
	Generation uint64    `json:"generation,omitempty"`
	StateSince time.Time `json:"stateSince"`
	LastSeen   time.Time `json:"lastSeen"`
	// Visible reports whether the member's cluster is in the remote set
	// (always false for the local node).
	Visible bool `json:"visible"`
	Local   bool `json:"local,omitempty"`
	// SealedFor lists, for the local member, the remote clusters its
	// remote secret is sealed for (names only; the secret is never shown).
	SealedFor []string `json:"sealedFor,omitempty"`
	// Leader reports whether the member publishes its cluster under a
	// publishing lease (replicas elect one; see "Replicas" in the package
	// doc), as this node last learned it; Lease is that lease.
	Leader bool   `json:"leader,omitempty"`
	Lease  *Lease `json:"lease,omitempty"`
}

// Members lists the members this node knows (dead and departed ones too,
// until the process restarts), sorted by cluster then name.
func (n *Node) Members() []Member {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Member, 0, len(n.peers))
	for _, p := range n.peers {
		m := Member{Name: p.name, Address: p.addr, Cluster: p.cluster, State: stateName(p.state),
			StateSince: p.since, LastSeen: p.lastSeen, Local: p.name == n.name}
		switch r := n.records[p.cluster]; {
		case m.Local:
			m.Generation = n.localGen
			if n.local != nil {
				m.SealedFor = slices.Sorted(maps.Keys(n.local.sealedFor))
			}
			if n.lease != nil {
				m.Leader, m.Lease = true, new(*n.lease)
			}
		case p.cluster == n.cfg.ClusterID: // another replica of this cluster
			if f, ok := n.fences[p.cluster]; ok && n.lease == nil && n.ownLeader == p.name {
				m.Leader, m.Lease = true, new(f)
			}
		case r != nil:
			m.Generation = r.rec.Generation
			m.Visible, _ = n.visibleLocked(r, now)
			if r.lease != nil && r.rec.Origin == p.name {
				m.Leader, m.Lease = true, new(*r.lease)
			}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Name, b.Name)) })
	return out
}
