package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// State is the condition of a watched cluster.
type State string

// States of a watched cluster.
const (
	// StateSyncing: the initial sync has not completed yet, within SyncTimeout.
	StateSyncing State = "syncing"
	// StateSynced: the caches are synced and the API server answers.
	StateSynced State = "synced"
	// StateTimeout: the initial sync has not completed within SyncTimeout
	// and no request failed (the source keeps waiting).
	StateTimeout State = "timeout"
	// StateError: the last request to some resource failed (connection
	// refused, 401, 403, 5xx). The last good state stays published and the
	// informers keep retrying.
	StateError State = "error"
)

// Status is a snapshot of a watched cluster's condition. It never holds
// credentials: errors name URLs paths and HTTP statuses only.
type Status struct {
	Cluster string `json:"cluster"`
	State   State  `json:"state"`
	// Synced reports that the initial sync completed (the first state was
	// published).
	Synced bool `json:"synced"`
	// LastError is the most recent failed request; LastErrorTime its time.
	// They are kept after recovery, for diagnosis.
	LastError     string    `json:"lastError,omitempty"`
	LastErrorTime time.Time `json:"lastErrorTime,omitzero"`
	// LastSyncTime is when the source last rebuilt the state from synced
	// caches while every watch was healthy.
	LastSyncTime time.Time `json:"lastSyncTime,omitzero"`
	// Failing lists the watched resources whose last request failed.
	Failing []string `json:"failing,omitempty"`
	// Services is the number of services in the last published state.
	Services int `json:"services"`
	// InvalidObjects is the number of objects the last rebuild skipped.
	InvalidObjects int `json:"invalidObjects"`
	// Reconnects counts the times the source replaced its watches after an
	// outage, once the API server answered again (see Config.ReconnectProbe).
	Reconnects int `json:"reconnects,omitempty"`
}

// health tracks the outcome of every request the source's clients make,
// per watched resource (path plus selectors), through a wrapped transport.
type health struct {
	mu           sync.Mutex
	failing      map[string]failure // resource key -> last failure
	lastErr      string
	lastErrAt    time.Time
	onFail       func()           // counts failed requests (metrics)
	onTransition func(ok bool)    // called when failing becomes empty/non-empty
	now          func() time.Time // for tests
}

// failure is a resource's last failed request. transient: the server
// could not be reached or answered 5xx (an outage), as opposed to a refusal
// (401, 403) or a missing resource (404), which a reconnect cannot cure.
type failure struct {
	msg       string
	transient bool
}

func newHealth() *health {
	return &health{failing: map[string]failure{}, now: time.Now}
}

// resourceKey names what a request watches: path and selectors, without
// resourceVersion or timeouts.
func resourceKey(req *http.Request) string {
	q := req.URL.Query()
	k := req.URL.Path
	if fs := q.Get("fieldSelector"); fs != "" {
		k += "?fieldSelector=" + fs
	}
	if ls := q.Get("labelSelector"); ls != "" {
		k += "?labelSelector=" + ls
	}
	return k
}

func (h *health) record(req *http.Request, resp *http.Response, err error) {
	if err != nil && (errors.Is(err, context.Canceled) || req.Context().Err() != nil) {
		return // our own cancellation (informer stopped), not the server's fault
	}
	key := resourceKey(req)
	var msg string
	transient := false
	switch {
	case err != nil:
		msg, transient = fmt.Sprintf("%s %s: %v", req.Method, key, err), true
	case resp.StatusCode >= 500:
		msg, transient = fmt.Sprintf("%s %s: %s", req.Method, key, resp.Status), true
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		msg = fmt.Sprintf("%s %s: %s", req.Method, key, resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		// informers only ask for collections: the API server does not
		// serve this resource (Istio's CRDs not installed?)
		msg = fmt.Sprintf("%s %s: %s: the API server does not serve this resource (are its CRDs installed?)", req.Method, key, resp.Status)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		h.ok(key)
		return
	default:
		return // 409, 410 (expired resource version), 429: not a health signal
	}
	h.fail(key, msg, transient)
}

func (h *health) ok(key string) {
	h.mu.Lock()
	_, was := h.failing[key]
	delete(h.failing, key)
	empty := len(h.failing) == 0
	cb := h.onTransition
	h.mu.Unlock()
	if was && empty && cb != nil {
		cb(true)
	}
}

func (h *health) fail(key, msg string, transient bool) {
	h.mu.Lock()
	wasEmpty := len(h.failing) == 0
	h.failing[key] = failure{msg: msg, transient: transient}
	h.lastErr, h.lastErrAt = msg, h.now()
	cb, count := h.onTransition, h.onFail
	h.mu.Unlock()
	if count != nil {
		count()
	}
	if wasEmpty && cb != nil {
		cb(false)
	}
}

// forget drops a resource that is no longer watched.
func (h *health) forget(key string) {
	h.mu.Lock()
	delete(h.failing, key)
	h.mu.Unlock()
}

func (h *health) snapshot() (failing []string, lastErr string, lastErrAt time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.failing {
		failing = append(failing, k)
	}
	sort.Strings(failing)
	return failing, h.lastErr, h.lastErrAt
}

func (h *health) healthy() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.failing) == 0
}

// outage reports whether some resource's last request failed transiently
// (see failure): what reconnecting can cure.
func (h *health) outage() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.failing {
		if f.transient {
			return true
		}
	}
	return false
}

// roundTripper records every response in a health.
type roundTripper struct {
	next http.RoundTripper
	h    *health
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	rt.h.record(req, resp, err)
	return resp, err
}
