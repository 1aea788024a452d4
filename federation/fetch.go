package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshgate/meshgate/federation/wire"
)

// fetchState tracks what this node wants of one remote cluster.
type fetchState struct {
	want      uint64    // newest announced generation not held yet (0: none)
	from      string    // the node that announced it
	probe     string    // an owner that came back: ask it for its current state
	target    string    // node asked by the request in flight ("" when none)
	deadline  time.Time // the request in flight is given up after this
	notBefore time.Time // FetchInterval after the last request: coalesces bursts
}

func (n *Node) fetchLocked(cluster string) *fetchState {
	f := n.fetches[cluster]
	if f == nil {
		f = &fetchState{}
		n.fetches[cluster] = f
	}
	return f
}

// answeredLocked notes that holder said something about cluster: a request
// in flight to it is over, and a probe of it is answered.
func (n *Node) answeredLocked(cluster, holder string) {
	f := n.fetches[cluster]
	if f == nil {
		return
	}
	if f.target == holder {
		f.target, f.deadline = "", time.Time{}
	}
	if f.probe == holder {
		f.probe = ""
	}
}

type fetchJob struct {
	cluster, target string
	have            uint64
	revive          bool // the cluster is withdrawn here: ask its owner to re-sign
}

// dueFetchesLocked picks the requests to send now and when to look again.
func (n *Node) dueFetchesLocked(now time.Time) ([]fetchJob, time.Time) {
	for id, r := range n.records {
		if !r.withdrawn {
			continue
		}
		for _, p := range n.peers { // a withdrawn cluster's owner is back: ask it to confirm
			if p.cluster == id && p.state == memberlist.StateAlive && p.name != n.name {
				if f := n.fetchLocked(id); f.probe == "" {
					f.probe = p.name
				}
				break
			}
		}
	}
	var jobs []fetchJob
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for id, f := range n.fetches {
		var held uint64
		if r := n.records[id]; r != nil {
			held = r.rec.Generation
		} else if id == n.cfg.ClusterID {
			held = n.ownRecGen // an elected replica reads the others' records
		}
		if f.want <= held {
			f.want, f.from = 0, ""
		}
		if f.want == 0 && f.probe == "" {
			delete(n.fetches, id)
			continue
		}
		if f.target != "" && now.Before(f.deadline) {
			later(f.deadline)
			continue
		}
		if now.Before(f.notBefore) {
			later(f.notBefore)
			continue
		}
		target := f.probe
		if f.want > 0 {
			target = f.from
			if target == "" {
				target = n.aliveOwnerLocked(id)
			}
		}
		if target == "" {
			continue // wait for a digest or a push/pull naming a holder
		}
		f.target, f.deadline, f.notBefore = target, now.Add(n.cfg.FetchTimeout), now.Add(n.cfg.FetchInterval)
		later(f.deadline)
		r := n.records[id]
		jobs = append(jobs, fetchJob{cluster: id, target: target, have: held, revive: r != nil && r.withdrawn && target == f.probe})
	}
	return jobs, next
}

func (n *Node) aliveOwnerLocked(cluster string) string {
	for _, p := range n.peers {
		if p.cluster == cluster && p.state == memberlist.StateAlive && p.name != n.name {
			return p.name
		}
	}
	return ""
}

// fetchLoop sends state requests: to the node that announced a newer
// generation (else to the cluster's owner), at most one in flight and one per
// FetchInterval per cluster. The answer comes back as a State (newer) or a
// Digest (nothing newer) through NotifyMsg.
func (n *Node) fetchLoop(ctx context.Context) {
	for {
		now := n.now()
		n.mu.Lock()
		jobs, next := n.dueFetchesLocked(now)
		n.mu.Unlock()
		if len(jobs) > 0 {
			members := n.memberMap()
			for _, j := range jobs {
				if node := members[j.target]; node != nil {
					go n.sendRequest(j, node)
				} else {
					n.fetchFailed(j)
				}
			}
		}
		var d time.Duration
		if !next.IsZero() {
			d = max(next.Sub(n.now()), time.Millisecond)
		}
		if !wait(ctx, n.kickFetch, d) {
			return
		}
	}
}

// memberMap returns the live members as memberlist.Nodes built from the
// peer table (memberlist's own Members() hands out nodes it keeps mutating).
func (n *Node) memberMap() map[string]*memberlist.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]*memberlist.Node{}
	for _, p := range n.peers {
		if p.state == memberlist.StateAlive {
			out[p.name] = &memberlist.Node{Name: p.name, Addr: p.ip, Port: p.port}
		}
	}
	return out
}

// aliveMember is the live member named name, or nil.
func (n *Node) aliveMember(name string) *memberlist.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.peers[name]; p != nil && p.state == memberlist.StateAlive {
		return &memberlist.Node{Name: p.name, Addr: p.ip, Port: p.port}
	}
	return nil
}

func (n *Node) sendRequest(j fetchJob, to *memberlist.Node) {
	q := wire.Request{Mesh: n.cfg.MeshID, Requester: n.name, Cluster: j.cluster, Have: j.have, Revive: j.revive}
	n.mu.Lock()
	timed := n.timedLocked(to.Name)
	if r := n.records[j.cluster]; r != nil && j.have > 0 && r.rec.Generation == j.have && j.cluster != n.cfg.ClusterID && !n.cfg.noDeltas && n.deltasLocked(to.Name) {
		h := r.rec.Hash
		q.DeltaBase = &h // a delta against the body held will do (delta.go)
	}
	n.mu.Unlock()
	if timed {
		q.SentAt = n.now().UnixNano() // the answer's Timing gives the holder's clock offset (clock.go)
	}
	msg, err := wire.EncodeRequest(q)
	if err == nil {
		err = n.ml.SendReliable(to, msg)
	}
	if err != nil {
		n.log.Debug("state request failed", "remoteCluster", j.cluster, "to", j.target, "err", err)
		n.fetchFailed(j)
		return
	}
	n.met.fetches.WithLabelValues("sent").Inc()
	n.met.count("out", wire.TypeRequest.String(), len(msg))
}

