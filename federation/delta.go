package federation

import (
	"sync"

	"github.com/meshgate/meshgate/federation/wire"
)

// State deltas (wire: EncodeDelta). A node asks a peer whose records say
// Deltas for a cluster's newer record with the hash of the body it holds
// (Request.DeltaBase); the peer answers with a delta against that body
// when it holds it (the current record of the cluster or the one before,
// record.prev), else in full. The receiver rebuilds the body and checks it
// against the record's hash like any body, and the record's signature as
// any record's: the delta is only transport. A delta answer leaves out the
// signing chain when it is the base record's (the requester holds it); the
// signature is still checked against it.
// Bytes per change then follow the change, not the cluster's size.

// previousOf is the prev of a record that replaces held with a body of
// hash h: held's record when its body differs, else held's own prev.
func previousOf(held *record, h wire.Hash) wire.Record {
	switch {
	case held == nil:
		return wire.Record{}
	case held.rec.Hash != h:
		return held.rec
	default:
		return held.prev
	}
}

// baseOf returns the record r holds (its own or the previous) whose body
// has hash h; nil if neither.
func baseOf(r *record, h wire.Hash) *wire.Record {
	switch {
	case r == nil:
		return nil
	case r.rec.Hash == h:
		return &r.rec
	case r.prev.Body != nil && r.prev.Hash == h:
		return &r.prev
	}
	return nil
}

// deltasLocked reports whether peer answers delta requests: its own
// cluster's record, as it published it, says Deltas.
func (n *Node) deltasLocked(peer string) bool {
	p := n.peers[peer]
	if p == nil {
		return false
	}
	r := n.records[p.cluster]
	return r != nil && r.rec.Origin == peer && r.deltas
}

// deltaCache keeps the last delta computed per cluster: the requesters of
// one change ask for the same one.
type deltaCache struct {
	mu sync.Mutex
	m  map[string]deltaEntry
}

type deltaEntry struct {
	base, target wire.Hash
	delta        []byte
}

// delta returns the delta of rec's body against base's.
func (n *Node) delta(base, rec *wire.Record) ([]byte, error) {
	c := &n.deltaCache
	c.mu.Lock()
	if e, ok := c.m[rec.Cluster]; ok && e.base == base.Hash && e.target == rec.Hash {
		c.mu.Unlock()
		return e.delta, nil
	}
	c.mu.Unlock()
	braw, err := wire.RawBody(base, n.limits)
	if err != nil {
		return nil, err
	}
	raw, err := wire.RawBody(rec, n.limits)
	if err != nil {
		return nil, err
	}
	d, err := wire.EncodeDelta(braw, raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]deltaEntry{}
	}
	c.m[rec.Cluster] = deltaEntry{base: base.Hash, target: rec.Hash, delta: d}
	c.mu.Unlock()
	return d, nil
}

// rebuildDelta replaces st's record body, a delta against the body of
// hash st.DeltaBase, by the rebuilt compressed body, and returns the
// rebuilt canonical JSON, checked against the record's hash (offerRecord
// decodes it as it is, not from the body again). nil: the state is dropped
// (the base is no longer held, or the delta does not rebuild the record's
// body: rejected).
func (n *Node) rebuildDelta(st *wire.State) []byte {
	r := &st.Record
	n.mu.Lock()
	base := baseOf(n.records[r.Cluster], *st.DeltaBase)
	n.mu.Unlock()
	if base == nil {
		n.met.deltas.WithLabelValues("base_gone").Inc()
		n.log.Debug("a state delta against a body no longer held: dropped (fetched again)", "remoteCluster", r.Cluster,
			"generation", r.Generation, "from", st.Holder)
		return nil
	}
	braw, err := wire.RawBody(base, n.limits)
	var raw []byte
	if err == nil {
		raw, err = wire.ApplyDelta(braw, r.Body, r.Hash, n.limits)
	}
	if err != nil {
		n.mu.Lock()
		n.noteRejectedLocked(r.Cluster, r.Generation, st.Holder, reasonOf(err), err)
		n.mu.Unlock()
		n.reject(reasonOf(err), wire.TypeState, err, "from", st.Holder, "cluster", r.Cluster, "generation", r.Generation)
		return nil
	}
	r.Body = wire.CompressBody(raw)
	if len(r.Proof.Chain) == 0 {
		r.Proof.Chain = base.Proof.Chain // the same signing chain as the base's: not sent again
	}
	n.met.deltas.WithLabelValues("applied").Inc()
	return raw
}
