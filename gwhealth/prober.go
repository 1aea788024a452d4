package gwhealth

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/discovery/model"
)

// Config holds the probe schedule and the thresholds of the state machine.
type Config struct {
	// Interval between two probes of one gateway (each jittered by
	// ±Jitter). Default 500ms: at ~1 KB a probe, ~2 KB/s per gateway.
	Interval time.Duration
	// Jitter is the fraction of Interval each wait varies by, at random.
	// Default 0.2.
	Jitter float64
	// Timeout bounds one probe (connect + the answer to the ClientHello).
	// Default 1.5s: longer than the kernel's first SYN retransmission (1s),
	// so one lost packet does not fail a probe. Probes overlap when a
	// gateway stops answering: at most ceil(Timeout/Interval)+1 in flight.
	Timeout time.Duration
	// DownAfter consecutive failures make a gateway down. Default 3:
	// a silent gateway is down ~Timeout+2×Interval after it stopped
	// answering (~2.5s), a refusing one ~3×Interval.
	DownAfter int
	// UpAfter consecutive answers make a down gateway up again. Default 2.
	UpAfter int
	// FlapWindow: a gateway that goes down again within FlapWindow of coming
	// back is flapping; each flap doubles how long it must answer without a
	// failure before it is up again (from FlapHold up to MaxHold), so a
	// flapping link does not churn the endpoints. FlapWindow of stable
	// answers resets it. Defaults 30s, 2s, 30s.
	FlapWindow time.Duration
	FlapHold   time.Duration
	MaxHold    time.Duration
}

// DefaultConfig is the configuration the daemon uses.
func DefaultConfig() Config {
	return Config{Interval: 500 * time.Millisecond, Jitter: 0.2, Timeout: 1500 * time.Millisecond, DownAfter: 3, UpAfter: 2,
		FlapWindow: 30 * time.Second, FlapHold: 2 * time.Second, MaxHold: 30 * time.Second}
}

// Validate checks c, naming the field at fault.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", c.Interval}, {"timeout", c.Timeout}, {"flapWindow", c.FlapWindow}, {"flapHold", c.FlapHold}, {"maxHold", c.MaxHold}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("gwhealth: %s: must be positive, got %s", d.name, d.v))
		}
	}
	if c.Jitter < 0 || c.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("gwhealth: jitter: must be in [0, 1), got %v", c.Jitter))
	}
	if c.DownAfter < 1 || c.UpAfter < 1 {
		errs = append(errs, fmt.Errorf("gwhealth: downAfter and upAfter: must be at least 1, got %d and %d", c.DownAfter, c.UpAfter))
	}
	return errors.Join(errs...)
}

// Options are the Prober's collaborators.
type Options struct {
	// Logger receives state changes (info) and probe failures (debug); nil
	// means slog.Default().
	Logger *slog.Logger
	// Registerer receives the meshgate_gateway_probe_* metrics; nil means
	// they are not exported.
	Registerer prometheus.Registerer
	// TLS is the client configuration of the probe's handshake (the mesh
	// identity; the Prober sets ServerName and NextProtos). nil: an empty
	// one. The gateway closes the connection after the ClientHello, so the
	// certificate is offered only to a gateway that asks for one.
	TLS func() *tls.Config
	// Dial opens the probe's connection; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnChange is called after a gateway changed between up and down (or was
	// dropped while down). It is called from probe goroutines, without any
	// lock of the Prober held, and must not block.
	OnChange func()
}

// State of a probed gateway.
type State string

const (
	// Unknown: no answer nor DownAfter failures yet; treated as up.
	Unknown State = "unknown"
	Up      State = "up"
	Down    State = "down"
)

// Status is what /debug/gateways shows of one gateway.
type Status struct {
	Gateway string `json:"gateway"`
	// Clusters and networks whose NetworkGateways name this address.
	Clusters   []string  `json:"clusters"`
	Networks   []string  `json:"networks"`
	State      State     `json:"state"`
	LastChange time.Time `json:"lastChange"`
	// RTTMillis is the last answered probe's connect + answer time.
	RTTMillis   float64 `json:"rttMillis"`
	LastError   string  `json:"lastError,omitempty"`
	Probes      uint64  `json:"probes"`
	Failures    uint64  `json:"failures"`
	Transitions uint64  `json:"transitions"`
	// HoldMillis is how long the gateway must answer without a failure
	// before it is up again (flap damping; 0 when it is not flapping).
	HoldMillis float64 `json:"holdMillis"`
	// LastAnswer is when the last answered probe ended (zero before the
	// first answer): a gateway found down failed after it.
	LastAnswer time.Time `json:"lastAnswer"`
	// AnsweringSince is when the first answer of the current streak of
	// answers came (zero while the last probe failed): a gateway found up
	// again was reachable from then on.
	AnsweringSince time.Time `json:"answeringSince"`
}

