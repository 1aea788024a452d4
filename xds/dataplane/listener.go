package dataplane

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// socket is a bound listening socket. Its accept loop hands connections to
// the socket's current owner, so a socket can move to a new listener (same
// address, other name or new config) without ever being closed.
type socket struct {
	ln      net.Listener
	addrKey string
	owner   atomic.Pointer[listenerRuntime]
	closed  atomic.Bool
}

func (s *socket) acceptLoop(g *Gateway) {
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// E.g. too many open files: back off and keep accepting.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			g.log.Warn("accept failed", "address", s.ln.Addr().String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		lr := s.owner.Load()
		if lr == nil {
			c.Close()
			continue
		}
		g.handlers.Add(1)
		go func() {
			defer g.handlers.Done()
			lr.serve(c)
		}()
	}
}

func (s *socket) close() {
	if s.closed.CompareAndSwap(false, true) {
		s.ln.Close()
	}
}

// listenerRuntime is one named listener: its current config, its socket
// (nil once it stopped accepting) and its open connections.
type listenerRuntime struct {
	g    *Gateway
	name string
	cfg  atomic.Pointer[listenerConfig]

	sock *socket // fixed at creation; handed over or closed when the listener stops

	mu       sync.Mutex
	conns    map[*downConn]struct{}
	stopped  bool // removed or replaced: every connection drains
	draining bool // counted in listeners_draining
}

// downConn is one accepted connection.
type downConn struct {
	raw      net.Conn
	chainKey string // "" until a filter chain is chosen
	once     sync.Once
	drain    *time.Timer
}

func (d *downConn) close() { d.once.Do(func() { d.raw.Close() }) }

func (lr *listenerRuntime) track(d *downConn) bool {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.conns == nil {
		lr.conns = map[*downConn]struct{}{}
	}
	lr.conns[d] = struct{}{}
	if lr.stopped {
		lr.startDrainLocked(d)
	}
	return true
}

func (lr *listenerRuntime) untrack(d *downConn) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	delete(lr.conns, d)
	if d.drain != nil {
		d.drain.Stop()
	}
	if lr.stopped && len(lr.conns) == 0 {
		lr.forgetLocked()
	}
}

// setChain records the chain a connection uses; if that chain is already
// gone (a config update raced with matching) the connection drains.
func (lr *listenerRuntime) setChain(d *downConn, key string) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	d.chainKey = key
	if !lr.stopped && !lr.cfg.Load().hasChain(key) {
		lr.startDrainLocked(d)
	}
}

// startDrainLocked closes d after the drain timeout. Called with lr.mu held.
func (lr *listenerRuntime) startDrainLocked(d *downConn) {
	if d.drain != nil {
		return
	}
	name, m := lr.name, lr.g.m
	d.drain = time.AfterFunc(lr.g.cfg.DrainTimeout, func() {
		m.drainClosed.WithLabelValues(name).Inc()
		d.close()
	})
}

// update swaps in a new config of the same listener on the same socket.
// Connections drain when the listener-level settings changed, or else when
// their filter chain is gone.
func (lr *listenerRuntime) update(cfg *listenerConfig) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	old := lr.cfg.Swap(cfg)
	for d := range lr.conns {
		if old.outerKey != cfg.outerKey || (d.chainKey != "" && !cfg.hasChain(d.chainKey)) {
			lr.startDrainLocked(d)
		}
	}
}

// stop makes the listener stop accepting (closing its socket unless it was
// handed to another listener) and drains its connections.
func (lr *listenerRuntime) stop(keepSocket bool) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if !keepSocket {
		lr.sock.close()
	}
	lr.stopped = true
	for d := range lr.conns {
		lr.startDrainLocked(d)
	}
	if len(lr.conns) == 0 {
		lr.forgetLocked()
		return
	}
	lr.g.mu.Lock() // lock order: lr.mu, then g.mu is never taken the other way round
	lr.g.draining[lr] = struct{}{}
	lr.g.mu.Unlock()
	lr.draining = true
	lr.g.m.listenersDraining.Inc()
}

func (lr *listenerRuntime) forgetLocked() {
	if lr.draining {
		lr.draining = false
		lr.g.m.listenersDraining.Dec()
		lr.g.mu.Lock()
		delete(lr.g.draining, lr)
		lr.g.mu.Unlock()
	}
}

