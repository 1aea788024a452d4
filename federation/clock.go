package federation

import (
	"time"

	"github.com/meshgate/meshgate/federation/wire"
)

// Clock offsets. Every record's observedAt and generation are times on its
// owner's clock; to compare them with this node's clock the Node estimates,
// per peer daemon, offset = peer clock − local clock over the fetch path
// (NTP's on-wire protocol): a timed Request carries the requester's send
// time t1, the State answering it the holder's receive and send times t2,
// t3, and the requester notes t4 on receipt:
//
//	offset = ((t2−t1) + (t3−t4)) / 2     delay = (t4−t1) − (t3−t2)
//
// The offset is off by at most delay/2 (the path's asymmetry; a large
// State answering a small Request biases it by up to half its transfer
// time, which that bound covers). Of the last clockSamples exchanges with a
// peer, the one with the smallest delay is the estimate (NTP's clock
// filter). Times are n.now(): the same clock as generations.

// clockSamples is how many exchanges per peer the estimate chooses from.
const clockSamples = 8

// clockSample is one timed exchange.
type clockSample struct {
	offset, delay time.Duration
	at            time.Time
}

// peerClock is what this node knows of a peer's clock (guarded by Node.mu).
type peerClock struct {
	samples [clockSamples]clockSample
	n, next int
	best    clockSample // the estimate: the sample of least delay among the last ones
}

// ClockOffset is a peer's estimated clock offset (its clock minus this
// node's) and the bound of the estimate's error.
type ClockOffset struct {
	Offset, Error time.Duration
	// At is when the estimate's exchange completed (this node's clock).
	At time.Time
}

// clockSample records a timed exchange with holder that this node started
// at t.Echo and whose answer arrived at t4 (both n.now()).
func (n *Node) clockSample(holder string, t *wire.Timing, t4 time.Time) {
	t1, t2, t3 := t.Echo, t.Received, t.Sent
	delay := time.Duration((t4.UnixNano() - t1) - (t3 - t2))
	if delay < 0 || t4.UnixNano() < t1 {
		return // not an answer to a request of this clock (or a clock that went back)
	}
	off := time.Duration(((t2 - t1) + (t3 - t4.UnixNano())) / 2)
	n.mu.Lock()
	if n.clocks == nil {
		n.clocks = map[string]*peerClock{}
	}
	pc := n.clocks[holder]
	if pc == nil {
		pc = &peerClock{}
		n.clocks[holder] = pc
	}
	pc.samples[pc.next] = clockSample{offset: off, delay: delay, at: t4}
	pc.next = (pc.next + 1) % clockSamples
	pc.n = min(pc.n+1, clockSamples)
	pc.best = pc.samples[0]
	for _, s := range pc.samples[1:pc.n] {
		if s.delay < pc.best.delay {
			pc.best = s
		}
	}
	best := pc.best
	n.mu.Unlock()
	n.met.clockOffset.WithLabelValues(holder).Set(best.offset.Seconds())
	n.met.clockError.WithLabelValues(holder).Set((best.delay / 2).Seconds())
}

// clockOffsetLocked is the estimated offset of peer's clock (ok false: no
// timed exchange with it yet). This node's own offset is 0.
func (n *Node) clockOffsetLocked(peer string) (ClockOffset, bool) {
	if peer == n.name {
		return ClockOffset{}, true
	}
	pc := n.clocks[peer]
	if pc == nil || pc.n == 0 {
		return ClockOffset{}, false
	}
	return ClockOffset{Offset: pc.best.offset, Error: pc.best.delay / 2, At: pc.best.at}, true
}

// ClockOffset returns the estimated offset of peer's clock from this node's
// (ok false: no timed exchange with it yet).
func (n *Node) ClockOffset(peer string) (ClockOffset, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.clockOffsetLocked(peer)
}

// timedLocked reports whether a state request to peer may be timed: its
// own cluster's record, as it published it, carries observedAt (see
// package wire: an older daemon refuses the flag).
func (n *Node) timedLocked(peer string) bool {
	p := n.peers[peer]
	if p == nil {
		return false
	}
	r := n.records[p.cluster]
	return r != nil && r.rec.Origin == peer && !r.observedAt.IsZero()
}
