package lb

import (
	"sync"
	"time"
)

// OutlierConfig is the consecutive-failure part of Envoy's outlier detection,
// applied to upstream connect failures. The zero value disables ejection.
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
	mu    sync.Mutex
	hosts map[string]*host
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