type target struct {
	key      string
	clusters []string
	networks []string
	cancel   context.CancelFunc
	stopped  bool

	state       State
	since       time.Time // last change of state (or when probing began)
	fails, oks  int       // consecutive
	okSince     time.Time // first answer of the current streak
	lastOK      time.Time // last answer
	lastUp      time.Time
	hold        time.Duration
	rtt         time.Duration
	lastErr     string
	probes      uint64
	failures    uint64
	transitions uint64
	inflight    int
}

// Prober probes the east-west gateways SetTargets names and keeps each one's
// state: up, down (DownAfter failures in a row), or unknown until the first
// verdict. Run runs it; Down, Statuses and Handler are safe for concurrent
// use. Lock order: Prober.mu is never held across a call out (OnChange, the
// logger aside).
type Prober struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	m    *metrics

	mu      sync.Mutex
	ctx     context.Context // Run's; nil before Run
	targets map[string]*target
	pending []model.NetworkGateway // targets set before Run started
}

// New checks cfg and builds a Prober.
func New(cfg Config, opts Options) (*Prober, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Dial == nil {
		d := &net.Dialer{}
		opts.Dial = d.DialContext
	}
	if opts.TLS == nil {
		opts.TLS = func() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Prober{cfg: cfg, opts: opts, log: opts.Logger, m: m, targets: map[string]*target{}}, nil
}

// Key is the address:port a NetworkGateway is probed (and looked up) by.
func Key(g model.NetworkGateway) string {
	return net.JoinHostPort(g.Address, strconv.FormatUint(uint64(g.Port), 10))
}

// SetTargets makes gws the gateways probed: new ones start (unknown, so up
// until proven down), gone ones stop and are forgotten. It never blocks on
// the network.
func (p *Prober) SetTargets(gws []model.NetworkGateway) {
	want := map[string]*target{}
	for _, g := range gws {
		k := Key(g)
		t := want[k]
		if t == nil {
			t = &target{key: k}
			want[k] = t
		}
		t.clusters = appendSorted(t.clusters, g.Cluster)
		t.networks = appendSorted(t.networks, g.Network)
	}
	p.mu.Lock()
	if p.ctx == nil {
		p.pending = slices.Clone(gws)
		p.mu.Unlock()
		return
	}
	changed := false
	for k, t := range p.targets {
		if _, ok := want[k]; !ok {
			t.cancel()
			t.stopped = true
			delete(p.targets, k)
			p.m.forget(k)
			changed = changed || t.state == Down
			p.log.Info("gateway probe stopped: no longer a gateway of another network", "gateway", k, "state", t.state)
		}
	}
	for k, w := range want {
		if t := p.targets[k]; t != nil {
			t.clusters, t.networks = w.clusters, w.networks
			continue
		}
		ctx, cancel := context.WithCancel(p.ctx)
		w.cancel, w.state, w.since = cancel, Unknown, time.Now()
		p.targets[k] = w
		p.m.setState(k, Unknown)
		go p.loop(ctx, w)
	}
	p.mu.Unlock()
	if changed {
		p.notify()
	}
}

func appendSorted(s []string, v string) []string {
	if i, found := slices.BinarySearch(s, v); !found {
		s = slices.Insert(s, i, v)
	}
	return s
}

// Run probes until ctx is done, then stops every probe and returns nil.
func (p *Prober) Run(ctx context.Context) error {
	p.mu.Lock()
	p.ctx = ctx
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	if pending != nil {
		p.SetTargets(pending)
	}
	<-ctx.Done()
	p.mu.Lock()
	for _, t := range p.targets {
		t.cancel()
	}
	p.mu.Unlock()
	return nil
}

// Down reports whether the gateway at key (Key) is down. An unknown or
// unprobed gateway is not down.
func (p *Prober) Down(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.targets[key]
	return t != nil && t.state == Down
}

// Statuses lists every probed gateway, sorted by address.
func (p *Prober) Statuses() []Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Status, 0, len(p.targets))
	for _, t := range p.targets {
		st := Status{Gateway: t.key, Clusters: t.clusters, Networks: t.networks, State: t.state, LastChange: t.since,
			RTTMillis: ms(t.rtt), LastError: t.lastErr, Probes: t.probes, Failures: t.failures, Transitions: t.transitions, HoldMillis: ms(t.hold),
			LastAnswer: t.lastOK}
		if t.oks > 0 {
			st.AnsweringSince = t.okSince
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Gateway, b.Gateway) })
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loop starts a probe of t every jittered Interval until ctx is done; a
// gateway that stops answering has several probes in flight (bounded), so
// its failures are seen at the probe rate, not one per Timeout.
func (p *Prober) loop(ctx context.Context, t *target) {
	maxInflight := int((p.cfg.Timeout+p.cfg.Interval-1)/p.cfg.Interval) + 1
	timer := time.NewTimer(p.jittered() / 4) // spread the first probes of many gateways
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(p.jittered())
		p.mu.Lock()
		full := t.inflight >= maxInflight
		if !full {
			t.inflight++
		}
		p.mu.Unlock()
		if full {
			continue
		}
		go func() {
			rtt, err := probe(ctx, p.opts.Dial, t.key, p.cfg.Timeout, p.opts.TLS())
			if ctx.Err() != nil {
				return // stopped meanwhile: not a verdict on the gateway
			}
			p.record(t, rtt, err)
		}()
	}
}

