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
	// Refused reports that the member's cluster is not admitted: its
	// records are refused (see Node.Refused).
	Refused bool `json:"refused,omitempty"`
	// SealedFor lists, for the local member, the remote clusters its
	// remote secret is sealed for (names only; the secret is never shown).
	SealedFor []string `json:"sealedFor,omitempty"`
	// ClockOffsetSeconds is the member's estimated clock offset (its clock
	// minus this node's; 0 for the local node) and ClockErrorSeconds the
	// bound of its error; both absent before a timed exchange with it
	// (clock.go).
	ClockOffsetSeconds *float64 `json:"clockOffsetSeconds,omitempty"`
	ClockErrorSeconds  *float64 `json:"clockErrorSeconds,omitempty"`
	// GenerationAgeSeconds is how old the held generation is: now minus
	// its time at the owner, moved by the owner's clock offset.
	GenerationAgeSeconds *float64 `json:"generationAgeSeconds,omitempty"`
	// LastConvergence is the member's cluster's last change measured from
	// its observation there to a gateway's ACK here (Options.Convergence).
	LastConvergence *Convergence `json:"lastConvergence,omitempty"`
	// Leader reports whether the member publishes its cluster under a
	// publishing lease (replicas elect one; see "Replicas" in the package
	// doc), as this node last learned it; Lease is that lease.
	Leader bool   `json:"leader,omitempty"`
	Lease  *Lease `json:"lease,omitempty"`
}

// Convergence is one measured convergence: how long, and when the ACK
// that ended it came (this node's clock).
type Convergence struct {
	Seconds float64   `json:"seconds"`
	At      time.Time `json:"at"`
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
		case n.refused[p.cluster] != nil:
			m.Refused = true
		case r != nil:
			m.Generation = r.rec.Generation
			m.Visible, _ = n.visibleLocked(r, now)
			if r.lease != nil && r.rec.Origin == p.name {
				m.Leader, m.Lease = true, new(*r.lease)
			}
		}
		if off, ok := n.clockOffsetLocked(p.name); ok {
			o, e := off.Offset.Seconds(), off.Error.Seconds()
			m.ClockOffsetSeconds, m.ClockErrorSeconds = &o, &e
		}
		if m.Generation > 0 {
			off, _ := n.clockOffsetLocked(p.name)
			age := now.Sub(time.Unix(0, int64(m.Generation)).Add(-off.Offset)).Seconds()
			m.GenerationAgeSeconds = &age
		}
		if n.opts.Convergence != nil {
			if d, at, ok := n.opts.Convergence(p.cluster); ok {
				m.LastConvergence = &Convergence{Seconds: d.Seconds(), At: at}
			}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Name, b.Name)) })
	return out
}
