package identity

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"k8s.io/utils/clock"
)

// Issuer issues X.509 SVIDs. *CA implements it. IssueX509SVID may be called
// from several goroutines at once.
type Issuer interface {
	IssueX509SVID(id spiffeid.ID, opts SVIDOptions) (*x509svid.SVID, error)
}

var _ Issuer = (*CA)(nil)

// DefaultRetryInterval is how long the Manager waits before retrying a failed renewal.
const DefaultRetryInterval = time.Minute

// ManagerConfig is a Manager's settings. The zero value is usable:
// withDefaults fills in the defaults documented on each field.
type ManagerConfig struct {
	// TTL of issued SVIDs. Default DefaultSVIDTTL.
	TTL time.Duration
	// RetryInterval after a failed renewal. Default DefaultRetryInterval.
	RetryInterval time.Duration
}

// withDefaults returns c with every zero field set to its default.
func (c ManagerConfig) withDefaults() ManagerConfig {
	if c.TTL <= 0 {
		c.TTL = DefaultSVIDTTL
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	return c
}

// ManagerOptions are a Manager's collaborators. The zero value is usable.
type ManagerOptions struct {
	// Clock drives issuing times and renewal timers; nil means the real clock.
	Clock clock.Clock
	// Logger receives issuance and renewal events (never key material); nil
	// means slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the Manager's metrics.
	Registerer prometheus.Registerer
}

// Manager holds one SVID per SPIFFE ID, issued on demand by an Issuer and
// renewed when half of its lifetime (the TTL) has passed. It is safe for
// concurrent use. Issuance happens under the Manager's lock, so a Get that
// arrives during a renewal waits for it (one issuance takes well under a
// millisecond, see BenchmarkIssueSVID).
//
// Renewal happens in Get (when an SVID is due) and, proactively, in Run.
// Subscribers are told about every SVID that replaces an earlier one for the
// same ID (renewals); the first SVID of an ID is returned by the Get call that
// created it and is not announced.
type Manager struct {
	issuer Issuer
	ttl    time.Duration
	retry  time.Duration
	clock  clock.Clock
	log    *slog.Logger
	met    managerMetrics

	mu      sync.Mutex
	entries map[spiffeid.ID]*entry
	subs    map[int]func(*x509svid.SVID)
	nextSub int
	pending []spiffeid.ID // IDs renewed but not yet announced, in order, each once

	wake    chan struct{} // tells Run to reschedule (cap 1)
	notify  chan struct{} // tells the notifier that pending is not empty (cap 1)
	running atomic.Bool
}

type entry struct {
	svid    *x509svid.SVID
	renewAt time.Time // half of the SVID's TTL after issuance
	retryAt time.Time // set after a failed renewal
	lastErr error     // the failure that set retryAt
}

// NewManager returns a Manager issuing with issuer. It fails when issuer is
// nil or the metrics cannot be registered.
func NewManager(issuer Issuer, cfg ManagerConfig, opts ManagerOptions) (*Manager, error) {
	if issuer == nil {
		return nil, errors.New("identity: NewManager needs an issuer")
	}
	cfg = cfg.withDefaults()
	met, err := newManagerMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("identity: registering metrics: %w", err)
	}
	m := &Manager{
		issuer:  issuer,
		ttl:     cfg.TTL,
		retry:   cfg.RetryInterval,
		clock:   opts.Clock,
		log:     opts.Logger,
		met:     met,
		entries: map[spiffeid.ID]*entry{},
		subs:    map[int]func(*x509svid.SVID){},
		wake:    make(chan struct{}, 1),
		notify:  make(chan struct{}, 1),
	}
	if m.clock == nil {
		m.clock = clock.RealClock{}
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	return m, nil
}

// minRenewInterval keeps an SVID that is about to expire (its CA expires
// soon) from being re-issued in a tight loop.
const minRenewInterval = time.Second

// renewalTime returns when an SVID issued at now should be renewed: half-way
// through the validity it has left at issuance (half of the TTL). Counting
// from NotBefore instead would let the backdate eat into short TTLs.
func renewalTime(svid *x509svid.SVID, now time.Time) time.Time {
	half := svid.Certificates[0].NotAfter.Sub(now) / 2
	return now.Add(max(half, minRenewInterval))
}

// RenewalTime returns when the SVID held for id is due for renewal (or for a
// retry after a failed renewal).
func (m *Manager) RenewalTime(id spiffeid.ID) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	if e == nil {
		return time.Time{}, false
	}
	if !e.retryAt.IsZero() {
		return e.retryAt, true
	}
	return e.renewAt, true
}