func (lr *listenerRuntime) closeSocket() {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.sock.close()
	lr.stopped = true
}

func (lr *listenerRuntime) closeAll() {
	lr.mu.Lock()
	var all []*downConn
	for d := range lr.conns {
		all = append(all, d)
	}
	lr.mu.Unlock()
	for _, d := range all {
		d.close()
	}
}

// applyListeners validates a whole LDS response and then applies it:
// binds new sockets first (a bind failure rejects the whole response and
// closes what was bound), then swaps configs, moves sockets and drains
// removed listeners. Called on the ADS goroutine.
func (g *Gateway) applyListeners(ls []*listenerv3.Listener) error {
	cfgs := map[string]*listenerConfig{}
	var order []string
	for _, l := range ls {
		lc, err := validateListener(l)
		if err != nil {
			return &resourceError{l.GetName(), l, fmt.Errorf("listener %q: %w", l.GetName(), err)}
		}
		if _, dup := cfgs[lc.name]; dup {
			return &resourceError{lc.name, l, fmt.Errorf("listener %q: duplicate name in response", lc.name)}
		}
		cfgs[lc.name] = lc
		order = append(order, lc.name)
	}
	slices.Sort(order) // deterministic bind order
	g.mu.Lock()
	old := g.listeners
	g.mu.Unlock()
	socks, handed, err := bindSockets(cfgs, order, old)
	if err != nil {
		return err
	}
	next := g.commitListeners(cfgs, order, old, socks, handed)
	g.mu.Lock()
	g.listeners = next
	g.gotLDS = true
	g.markReady()
	g.mu.Unlock()
	return nil
}

// bindSockets finds a socket for every listener not updated in place: the
// socket of a listener that is going away with the same address, or a new
// one. On error every socket bound here is closed again. handed lists the
// old listeners whose socket moves on.
func bindSockets(cfgs map[string]*listenerConfig, order []string, old map[string]*listenerRuntime) (map[string]*socket, map[*listenerRuntime]bool, error) {
	free := map[string]*listenerRuntime{} // sockets of listeners removed or moving away
	for name, lr := range old {
		if nc, ok := cfgs[name]; !ok || addressKey(nc.proto.GetAddress()) != lr.sock.addrKey {
			free[lr.sock.addrKey] = lr
		}
	}
	socks := map[string]*socket{}
	handed := map[*listenerRuntime]bool{}
	var bound []*socket
	for _, name := range order {
		nc := cfgs[name]
		key := addressKey(nc.proto.GetAddress())
		if lr := old[name]; lr != nil && lr.sock.addrKey == key {
			continue // updated in place
		}
		if lr := free[key]; lr != nil {
			socks[name], handed[lr] = lr.sock, true
			delete(free, key)
			continue
		}
		ln, err := net.Listen("tcp", nc.address)
		if err != nil {
			for _, s := range bound {
				s.close()
			}
			return nil, nil, &resourceError{name, nc.proto, fmt.Errorf("listener %q: address %s: %v", name, nc.address, err)}
		}
		socks[name] = &socket{ln: ln, addrKey: key}
		bound = append(bound, socks[name])
	}
	return socks, handed, nil
}

// commitListeners updates listeners in place, starts the new ones on their
// sockets and stops (drains) the ones replaced or removed.
func (g *Gateway) commitListeners(cfgs map[string]*listenerConfig, order []string, old map[string]*listenerRuntime,
	socks map[string]*socket, handed map[*listenerRuntime]bool) map[string]*listenerRuntime {
	next := map[string]*listenerRuntime{}
	for _, name := range order {
		nc := cfgs[name]
		s, moved := socks[name]
		if !moved {
			old[name].update(nc)
			next[name] = old[name]
			continue
		}
		lr := &listenerRuntime{g: g, name: name, sock: s}
		lr.cfg.Store(nc)
		fresh := s.owner.Load() == nil
		s.owner.Store(lr)
		next[name] = lr
		if fresh {
			g.accepts.Add(1)
			go func() {
				defer g.accepts.Done()
				s.acceptLoop(g)
			}()
		}
		g.log.Info("listener active", "listener", name, "address", s.ln.Addr().String())
	}
	for name, lr := range old {
		if next[name] != lr {
			lr.stop(handed[lr])
			g.log.Info("listener stopped accepting; draining", "listener", name)
		}
	}
	return next
}
