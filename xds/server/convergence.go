package server

import (
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

// End-to-end convergence: meshgate_mesh_convergence_seconds{origin_cluster}
// is the time from a change observed in its own cluster
// (model.ClusterState.ObservedAt: the source's event there, moved onto this
// daemon's clock by federation's clock-offset estimate) to a gateway of
// this server acknowledging a version that carries it.
//
//	rebuild: originsOf(last built, new mesh) ─▶ change{at, origins} ─▶ build / endpoint update
//	response sent: the origins of what the proxy is sent of that type ─▶ ACK ─▶ converged
//
// A rebuild's origins are the clusters whose ObservedAt moved since the
// mesh state last built: the changes it carries. They follow the build
// (listeners, routes, clusters, secrets: per proxy, when the version of a
// kind changes) and the endpoint update (per group) to the response that
// sends them. A change that alters nothing a gateway holds makes no new
// version for it and is not counted for it: convergence is measured where a
// change has an effect. Counted once per gateway: the proxy keeps, per
// origin cluster, the newest observation time it counted, and an ACK
// counts only origins newer than that (so a change carried by both a
// cluster and an endpoint response, a make-before-break step, a NACKed
// version resent fixed, or a re-sealed record with the same observation
// counts once, at its first ACK). Changes that reached the server before
// the proxy connected are not counted (its first configuration is not a
// convergence). A negative duration (a clock-offset estimate off by more
// than the path) is counted as 0.

// change is what a rebuild carries: when the change arrived here and the
// clusters whose changes it holds.
type change struct {
	at      time.Time
	origins origins
}

// origins maps an origin cluster to the observation time (this daemon's
// clock) of the change a build carries. Never modified once made.
type origins map[string]time.Time

// originsOf returns the clusters of next whose ObservedAt is newer than in
// prev (nil prev: the first build, no change).
func originsOf(prev, next *model.MeshState) origins {
	if prev == nil || next == nil {
		return nil
	}
	var out origins
	for _, c := range next.Clusters {
		if c.ObservedAt.IsZero() {
			continue
		}
		if old := prev.Cluster(c.ID); old != nil && !c.ObservedAt.After(old.ObservedAt) {
			continue
		}
		if out == nil {
			out = origins{}
		}
		out[c.ID] = c.ObservedAt
	}
	return out
}

// lastConvergence is the last convergence measured for an origin cluster.
type lastConvergence struct {
	d  time.Duration
	at time.Time
}

// converged counts, for proxy p that acknowledged a version carrying o at
// now, each origin change not yet counted for p.
func (s *Server) converged(p *proxy, o origins, now time.Time) {
	type obs struct {
		cluster string
		d       time.Duration
	}
	var counted []obs
	p.mu.Lock()
	for cluster, at := range o {
		if !at.After(p.converged[cluster]) {
			continue
		}
		if p.converged == nil {
			p.converged = map[string]time.Time{}
		}
		p.converged[cluster] = at
		counted = append(counted, obs{cluster, max(now.Sub(at), 0)})
	}
	p.mu.Unlock()
	if len(counted) == 0 {
		return
	}
	s.convMu.Lock()
	if s.lastConv == nil {
		s.lastConv = map[string]lastConvergence{}
	}
	for _, c := range counted {
		s.lastConv[c.cluster] = lastConvergence{d: c.d, at: now}
	}
	s.convMu.Unlock()
	for _, c := range counted {
		s.m.convergence.WithLabelValues(c.cluster).Observe(c.d.Seconds())
	}
}

// LastConvergence returns the last convergence measured for a change of
// cluster (from its observation there to a gateway's ACK here) and when
// that ACK came; ok is false when none was measured.
func (s *Server) LastConvergence(cluster string) (d time.Duration, at time.Time, ok bool) {
	s.convMu.Lock()
	defer s.convMu.Unlock()
	l, ok := s.lastConv[cluster]
	return l.d, l.at, ok
}
