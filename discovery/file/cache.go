package file

import (
	"crypto/sha256"
	"sync"
)

// jsonCache remembers the JSON of YAML documents across the reloads of one
// watcher, keyed by the document's content, so a reload after an edit
// converts only the documents that changed (YAML parsing is most of a load).
// It is generational: what a load does not use is forgotten after it.
// Only successful strict conversions are cached; bad documents are re-read
// (and re-reported) every time.
type jsonCache struct {
	mu         sync.Mutex
	prev, next map[[sha256.Size]byte]cached
}

func newJSONCache() *jsonCache {
	return &jsonCache{prev: map[[sha256.Size]byte]cached{}, next: map[[sha256.Size]byte]cached{}}
}

// cached is a document's JSON, or its tree and envelope when the fast YAML
// path read it.
type cached struct {
	js   []byte
	tree *ynode
	env  *envelope
}

// get returns the cached JSON of doc, if any; without a cache, nothing (and
// no key: it would not be used).
func (c *jsonCache) get(doc []byte) (cached, [sha256.Size]byte, bool) {
	if c == nil {
		return cached{}, [sha256.Size]byte{}, false
	}
	k := sha256.Sum256(doc)
	c.mu.Lock()
	defer c.mu.Unlock()
	if js, ok := c.next[k]; ok {
		return js, k, true
	}
	if js, ok := c.prev[k]; ok {
		c.next[k] = js
		return js, k, true
	}
	return cached{}, k, false
}

func (c *jsonCache) put(k [sha256.Size]byte, js cached) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.next[k] = js
	c.mu.Unlock()
}

// rotate ends a load: entries the load did not use are dropped.
func (c *jsonCache) rotate() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.prev, c.next = c.next, map[[sha256.Size]byte]cached{}
	c.mu.Unlock()
}