func (p *Prober) jittered() time.Duration {
	j := p.cfg.Jitter * (2*rand.Float64() - 1)
	return time.Duration(float64(p.cfg.Interval) * (1 + j))
}

// record applies one probe's result to t's state machine.
func (p *Prober) record(t *target, rtt time.Duration, err error) {
	now := time.Now()
	p.mu.Lock()
	t.inflight--
	if t.stopped {
		p.mu.Unlock()
		return
	}
	t.probes++
	p.m.probes.WithLabelValues(t.key, reason(err)).Inc()
	from := t.state
	if err == nil {
		t.rtt = rtt
		p.m.rtt.WithLabelValues(t.key).Observe(rtt.Seconds())
		t.fails, t.lastErr, t.lastOK = 0, "", now
		if t.oks == 0 {
			t.okSince = now
		}
		t.oks++
		switch {
		case t.state == Unknown:
			t.state = Up
		case t.state == Down && t.oks >= p.cfg.UpAfter && now.Sub(t.okSince) >= t.hold:
			t.state, t.lastUp = Up, now
		}
		if t.state == Up && t.hold > 0 && now.Sub(t.lastUp) >= p.cfg.FlapWindow {
			t.hold = 0 // stable again
		}
	} else {
		t.failures++
		t.oks, t.lastErr = 0, err.Error()
		t.fails++
		if t.state != Down && t.fails >= p.cfg.DownAfter {
			if !t.lastUp.IsZero() && now.Sub(t.lastUp) < p.cfg.FlapWindow {
				t.hold = min(max(2*t.hold, p.cfg.FlapHold), p.cfg.MaxHold)
			}
			t.state = Down
		}
	}
	to, key, hold, lastErr, clusters := t.state, t.key, t.hold, t.lastErr, t.clusters
	if from != to {
		t.since = now
		p.m.setState(t.key, to)
		if from != Unknown {
			t.transitions++
			p.m.transitions.WithLabelValues(t.key, string(to)).Inc()
		}
	}
	p.mu.Unlock()
	if from == to {
		if err != nil {
			p.log.Debug("gateway probe failed", "gateway", key, "reason", reason(err), "err", err)
		}
		return
	}
	switch {
	case to == Down:
		p.log.Warn("east-west gateway down: its endpoints are withdrawn from here unless nothing else is left",
			"gateway", key, "clusters", clusters, "reason", reason(err), "err", lastErr, "restoreHold", hold)
	case from == Down:
		p.log.Info("east-west gateway up again: its endpoints are restored", "gateway", key, "clusters", clusters, "rtt", rtt)
	default:
		p.log.Info("east-west gateway answers", "gateway", key, "clusters", clusters, "rtt", rtt)
	}
	if from == Down || to == Down {
		p.notify()
	}
}

func (p *Prober) notify() {
	if p.opts.OnChange != nil {
		p.opts.OnChange()
	}
}
