package gwhealth

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshgate/meshgate/discovery/model"
)

func gatewayOf(t *testing.T, addr, cluster string) model.NetworkGateway {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return model.NetworkGateway{Network: "net-" + cluster, Cluster: cluster, Address: host, Port: uint32(p)}
}

// waitState waits for OnChange events (or the first verdict) until key is in
// state want, and returns when it got there.
func waitState(t *testing.T, p *Prober, changed <-chan struct{}, key string, want State) time.Time {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, s := range p.Statuses() {
			if s.Gateway == key && s.State == want {
				return time.Now()
			}
		}
		select {
		case <-changed:
		case <-time.After(5 * time.Millisecond): // unknown → up has no event: poll that one
		case <-deadline:
			t.Fatalf("gateway %s never became %s: %+v", key, want, p.Statuses())
		}
	}
}

// TestProberDownUpAndFlapDamping: a real gateway listener is closed (down
// after DownAfter refused probes), reopened (up after UpAfter answers),
// then closed and reopened again within FlapWindow: the second recovery
// waits for the flap hold. Metrics and /debug follow.
func TestProberDownUpAndFlapDamping(t *testing.T) {
	gw := startGateway(t, "", "sniff", nil)
	reg := prometheus.NewRegistry()
	changed := make(chan struct{}, 16)
	cfg := Config{Interval: 20 * time.Millisecond, Jitter: 0.2, Timeout: 200 * time.Millisecond, DownAfter: 3, UpAfter: 2,
		FlapWindow: 10 * time.Second, FlapHold: 400 * time.Millisecond, MaxHold: time.Second}
	p, err := New(cfg, Options{Registerer: reg, OnChange: func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	g := gatewayOf(t, gw.addr, "cluster2")
	p.SetTargets([]model.NetworkGateway{g}) // before Run: kept until it starts
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	key := Key(g)

	waitState(t, p, changed, key, Up)
	if p.Down(key) {
		t.Fatal("Down says down while the gateway answers")
	}
	addr := gw.addr
	gw.close()
	closedAt := time.Now()
	downAt := waitState(t, p, changed, key, Down)
	if !p.Down(key) {
		t.Fatal("Down says not down after the state went down")
	}
	t.Logf("down %s after the listener closed", downAt.Sub(closedAt))
	if d := downAt.Sub(closedAt); d > time.Second {
		t.Errorf("down %s after the gateway stopped answering, want within ~DownAfter×Interval", d)
	}

	gw = startGateway(t, addr, "sniff", nil)
	openAt := time.Now()
	upAt := waitState(t, p, changed, key, Up)
	if d := upAt.Sub(openAt); d > time.Second {
		t.Errorf("up %s after the gateway came back, want within ~UpAfter×Interval", d)
	}

	// A flap: down again at once, back at once; the recovery waits FlapHold.
	gw.close()
	waitState(t, p, changed, key, Down)
	gw = startGateway(t, addr, "sniff", nil)
	openAt = time.Now()
	upAt = waitState(t, p, changed, key, Up)
	if d := upAt.Sub(openAt); d < cfg.FlapHold {
		t.Errorf("a flapping gateway was up %s after it came back, want at least the flap hold %s", d, cfg.FlapHold)
	}
	st := p.Statuses()
	if len(st) != 1 || st[0].Transitions != 4 || st[0].HoldMillis != 400 || st[0].RTTMillis <= 0 || st[0].Clusters[0] != "cluster2" {
		t.Errorf("status: %+v, want 4 transitions, hold 400ms, an RTT, cluster2", st)
	}
	if v := testutil.ToFloat64(p.m.transitions.WithLabelValues(key, "down")); v != 2 {
		t.Errorf("transitions to down: %v, want 2", v)
	}
	if v := testutil.ToFloat64(p.m.up.WithLabelValues(key)); v != 1 {
		t.Errorf("meshgate_gateway_probe_up: %v, want 1", v)
	}
	if v := testutil.ToFloat64(p.m.probes.WithLabelValues(key, "refused")); v < 3 {
		t.Errorf("refused probes counted: %v, want ≥ 3", v)
	}

	// Dropped from the targets: forgotten, metrics gone.
	p.SetTargets(nil)
	if len(p.Statuses()) != 0 {
		t.Errorf("statuses after SetTargets(nil): %+v", p.Statuses())
	}
	if n := testutil.CollectAndCount(p.m.up); n != 0 {
		t.Errorf("%d meshgate_gateway_probe_up series left for a forgotten gateway", n)
	}
}

// TestProberSilentGatewayOverlapsProbes: a gateway that accepts and never
// answers is down within about Timeout + DownAfter×Interval: probes overlap
// rather than wait for each other's timeout.
func TestProberSilentGatewayOverlapsProbes(t *testing.T) {
	gw := startGateway(t, "", "silent", nil)
	changed := make(chan struct{}, 16)
	cfg := DefaultConfig()
	cfg.Interval, cfg.Timeout = 50*time.Millisecond, 300*time.Millisecond
	p, err := New(cfg, Options{OnChange: func() { changed <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	go p.Run(ctx) //nolint:errcheck // returns nil
	g := gatewayOf(t, gw.addr, "cluster3")
	p.SetTargets([]model.NetworkGateway{g})
	downAt := waitState(t, p, changed, Key(g), Down)
	if d := downAt.Sub(start); d > cfg.Timeout+5*cfg.Interval+200*time.Millisecond {
		t.Errorf("a silent gateway was down after %s, want about Timeout+DownAfter×Interval (%s)", d, cfg.Timeout+3*cfg.Interval)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Interval, c.Jitter, c.DownAfter = 0, 1, 0
	err := c.Validate()
	for _, want := range []string{"interval: must be positive", "jitter", "downAfter"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to name %q", err, want)
		}
	}
}