// Get returns the current SVID for id, issuing one if there is none or if the
// current one is due for renewal. If a renewal fails while the current SVID is
// still valid, Get logs the failure and returns the current SVID (retrying
// after RetryInterval). Get may block while an SVID is being issued.
func (m *Manager) Get(id spiffeid.ID) (*x509svid.SVID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	e := m.entries[id]
	if e != nil && !m.due(e, now) {
		if notAfter := e.svid.Certificates[0].NotAfter; !now.Before(notAfter) {
			return nil, fmt.Errorf("SVID for %q expired at %s and renewal failed (next try at %s): %w",
				id, notAfter.UTC().Format(time.RFC3339), e.retryAt.UTC().Format(time.RFC3339), e.lastErr)
		}
		return e.svid, nil
	}
	if err := m.issueLocked(id, e, now); err != nil {
		return nil, err
	}
	return m.entries[id].svid, nil
}

// Current returns the SVID held for id without issuing or renewing.
func (m *Manager) Current(id spiffeid.ID) (*x509svid.SVID, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[id]; e != nil {
		return e.svid, true
	}
	return nil, false
}

// IDs returns the SPIFFE IDs the Manager holds SVIDs for, sorted.
func (m *Manager) IDs() []spiffeid.ID {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]spiffeid.ID, 0, len(m.entries))
	for id := range m.entries {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	return ids
}

// Remove forgets the SVID of id (for a gateway that is gone), so it is no
// longer renewed.
func (m *Manager) Remove(id spiffeid.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[id]; ok {
		delete(m.entries, id)
		m.met.held.Set(float64(len(m.entries)))
	}
}

// Source returns an x509svid.Source that reads id's current SVID through Get
// on every call, for go-spiffe's tlsconfig (MTLSServerConfig and friends):
// each new TLS handshake picks up the newest SVID.
func (m *Manager) Source(id spiffeid.ID) x509svid.Source {
	return managerSource{m: m, id: id}
}

// GetCertificate returns a tls.Config.GetCertificate callback serving id's
// current SVID.
func (m *Manager) GetCertificate(id spiffeid.ID) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return tlsconfig.GetCertificate(m.Source(id))
}

type managerSource struct {
	m  *Manager
	id spiffeid.ID
}

func (s managerSource) GetX509SVID() (*x509svid.SVID, error) { return s.m.Get(s.id) }

// Subscribe registers fn to be told of every renewed SVID, and returns a
// function that unregisters it.
//
// Contract: fn is called only while Run is running, from Run's notifier
// goroutine, one call at a time (never concurrently with itself or another
// subscriber), never while a Manager lock is held and never on the goroutine
// that called Get. fn may call any Manager method. fn may block, but a slow fn
// delays later notifications, which then coalesce: each ID is announced once
// with its newest SVID. Renewal itself never waits for subscribers.
func (m *Manager) Subscribe(fn func(*x509svid.SVID)) (cancel func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nextSub
	m.nextSub++
	m.subs[n] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, n)
	}
}

