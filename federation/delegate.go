package federation

import (
	"bytes"
	"slices"

	"github.com/hashicorp/memberlist"

	"github.com/meshgate/meshgate/federation/wire"
)

// delegate is the Node's memberlist.Delegate. memberlist calls its methods
// concurrently; none of them blocks on the network or on a subscriber.
type delegate struct{ n *Node }

var _ memberlist.Delegate = (*delegate)(nil)

// NodeMeta returns the encoded mesh and cluster id (fixed at New).
func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.n.meta) > limit {
		return nil // cannot happen: names are bounded well under memberlist's 512 bytes
	}
	return d.n.meta
}

// NotifyMsg receives digests (UDP broadcasts or reliable answers), requests
// and states (reliable). It runs on memberlist's packet handler for UDP and on
// the stream's goroutine for TCP: digests and requests are handled without
// blocking; a state is decoded here, which for TCP costs only that stream.
func (d *delegate) NotifyMsg(b []byte) {
	n := d.n
	arrived := n.now() // before decoding: the end of a timed exchange (clock.go)
	_, t, err := wire.Header(b)
	if err != nil {
		n.reject(reasonOf(err), t, err)
		return
	}
	n.met.count("in", t.String(), len(b))
	switch t {
	case wire.TypeDigest:
		m, err := wire.DecodeDigest(b)
		if err != nil {
			n.reject(reasonOf(err), t, err)
			return
		}
		if n.checkMesh(m.Mesh, t, m.Holder) {
			n.offerDigest(m)
		}
	case wire.TypeRequest:
		m, err := wire.DecodeRequest(b)
		if err != nil {
			n.reject(reasonOf(err), t, err)
			return
		}
		if n.checkMesh(m.Mesh, t, m.Requester) {
			n.serveRequest(m)
		}
	case wire.TypeState:
		m, err := wire.DecodeState(b, n.limits)
		if err != nil {
			n.reject(reasonOf(err), t, err)
			return
		}
		if n.stateHook != nil {
			n.stateHook(&m, len(b))
		}
		if n.checkMesh(m.Mesh, t, m.Holder) {
			n.seen(m.Holder)
			if m.Timing != nil {
				n.clockSample(m.Holder, m.Timing, arrived) // before the record: its times use the new estimate
			}
			var raw []byte
			if m.DeltaBase != nil {
				if raw = n.rebuildDelta(&m); raw == nil {
					return
				}
			}
			n.offerRecordRaw(m.Record, m.Holder, raw)
		}
	default:
		n.reject(ReasonUnknownType, t, errUnknownType(t))
	}
}

// GetBroadcasts hands memberlist the queued digests that fit the packet.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	out := d.n.bcast.GetBroadcasts(overhead, limit)
	for _, b := range out {
		d.n.met.count("out", wire.TypeDigest.String(), len(b))
	}
	return out
}

// LocalState is this node's side of a push/pull. On a join it carries the
// full records of the local cluster and of every remote cluster in the
// remote set (as many as fit MaxFrameBytes; the rest as digests), so that a
// joining node has the mesh at once; the periodic anti-entropy push/pull
// carries digests only, and each side fetches what it lacks.
func (d *delegate) LocalState(join bool) []byte {
	n := d.n
	pp := wire.PushPull{Mesh: n.cfg.MeshID, Holder: n.name}
	budget := n.cfg.MaxFrameBytes - 4096
	for _, r := range n.shareable() {
		if size := len(r.rec.Body) + r.rec.Proof.Size() + 256; join && size <= budget {
			budget -= size
			pp.Records = append(pp.Records, r.rec)
			continue
		}
		pp.Digests = append(pp.Digests, r.rec.Digest(n.cfg.MeshID, n.name))
	}
	b, err := wire.EncodePushPull(pp)
	if err != nil {
		n.log.Error("encoding push/pull state", "err", err)
		return nil
	}
	n.met.count("out", wire.TypePushPull.String(), len(b))
	return b
}

// MergeRemoteState takes the peer's side of a push/pull (memberlist has
// already merged its member list, so its owners are known).
func (d *delegate) MergeRemoteState(b []byte, join bool) {
	n := d.n
	if len(b) == 0 {
		return
	}
	n.met.count("in", wire.TypePushPull.String(), len(b))
	pp, err := wire.DecodePushPull(b, n.limits)
	if err != nil {
		n.reject(reasonOf(err), wire.TypePushPull, err)
		return
	}
	if !n.checkMesh(pp.Mesh, wire.TypePushPull, pp.Holder) {
		return
	}
	n.seen(pp.Holder)
	for _, r := range pp.Records {
		n.offerRecord(r, pp.Holder)
	}
	for _, dg := range pp.Digests {
		n.offerDigest(dg)
	}
}

// shareable returns the records this node relays: its own and the remote
// clusters in its remote set (never a withdrawn or hidden one), by cluster id.
func (n *Node) shareable() []*record {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*record
	if n.local != nil && n.publishingLocked() {
		out = append(out, n.local)
	}
	for _, id := range sortedKeys(n.records) {
		if vis, _ := n.visibleLocked(n.records[id], now); vis {
			out = append(out, n.records[id])
		}
	}
	return out
}

// checkMesh rejects a message from another mesh.
func (n *Node) checkMesh(mesh string, t wire.Type, from string) bool {
	if mesh == n.cfg.MeshID {
		return true
	}
	n.reject(ReasonForeignMesh, t, errForeignMesh(mesh, n.cfg.MeshID), "from", from)
	return false
}

// digestBroadcast is a queued digest; a newer digest of the same cluster
// replaces it in the queue (memberlist.NamedBroadcast).
type digestBroadcast struct {
	cluster string
	msg     []byte
}

var _ memberlist.NamedBroadcast = (*digestBroadcast)(nil)

func (b *digestBroadcast) Name() string                                { return "digest/" + b.cluster }
func (b *digestBroadcast) Message() []byte                             { return b.msg }
func (b *digestBroadcast) Finished()                                   {}
func (b *digestBroadcast) Invalidates(other memberlist.Broadcast) bool { return false }

// queueDigest announces r (held by this node) to the mesh.
func (n *Node) queueDigest(r *wire.Record) {
	msg, err := wire.EncodeDigest(r.Digest(n.cfg.MeshID, n.name))
	if err != nil {
		n.log.Error("encoding digest", "cluster", r.Cluster, "err", err)
		return
	}
	if n.bcast != nil {
		n.bcast.QueueBroadcast(&digestBroadcast{cluster: r.Cluster, msg: msg})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func equalBytes(a, b []byte) bool { return bytes.Equal(a, b) }
