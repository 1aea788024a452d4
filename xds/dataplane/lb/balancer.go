package lb

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Policy is the endpoint selection policy of a cluster.
type Policy int

const (
	// RoundRobin is smooth weighted round robin (Envoy ROUND_ROBIN).
	RoundRobin Policy = iota
	// LeastRequest picks the endpoints with the fewest active connections per
	// unit of weight (Envoy LEAST_REQUEST, Istio's default).
	LeastRequest
	// Random picks at random, proportionally to weight (Envoy RANDOM).
	Random
)

// Endpoint is one upstream address of a cluster.
type Endpoint struct {
	Address string // host:port
	// Weight is the endpoint's load_balancing_weight; 0 counts as 1.
	Weight uint32
	// Locality groups endpoints; LocalityWeight is the group's weight
	// (used when Config.LocalityWeighted is set; 0 = the locality gets no traffic).
	Locality       string
	LocalityWeight uint32
	Priority       uint32
	// Degraded endpoints are used only when a priority has no healthy ones.
	Degraded bool
	// Data is the caller's per-endpoint payload (e.g. its transport socket).
	Data any
}

// Config configures a Balancer.
type Config struct {
	Policy Policy
	// LocalityWeighted picks a locality by weight before an endpoint.
	LocalityWeighted bool
	// PanicThreshold (percent, 0–100): when fewer endpoints than this are
	// available (not ejected), ejection is ignored. 0 disables panic mode.
	PanicThreshold float64
	Outlier        OutlierConfig
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// Observer hears about ejections; may be nil.
	Observer Observer
}

// Balancer picks endpoints for new connections. It is safe for concurrent use.
type Balancer struct {
	cfg   Config
	hosts *Hosts
	eps   []Endpoint
	hs    []*host // hs[i] is the state of eps[i]

	mu      sync.Mutex
	current []int64          // smooth WRR state per endpoint
	locCur  map[string]int64 // smooth WRR state per locality
}

// New returns a Balancer over eps. hosts carries outlier state across
// endpoint updates of the same cluster; New drops the state of addresses
// that are gone. eps with duplicate addresses share one state.
func New(cfg Config, eps []Endpoint, hosts *Hosts) *Balancer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	addrs := make([]string, len(eps))
	for i, e := range eps {
		addrs[i] = e.Address
	}
	return &Balancer{
		cfg: cfg, hosts: hosts, eps: slices.Clone(eps), hs: hosts.sync(addrs, cfg.Now(), cfg.Observer),
		current: make([]int64, len(eps)), locCur: map[string]int64{},
	}
}

// Len returns the number of endpoints.
func (b *Balancer) Len() int { return len(b.eps) }

// Lease is one use of an endpoint by a connection. Exactly one of Failure
// or Release must be called; Success may be called before Release.
type Lease struct {
	b        *Balancer
	h        *host
	Endpoint *Endpoint
	done     bool
}

func weight(w uint32) int64 {
	if w == 0 {
		return 1
	}
	return int64(w)
}

// Pick chooses an endpoint for a new connection, skipping the addresses in
// exclude (those already tried by this connection). ok is false when no
// endpoint is left.
func (b *Balancer) Pick(exclude []string) (l *Lease, ok bool) {
	now := b.cfg.Now()
	b.hosts.mu.Lock()
	b.sweepLocked(now)
	avail := b.availability(now)
	b.hosts.mu.Unlock()

	b.mu.Lock()
	defer b.mu.Unlock()
	cands := b.candidates(avail, exclude)
	if len(cands) == 0 {
		return nil, false
	}
	i := b.choose(cands)
	h := b.hs[i]
	b.hosts.mu.Lock()
	h.active++
	b.hosts.mu.Unlock()
	return &Lease{b: b, h: h, Endpoint: &b.eps[i]}, true
}

// availability returns, per endpoint, whether it may be used. In panic mode
// every endpoint may. Called with hosts.mu held.
func (b *Balancer) availability(now time.Time) []bool {
	avail := make([]bool, len(b.eps))
	n := 0
	for i, h := range b.hs {
		if !h.isEjected(now, b.cfg.Observer) {
			avail[i] = true
			n++
		}
	}
	if len(b.eps) > 0 && float64(n)*100 < b.cfg.PanicThreshold*float64(len(b.eps)) {
		for i := range avail {
			avail[i] = true
		}
	}
	return avail
}

