package lb

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// OutlierConfig is Envoy's outlier detection applied to upstream connects
// (the built-in gateway is L4: a connect is its request): consecutive
// failures, and, evaluated every Interval over the connects of that
// interval, success rate and failure percentage. The zero value disables
// ejection.
type OutlierConfig struct {
	// Consecutive is the number of consecutive connect failures that ejects
	// an endpoint; 0 disables ejection.
	Consecutive uint32
	// EnforcingPercent is the chance (0–100) that a detected outlier is
	// really ejected.
	EnforcingPercent uint32
	// Interval is Envoy's sweep interval; here it only decays the ejection
	// multiplier: each Interval an endpoint stays in, it forgets one ejection.
	Interval time.Duration
	// BaseEjectionTime times the number of ejections is how long an endpoint
	// stays out, capped at max(BaseEjectionTime, MaxEjectionTime).
	BaseEjectionTime time.Duration
	MaxEjectionTime  time.Duration
	// MaxEjectionTimeJitter adds a random 0..jitter to each ejection.
	MaxEjectionTimeJitter time.Duration
	// MaxEjectionPercent caps the share of endpoints ejected at once: an
	// endpoint is ejected only while the ejected share is below it.
	MaxEjectionPercent uint32
	// AlwaysEjectOne ejects one endpoint even when MaxEjectionPercent would not allow it.
	AlwaysEjectOne bool
	// SuccessRate and FailurePercent are Envoy's statistical algorithms;
	// an Enforcing of 0 turns one off.
	SuccessRate    SuccessRateConfig
	FailurePercent FailurePercentConfig
}

// SuccessRateConfig: at the end of each Interval, among the endpoints with
// at least RequestVolume connects in it (and only when there are at least
// MinimumHosts of them), an endpoint whose success rate is below
// mean − StdevFactor/1000 × stdev is ejected with a chance of Enforcing %.
type SuccessRateConfig struct {
	MinimumHosts, RequestVolume, StdevFactor, Enforcing uint32
}

// FailurePercentConfig: at the end of each Interval, among the endpoints
// with at least RequestVolume connects in it (at least MinimumHosts of
// them), an endpoint whose connects failed Threshold % or more is ejected
// with a chance of Enforcing %.
type FailurePercentConfig struct {
	Threshold, MinimumHosts, RequestVolume, Enforcing uint32
}

// DefaultOutlierConfig returns Envoy's defaults: 5 consecutive failures,
// 10s interval, 30s base ejection, 300s maximum, 10% maximum ejected
// (Envoy still ejects the first host when the cap rounds to zero).
func DefaultOutlierConfig() OutlierConfig {
	return OutlierConfig{
		Consecutive:        5,
		EnforcingPercent:   100,
		Interval:           10 * time.Second,
		BaseEjectionTime:   30 * time.Second,
		MaxEjectionTime:    300 * time.Second,
		MaxEjectionPercent: 10,
		SuccessRate:        SuccessRateConfig{MinimumHosts: 5, RequestVolume: 100, StdevFactor: 1900, Enforcing: 100},
		FailurePercent:     FailurePercentConfig{Threshold: 85, MinimumHosts: 5, RequestVolume: 50, Enforcing: 0},
	}
}

// Observer hears about ejections. Its methods are called with the Hosts lock
// held: they must be quick and must not call back into the Balancer.
type Observer interface {
	OnEject(address string, d time.Duration)
	OnUneject(address string)
}

// Hosts holds per-endpoint state that outlives a Balancer: consecutive
// failures, ejections and active connections, keyed by address. One Hosts
// belongs to one cluster; it is safe for concurrent use.
type Hosts struct {
	mu        sync.Mutex
	hosts     map[string]*host
	lastSweep time.Time // the end of the last interval of the statistical algorithms
}

// NewHosts returns empty host state.
func NewHosts() *Hosts { return &Hosts{hosts: map[string]*host{}} }

type host struct {
	addr         string
	consecutive  uint32
	ejectedUntil time.Time // zero: not ejected
	unejectedAt  time.Time // when the last ejection ended (zero: never ejected)
	ejections    uint32    // ejection multiplier
	active       int64     // connections counted by leases
	ok, failed   uint32    // connects in the current interval
}

// Ejected reports whether address is ejected now (for tests and debugging).
func (hs *Hosts) Ejected(address string, now time.Time) bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.hosts[address]
	return h != nil && !h.ejectedUntil.IsZero() && now.Before(h.ejectedUntil)
}