// Run renews SVIDs when they reach half of their lifetime (using the injected
// clock's timers) and delivers notifications to subscribers, until ctx is
// done. It returns nil when ctx is cancelled, or an error if Run is already
// running.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("identity: Manager.Run is already running")
	}
	defer m.running.Store(false)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.deliver(ctx)
	}()
	defer wg.Wait()
	for {
		next := m.RenewDue()
		var (
			timer  clock.Timer
			timerC <-chan time.Time
		)
		if !next.IsZero() {
			d := next.Sub(m.clock.Now())
			if d <= 0 {
				continue // the clock moved past next while renewing
			}
			timer = m.clock.NewTimer(d)
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-timerC:
		case <-m.wake:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// RenewDue renews every SVID whose renewal (or retry) time has come and
// returns the earliest time another one falls due (zero when the Manager holds
// none). Run calls it; it is exported for callers that drive renewal
// themselves.
func (m *Manager) RenewDue() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	var next time.Time
	for id, e := range m.entries {
		if m.due(e, now) {
			_ = m.issueLocked(id, e, now) // failure is logged and counted; e keeps its SVID
			e = m.entries[id]
		}
		at := e.renewAt
		if !e.retryAt.IsZero() {
			at = e.retryAt
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

func (m *Manager) due(e *entry, now time.Time) bool {
	if !e.retryAt.IsZero() {
		return !now.Before(e.retryAt)
	}
	return !now.Before(e.renewAt)
}

// issueLocked issues an SVID for id, replacing old (nil for a first issue).
// On a failed renewal it keeps the old SVID, schedules a retry, and returns
// nil while the old SVID is still valid.
func (m *Manager) issueLocked(id spiffeid.ID, old *entry, now time.Time) error {
	kind := "new"
	if old != nil {
		kind = "renewal"
	}
	svid, err := m.issuer.IssueX509SVID(id, SVIDOptions{TTL: m.ttl})
	if err != nil {
		m.met.failures.WithLabelValues(kind).Inc()
		m.log.Error("issuing SVID failed", "spiffe_id", id.String(), "kind", kind, "error", err)
		err = fmt.Errorf("issuing SVID for %q: %w", id, err)
		if old == nil {
			return err
		}
		old.retryAt, old.lastErr = now.Add(m.retry), err
		if now.Before(old.svid.Certificates[0].NotAfter) {
			return nil
		}
		return err
	}
	m.entries[id] = &entry{svid: svid, renewAt: renewalTime(svid, now)}
	m.met.issued.WithLabelValues(kind).Inc()
	m.met.held.Set(float64(len(m.entries)))
	m.log.Info("issued SVID", "kind", kind, SVIDAttr("svid", svid))
	select { // reschedule Run's timer
	case m.wake <- struct{}{}:
	default:
	}
	if old != nil {
		m.enqueueLocked(id)
	}
	return nil
}

func (m *Manager) enqueueLocked(id spiffeid.ID) {
	for _, p := range m.pending {
		if p == id {
			return // coalesce: the notifier reads the newest SVID anyway
		}
	}
	m.pending = append(m.pending, id)
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// deliver is the notifier goroutine started by Run.
func (m *Manager) deliver(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.notify:
		}
		for ctx.Err() == nil {
			svid, subs, ok := m.popPending()
			if !ok {
				break
			}
			for _, fn := range subs {
				fn(svid)
			}
		}
	}
}

func (m *Manager) popPending() (*x509svid.SVID, []func(*x509svid.SVID), bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.pending) > 0 {
		id := m.pending[0]
		m.pending = m.pending[1:]
		e := m.entries[id]
		if e == nil {
			continue // removed meanwhile
		}
		keys := make([]int, 0, len(m.subs))
		for k := range m.subs {
			keys = append(keys, k)
		}
		sort.Ints(keys) // subscribers are called in subscription order
		subs := make([]func(*x509svid.SVID), len(keys))
		for i, k := range keys {
			subs[i] = m.subs[k]
		}
		return e.svid, subs, true
	}
	return nil, nil, false
}

// SVIDAttr returns a log attribute describing svid by SPIFFE ID, serial
// number and validity, never its key.
func SVIDAttr(key string, svid *x509svid.SVID) slog.Attr {
	if svid == nil || len(svid.Certificates) == 0 {
		return slog.String(key, "<none>")
	}
	leaf := svid.Certificates[0]
	return slog.Group(key,
		slog.String("spiffe_id", svid.ID.String()),
		slog.String("serial", leaf.SerialNumber.Text(16)),
		slog.Time("not_before", leaf.NotBefore),
		slog.Time("not_after", leaf.NotAfter),
	)
}

type managerMetrics struct {
	issued   *prometheus.CounterVec
	failures *prometheus.CounterVec
	held     prometheus.Gauge
}

func newManagerMetrics(reg prometheus.Registerer) (managerMetrics, error) {
	mm := managerMetrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "meshgate", Subsystem: "identity", Name: "svid_issued_total",
			Help: "X.509 SVIDs issued, by kind (new, renewal).",
		}, []string{"kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "meshgate", Subsystem: "identity", Name: "svid_issue_failures_total",
			Help: "Failed X.509 SVID issuances, by kind (new, renewal).",
		}, []string{"kind"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "meshgate", Subsystem: "identity", Name: "svids",
			Help: "X.509 SVIDs held by the identity manager.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{mm.issued, mm.failures, mm.held} {
			if err := reg.Register(c); err != nil {
				return mm, err
			}
		}
	}
	return mm, nil
}