// candidates returns the indexes to choose from: the lowest priority with an
// usable endpoint, its healthy endpoints or else its degraded ones, and,
// with locality weighting, one locality chosen by weight.
func (b *Balancer) candidates(avail []bool, exclude []string) []int {
	var usable []int
	for i := range b.eps {
		if avail[i] && !slices.Contains(exclude, b.eps[i].Address) {
			usable = append(usable, i)
		}
	}
	if len(usable) == 0 {
		return nil
	}
	prio := b.eps[usable[0]].Priority
	for _, i := range usable {
		prio = min(prio, b.eps[i].Priority)
	}
	var healthy, degraded []int
	for _, i := range usable {
		switch e := b.eps[i]; {
		case e.Priority != prio:
		case e.Degraded:
			degraded = append(degraded, i)
		default:
			healthy = append(healthy, i)
		}
	}
	if len(healthy) == 0 {
		healthy = degraded
	}
	if b.cfg.LocalityWeighted {
		healthy = b.pickLocality(healthy)
	}
	return healthy
}

// pickLocality keeps the endpoints of one locality, chosen by smooth WRR over
// the localities present in cands that have a weight.
func (b *Balancer) pickLocality(cands []int) []int {
	var locs []string
	w := map[string]int64{}
	for _, i := range cands {
		e := b.eps[i]
		if e.LocalityWeight == 0 {
			continue
		}
		if _, seen := w[e.Locality]; !seen {
			locs = append(locs, e.Locality)
		}
		w[e.Locality] = int64(e.LocalityWeight)
	}
	if len(locs) == 0 {
		return nil
	}
	var total int64
	best := ""
	for _, l := range locs {
		b.locCur[l] += w[l]
		total += w[l]
		if best == "" || b.locCur[l] > b.locCur[best] {
			best = l
		}
	}
	b.locCur[best] -= total
	out := cands[:0:0]
	for _, i := range cands {
		if b.eps[i].Locality == best {
			out = append(out, i)
		}
	}
	return out
}

// choose picks one of cands by the configured policy. Called with b.mu held.
func (b *Balancer) choose(cands []int) int {
	switch b.cfg.Policy {
	case Random:
		var total int64
		for _, i := range cands {
			total += weight(b.eps[i].Weight)
		}
		r := rand.Int64N(total)
		for _, i := range cands {
			if r -= weight(b.eps[i].Weight); r < 0 {
				return i
			}
		}
		return cands[len(cands)-1]
	case LeastRequest:
		cands = b.leastLoaded(cands)
	}
	return b.smoothWRR(cands)
}

// leastLoaded keeps the candidates with the lowest active/weight.
func (b *Balancer) leastLoaded(cands []int) []int {
	b.hosts.mu.Lock()
	defer b.hosts.mu.Unlock()
	var out []int
	var bestA, bestW int64 = 0, 0
	for _, i := range cands {
		a, w := b.hs[i].active, weight(b.eps[i].Weight)
		switch {
		case out == nil || a*bestW < bestA*w:
			out, bestA, bestW = []int{i}, a, w
		case a*bestW == bestA*w:
			out = append(out, i)
		}
	}
	return out
}

// smoothWRR is nginx's smooth weighted round robin over cands: over any
// window of sum(weights) picks each endpoint is chosen exactly weight times.
func (b *Balancer) smoothWRR(cands []int) int {
	var total int64
	best := -1
	for _, i := range cands {
		w := weight(b.eps[i].Weight)
		b.current[i] += w
		total += w
		if best < 0 || b.current[i] > b.current[best] {
			best = i
		}
	}
	b.current[best] -= total
	return best
}

// Success records a successful connect: the endpoint's consecutive failures reset.
func (l *Lease) Success() {
	l.b.hosts.mu.Lock()
	l.h.consecutive = 0
	l.h.ok++
	l.b.hosts.mu.Unlock()
}

// Release ends the lease of a connection that connected (or was abandoned).
func (l *Lease) Release() {
	l.b.hosts.mu.Lock()
	defer l.b.hosts.mu.Unlock()
	if !l.done {
		l.done = true
		l.h.active--
	}
}

// Failure ends the lease of a failed connect and counts the failure; it
// reports whether the endpoint was ejected by it.
func (l *Lease) Failure() (ejected bool) {
	b := l.b
	now := b.cfg.Now()
	b.hosts.mu.Lock()
	defer b.hosts.mu.Unlock()
	if !l.done {
		l.done = true
		l.h.active--
	}
	h, oc := l.h, &b.cfg.Outlier
	h.consecutive++
	h.failed++
	if oc.Consecutive == 0 || h.consecutive < oc.Consecutive || h.isEjected(now, b.cfg.Observer) {
		return false
	}
	return b.ejectLocked(h, now, oc.EnforcingPercent)
}

// mayEject applies MaxEjectionPercent to this balancer's endpoints. Called
// with hosts.mu held.
func (b *Balancer) mayEject(now time.Time) bool {
	ejected := 0
	for _, h := range b.hs {
		if !h.ejectedUntil.IsZero() && now.Before(h.ejectedUntil) {
			ejected++
		}
	}
	if ejected == 0 && b.cfg.Outlier.AlwaysEjectOne {
		return true
	}
	return uint64(ejected)*100 < uint64(b.cfg.Outlier.MaxEjectionPercent)*uint64(len(b.hs))
}
