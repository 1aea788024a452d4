package authn

import (
	"sync"
	"time"
)

// tokenCache holds reviewed tokens by SHA-256, never the tokens. It is
// bounded: when full, expired entries go first, then arbitrary ones (Go's
// map order), which keeps a flood of distinct tokens from growing memory.
type tokenCache struct {
	max int
	m   *metrics

	mu      sync.Mutex
	entries map[[32]byte]reviewed
}

func newTokenCache(max int, m *metrics) *tokenCache {
	return &tokenCache{max: max, m: m, entries: map[[32]byte]reviewed{}}
}

func (c *tokenCache) get(key [32]byte, now time.Time) (reviewed, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.entries[key]
	if ok && !now.Before(r.until) {
		delete(c.entries, key)
		c.m.cached.Set(float64(len(c.entries)))
		ok = false
	}
	if ok {
		c.m.cache.WithLabelValues("hit").Inc()
	} else {
		c.m.cache.WithLabelValues("miss").Inc()
	}
	return r, ok
}

func (c *tokenCache) put(key [32]byte, r reviewed, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = r
	c.m.cached.Set(float64(len(c.entries)))
}
