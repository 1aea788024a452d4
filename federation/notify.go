package federation

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

type subscriber struct {
	fn        func([]*model.ClusterState)
	delivered bool
	lastKey   string
}

type secretSubscriber struct {
	fn        func(map[string][]byte)
	delivered bool
	lastVer   uint64
}

// Subscribe registers fn to receive the remote set: the current states of
// every remote cluster in it, sorted by cluster id (each notification is the
// whole set, level-triggered). fn is called once soon after Subscribe, then
// after every change (a newer generation accepted, a cluster withdrawn or
// restored). All subscribers are called from one goroutine of the Node, one
// at a time, never concurrently with each other; fn may block, which delays
// later notifications (changes meanwhile coalesce into the next call, which
// carries the latest set). The states are shared and must not be modified.
// The returned function unsubscribes.
func (n *Node) Subscribe(fn func([]*model.ClusterState)) (cancel func()) {
	n.mu.Lock()
	id := n.nextSub
	n.nextSub++
	n.subs[id] = &subscriber{fn: fn}
	n.mu.Unlock()
	kick(n.kickNotify)
	return func() { n.mu.Lock(); delete(n.subs, id); n.mu.Unlock() }
}

// OnRemoteSecretsChange registers fn to receive RemoteSecrets: once soon
// after registering, then whenever a remote secret is added or changes.
// Same goroutine and blocking rules as Subscribe; fn owns the map.
func (n *Node) OnRemoteSecretsChange(fn func(map[string][]byte)) (cancel func()) {
	n.mu.Lock()
	id := n.nextSub
	n.nextSub++
	n.secretSubs[id] = &secretSubscriber{fn: fn}
	n.mu.Unlock()
	kick(n.kickNotify)
	return func() { n.mu.Lock(); delete(n.secretSubs, id); n.mu.Unlock() }
}

// RemoteStates returns the remote set now (see Subscribe).
func (n *Node) RemoteStates() []*model.ClusterState {
	n.mu.Lock()
	defer n.mu.Unlock()
	set, _ := n.remoteSetLocked(n.now())
	return set
}

// RemoteSecrets returns the remote secret of every remote cluster this node
// holds a state of, by cluster id, including clusters withdrawn from the
// remote set: their daemon may be down while their API server is not, and
// the secret is how this daemon finds its way back (re-join through it).
// The map and slices are copies.
func (n *Node) RemoteSecrets() map[string][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.remoteSecretsLocked()
}

func (n *Node) remoteSecretsLocked() map[string][]byte {
	out := map[string][]byte{}
	for id, r := range n.records {
		if len(r.secret) > 0 {
			out[id] = bytes.Clone(r.secret)
		}
	}
	return out
}

// remoteSetLocked returns the visible states and the next fail-static
// deadline (zero if none).
func (n *Node) remoteSetLocked(now time.Time) ([]*model.ClusterState, time.Time) {
	var set []*model.ClusterState
	var next time.Time
	for _, id := range sortedKeys(n.records) {
		vis, end := n.visibleLocked(n.records[id], now)
		if !vis {
			continue
		}
		set = append(set, n.records[id].state)
		if !end.IsZero() && (next.IsZero() || end.Before(next)) {
			next = end
		}
	}
	return set, next
}

func setKey(set []*model.ClusterState) string {
	var b strings.Builder
	for _, c := range set {
		b.WriteString(c.ID)
		b.WriteByte('@')
		b.WriteString(strconv.FormatUint(c.Generation, 10))
		b.WriteByte(';')
	}
	return b.String()
}

// notifyLoop delivers the remote set and remote secrets to subscribers, and
// wakes up when a fail-static window ends to withdraw the cluster.
func (n *Node) notifyLoop(ctx context.Context) {
	for {
		now := n.now()
		n.mu.Lock()
		set, next := n.remoteSetLocked(now)
		var synced bool
		var missing []string
		select {
		case <-n.syncedCh: // synced once and for all: nothing to compute
		default:
			synced, missing = n.syncStateLocked(now)
		}
		key := setKey(set)
		var calls []func()
		for _, s := range n.subs {
			if !s.delivered || s.lastKey != key {
				s.delivered, s.lastKey = true, key
				calls = append(calls, func() { s.fn(set) })
			}
		}
		if len(n.secretSubs) > 0 {
			ver := n.secretsVer
			for _, s := range n.secretSubs {
				if !s.delivered || s.lastVer != ver {
					s.delivered, s.lastVer = true, ver
					secrets := n.remoteSecretsLocked()
					calls = append(calls, func() { s.fn(secrets) })
				}
			}
		}
		n.mu.Unlock()
		kick(n.kickSeal) // the remote set may have changed: are the recipients the same?
		n.met.remote.Set(float64(len(set)))
		for _, call := range calls {
			call()
		}
		var d time.Duration
		if !next.IsZero() {
			d = max(next.Sub(n.now()), time.Millisecond)
		}
		if s := n.checkSynced(now, synced, missing, len(set)); s > 0 && (d == 0 || s < d) {
			d = s
		}
		if !wait(ctx, n.kickNotify, d) {
			return
		}
	}
}