// fetchFailed forgets a request that could not be sent; the next attempt
// goes to the owner after FetchInterval.
func (n *Node) fetchFailed(j fetchJob) {
	n.met.fetches.WithLabelValues("error").Inc()
	n.mu.Lock()
	if f := n.fetches[j.cluster]; f != nil {
		if f.target == j.target {
			f.target, f.deadline = "", time.Time{}
		}
		if f.from == j.target {
			f.from = ""
		}
		if f.probe == j.target {
			f.probe = ""
		}
	}
	n.mu.Unlock()
	kick(n.kickFetch)
}

// serveRequest answers a state request with the held record when it is newer
// than what the requester has, else with its digest. Answers are sent from a
// bounded set of goroutines; beyond that requests are dropped (the requester
// retries after FetchTimeout).
func (n *Node) serveRequest(q wire.Request) {
	received := n.now()
	to := n.aliveMember(q.Requester)
	if to == nil {
		// Only members get states: a node holding the gossip key that has
		// not joined reads nothing by asking (one that joins does: see the
		// package doc).
		n.reject(ReasonUnknownRequester, wire.TypeRequest,
			fmt.Errorf("state request for cluster %s from %q, which is not a live member", q.Cluster, q.Requester), "from", q.Requester)
		return
	}
	n.seen(q.Requester)
	if q.Cluster == n.cfg.ClusterID && q.Have > n.localGeneration() {
		n.ownGenerationSeen(q.Have, "", wire.Hash{}, nil) // the requester holds a previous incarnation's
	}
	var rec *wire.Record
	n.mu.Lock()
	// A replica that does not lead answers nothing of its cluster, but to
	// another replica of it: that one reads the lease its record carries
	// (a deposed holder's record tells the leader to out-bid it).
	publishing := n.publishingLocked() || (n.peers[q.Requester] != nil && n.peers[q.Requester].cluster == n.cfg.ClusterID)
	if q.Revive && q.Cluster == n.cfg.ClusterID && publishing && n.local != nil && n.auth != nil && q.Have == n.localGen &&
		n.now().Sub(n.local.acceptedAt) >= n.cfg.FetchInterval {
		// The requester withdrew this cluster and holds our current
		// generation: answer with a freshly signed one, the only thing that
		// brings a withdrawn cluster back. At most one per FetchInterval.
		gen := n.republishLocked()
		n.met.generation.WithLabelValues(n.cfg.ClusterID).Set(float64(gen))
	}
	var held *record
	if q.Cluster == n.cfg.ClusterID && n.local != nil && publishing {
		held = n.local
	} else if r := n.records[q.Cluster]; r != nil && !r.withdrawn {
		held = r
	}
	var base *wire.Record // what a delta is taken against (delta.go)
	if held != nil {
		rec = &held.rec // records are replaced, never modified: safe to read unlocked
		if q.DeltaBase != nil && rec.Generation > q.Have {
			base = baseOf(held, *q.DeltaBase)
		}
	}
	n.mu.Unlock()
	if rec == nil {
		return
	}
	select {
	case n.respond <- struct{}{}:
	default:
		n.reject(ReasonOverload, wire.TypeRequest, errOverload, "from", q.Requester)
		return
	}
	go func() { // a delta costs milliseconds: not on memberlist's handler
		defer func() { <-n.respond }()
		typ, msg, err := n.answer(q, rec, base, received)
		if err != nil {
			n.log.Error("encoding an answer", "remoteCluster", q.Cluster, "err", err)
			return
		}
		if err := n.ml.SendReliable(to, msg); err != nil {
			n.log.Debug("answering a state request failed", "to", q.Requester, "err", err)
			return
		}
		n.met.count("out", typ.String(), len(msg))
	}()
}

// answer encodes the answer to q: rec in a State when it is newer than
// what the requester has (a delta against base when there is one and it is
// smaller), else rec's digest.
func (n *Node) answer(q wire.Request, rec, base *wire.Record, received time.Time) (wire.Type, []byte, error) {
	if rec.Generation <= q.Have {
		msg, err := wire.EncodeDigest(rec.Digest(n.cfg.MeshID, n.name))
		return wire.TypeDigest, msg, err
	}
	st := wire.State{Mesh: n.cfg.MeshID, Holder: n.name, Record: *rec}
	if base != nil {
		if d, err := n.delta(base, rec); err != nil {
			n.log.Warn("computing a state delta; answering in full", "remoteCluster", q.Cluster, "err", err)
		} else if len(d) < len(rec.Body) {
			st.Record.Body, st.DeltaBase = d, &base.Hash
			if slices.EqualFunc(rec.Proof.Chain, base.Proof.Chain, bytes.Equal) {
				st.Record.Proof.Chain = nil // the base's: the requester has it (wire.State.DeltaBase)
			}
		}
	}
	switch {
	case st.DeltaBase != nil:
		n.met.deltas.WithLabelValues("sent").Inc()
	case q.DeltaBase != nil:
		n.met.deltas.WithLabelValues("full").Inc()
	}
	if q.SentAt != 0 { // a timed request: only then may the answer carry the Timing
		st.Timing = &wire.Timing{Echo: q.SentAt, Received: received.UnixNano(), Sent: n.now().UnixNano()}
	}
	msg, err := wire.EncodeState(st)
	return wire.TypeState, msg, err
}

var errOverload = errors.New("too many state requests being answered; dropped (the requester retries)")