// sync makes hs hold exactly the given addresses, keeping existing state;
// obs hears that dropped ejected hosts are no longer ejected.
func (hs *Hosts) sync(addrs []string, now time.Time, obs Observer) []*host {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := make([]*host, len(addrs))
	keep := make(map[string]*host, len(addrs))
	for i, a := range addrs {
		h := hs.hosts[a]
		if h == nil {
			h = &host{addr: a}
		}
		keep[a] = h
		out[i] = h
	}
	for a, h := range hs.hosts {
		if keep[a] == nil && obs != nil && !h.ejectedUntil.IsZero() && now.Before(h.ejectedUntil) {
			obs.OnUneject(a)
		}
	}
	hs.hosts = keep
	return out
}

// isEjected reports whether h is ejected at now, ending an expired ejection.
// Called with hs.mu held.
func (h *host) isEjected(now time.Time, obs Observer) bool {
	if h.ejectedUntil.IsZero() {
		return false
	}
	if now.Before(h.ejectedUntil) {
		return true
	}
	h.ejectedUntil = time.Time{}
	h.unejectedAt = now
	if obs != nil {
		obs.OnUneject(h.addr)
	}
	return false
}

// ejectionTime decays the multiplier by the intervals spent healthy since the
// last ejection ended, counts this ejection and returns its duration.
func (c *OutlierConfig) ejectionTime(h *host, now time.Time, randn func(int64) int64) time.Duration {
	if c.Interval > 0 && !h.unejectedAt.IsZero() {
		healthy := uint32(min(int64(now.Sub(h.unejectedAt)/c.Interval), int64(h.ejections)))
		h.ejections -= healthy
	}
	h.ejections++
	d := c.BaseEjectionTime * time.Duration(h.ejections)
	if limit := max(c.BaseEjectionTime, c.MaxEjectionTime); d > limit {
		d = limit
	}
	if c.MaxEjectionTimeJitter > 0 && randn != nil {
		d += time.Duration(randn(int64(c.MaxEjectionTimeJitter)))
	}
	return d
}

// sweepLocked ends an Interval when one has passed since the last: it runs
// the failure-percentage and success-rate algorithms over the interval's
// connects, then starts a new interval. It runs lazily, at the first Pick
// after the interval ended (the balancer has no goroutine). Called with
// hosts.mu held.
func (b *Balancer) sweepLocked(now time.Time) {
	oc, hs := &b.cfg.Outlier, b.hosts
	if oc.Interval <= 0 || (oc.SuccessRate.Enforcing == 0 && oc.FailurePercent.Enforcing == 0) {
		return
	}
	if hs.lastSweep.IsZero() {
		hs.lastSweep = now
		return
	}
	if now.Sub(hs.lastSweep) < oc.Interval {
		return
	}
	hs.lastSweep = now
	defer func() {
		for _, h := range b.hs {
			h.ok, h.failed = 0, 0
		}
	}()
	volume := func(min uint32) []*host {
		var out []*host
		for _, h := range b.hs {
			if h.ok+h.failed >= max(min, 1) && !h.isEjected(now, b.cfg.Observer) {
				out = append(out, h)
			}
		}
		return out
	}
	if fp := oc.FailurePercent; fp.Enforcing > 0 {
		if cands := volume(fp.RequestVolume); len(cands) >= int(fp.MinimumHosts) {
			for _, h := range cands {
				if uint64(h.failed)*100 >= uint64(fp.Threshold)*uint64(h.ok+h.failed) {
					b.ejectLocked(h, now, fp.Enforcing)
				}
			}
		}
	}
	if sr := oc.SuccessRate; sr.Enforcing > 0 {
		cands := volume(sr.RequestVolume)
		if len(cands) < int(max(sr.MinimumHosts, 1)) {
			return
		}
		rates := make([]float64, len(cands))
		var mean float64
		for i, h := range cands {
			rates[i] = float64(h.ok) / float64(h.ok+h.failed)
			mean += rates[i]
		}
		mean /= float64(len(rates))
		var variance float64
		for _, r := range rates {
			variance += (r - mean) * (r - mean)
		}
		limit := mean - float64(sr.StdevFactor)/1000*math.Sqrt(variance/float64(len(rates)))
		for i, h := range cands {
			if rates[i] < limit && !h.isEjected(now, b.cfg.Observer) {
				b.ejectLocked(h, now, sr.Enforcing)
			}
		}
	}
}

// ejectLocked ejects h with a chance of enforcing %, within
// MaxEjectionPercent, and reports whether it did. Called with hosts.mu held.
func (b *Balancer) ejectLocked(h *host, now time.Time, enforcing uint32) bool {
	if enforcing < 100 && uint32(rand.IntN(100)) >= enforcing {
		return false
	}
	if !b.mayEject(now) {
		return false
	}
	d := b.cfg.Outlier.ejectionTime(h, now, rand.Int64N)
	h.ejectedUntil = now.Add(d)
	h.consecutive = 0
	if b.cfg.Observer != nil {
		b.cfg.Observer.OnEject(h.addr, d)
	}
	return true
}
