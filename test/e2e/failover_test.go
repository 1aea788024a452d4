//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// Failover (issue 19): each daemon probes the east-west gateways of the
// other networks (package gwhealth); a gateway that stops answering leaves
// the endpoints of every service that has anything else within seconds,
// and returns within seconds of answering again. These scenarios measure
// it from a client in cluster1 calling through its daemon's EDS.

const (
	withdrawWithin = 5 * time.Second // a gateway that stops answering leaves the client's endpoints
	restoreWithin  = 5 * time.Second // … and returns after it answers again
)

// startFailover is startChaos (50 requests per second) with room for
// every request a fault can hold: at 50/s with 5 s timeouts up to 250 hang
// on a partitioned gateway, and a request the load generator refuses for
// its in-flight cap (default 64) would count against the mesh.
func startFailover(t *testing.T, name string, cl *workload.Client, tgt workload.Target) *chaosRun {
	t.Helper()
	l := callLoad(name, cl, tgt, 50)
	l.MaxInFlight = 300
	return startChaosLoad(t, l, tgt.String(), func() []string { return clientEndpoints(cl, tgt) }, cl.XDS.Changed)
}

// edsTrack records every change of a client's endpoints of one target, with
// its time, from the client's xDS updates.
type edsTrack struct {
	mu     sync.Mutex
	events []edsEvent
	cancel context.CancelFunc
	done   chan struct{}
}

type edsEvent struct {
	at  time.Time
	eps []string
}

func trackEndpoints(t *testing.T, cl *workload.Client, tgt workload.Target) *edsTrack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &edsTrack{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var last []string
		for first := true; ; first = false {
			ch := cl.XDS.Changed()
			if eps := clientEndpoints(cl, tgt); first || !slices.Equal(eps, last) {
				last = eps
				e.mu.Lock()
				e.events = append(e.events, edsEvent{at: time.Now(), eps: eps})
				e.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-ch:
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(e.stop)
	return e
}

func (e *edsTrack) stop() { e.cancel(); <-e.done }

// first is the first change at or after since whose endpoints satisfy cond.
func (e *edsTrack) first(since time.Time, cond func([]string) bool) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, ev := range e.events {
		// the state in force at since counts too
		if ev.at.Before(since) && (i+1 < len(e.events) && !e.events[i+1].at.After(since)) {
			continue
		}
		if cond(ev.eps) {
			if ev.at.Before(since) {
				return since, true
			}
			return ev.at, true
		}
	}
	return time.Time{}, false
}

// changes counts the changes in [from, to) that add or remove addr.
func (e *edsTrack) changes(addr string, from, to time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	var had *bool
	for _, ev := range e.events {
		h := slices.Contains(ev.eps, addr)
		if had != nil && *had != h && !ev.at.Before(from) && ev.at.Before(to) {
			n++
		}
		had = &h
	}
	return n
}

func without(addr netip.AddrPort) func([]string) bool {
	return func(eps []string) bool { return !slices.Contains(eps, addr.String()) }
}

func with(addr netip.AddrPort) func([]string) bool {
	return func(eps []string) bool { return slices.Contains(eps, addr.String()) }
}

// waitTracked waits until the tracked endpoints satisfy cond after since
// and returns how long after since that happened.
func waitTracked(t *testing.T, e *edsTrack, what string, since time.Time, cond func([]string) bool) time.Duration {
	t.Helper()
	var at time.Time
	waitUntil(t, what, nil, func() (bool, string) {
		var ok bool
		at, ok = e.first(since, cond)
		return ok, "not yet"
	})
	return at.Sub(since)
}

// probeRate is the probes per second c's daemon sent to gateway g over the
// last d (from its meshgate_gateway_probes_total), read twice d apart.
func probeRate(t *testing.T, c *meshlab.Cluster, g netip.AddrPort, d time.Duration) float64 {
	t.Helper()
	label := fmt.Sprintf("gateway=%q", g.String())
	before := sumMetric(t, []*meshlab.Cluster{c}, "meshgate_gateway_probes_total", label)
	time.Sleep(d) // a rate needs an interval
	after := sumMetric(t, []*meshlab.Cluster{c}, "meshgate_gateway_probes_total", label)
	return (after - before) / d.Seconds()
}

// afterWithdrawal runs n more requests and requires ≥ 99% of them to
// succeed: a healthy endpoint is left and the unreachable one is gone.
func afterWithdrawal(t *testing.T, r *chaosRun, n int) workload.Stats {
	t.Helper()
	from := time.Now()
	st := r.waitLoad(from, "requests after the withdrawal", func(s workload.Stats) bool { return s.Sent >= scaled(n) })
	if st.SuccessRate() < 0.99 {
		t.Errorf("after the withdrawal fewer than 99%% of the requests succeeded (a healthy endpoint exists): %s %v", st, st.Errors)
	}
	return st
}

// gatewaysView is a daemon's /debug/gateways.
type gatewaysView struct {
	Gateways []struct {
		Gateway string `json:"gateway"`
		State   string `json:"state"`
	} `json:"gateways"`
	ReportedDownBy map[string][]string `json:"reportedDownBy"`
}

func (v gatewaysView) state(g netip.AddrPort) string {
	for _, s := range v.Gateways {
		if s.Gateway == g.String() {
			return s.State
		}
	}
	return ""
}

// debugGateways reads c's daemon's /debug/gateways.
func debugGateways(t *testing.T, c *meshlab.Cluster) gatewaysView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin/debug/gateways", nil)
	resp, err := c.AdminClient().Do(req)
	if err != nil {
		t.Fatalf("%s /debug/gateways: %v", c.ID, err)
	}
	defer resp.Body.Close()
	var v gatewaysView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s /debug/gateways: %v", c.ID, err)
	}
	return v
}

// overTheFault requires ≥ 99% of the requests sent during the fault to
// succeed (a healthy endpoint exists throughout: a call whose connect fails
// is retried on another endpoint, see workload.Client) and returns how many
// needed more than one connect attempt.
func overTheFault(t *testing.T, what string, st workload.Stats) (retried int) {
	t.Helper()
	for _, s := range st.Samples {
		if s.Result.Attempts > 1 {
			retried++
		}
	}
	if st.SuccessRate() < 0.99 {
		t.Errorf("%s: fewer than 99%% of the requests sent during the fault succeeded (a healthy endpoint existed throughout): %s %v", what, st, st.Errors)
	}
	return retried
}

// TestFailoverPartition: iptables DROP between net1 and net2 while
// cluster1 calls echo (its own pod, cluster2 and cluster3 through their
// gateways). cluster1's daemon stops hearing cluster2's gateway: it leaves
// the client's endpoints within withdrawWithin; ≥ 99% of the requests
// succeed over the whole fault (before the withdrawal a connect to
// cluster2's gateway times out after the 2 s connect_timeout and is retried
// on another endpoint) and after the withdrawal; after the heal it returns
// within restoreWithin.
func TestFailoverPartition(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-failover-partition")
	tgt := target(m, tgtEcho, "echo")
	waitEndpoints(t, cl, tgt, podAddr(podOf(t, c1, "echo", "v1")), gw(c2), gw(c3))
	eds := trackEndpoints(t, cl, tgt)
	r := startFailover(t, "failover-partition", cl, tgt)
	rate := probeRate(t, c1, gw(c2), 5*time.Second)

	f, err := m.Lab.Partition(c1.Net, c2.Net)
	if err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { _ = f.Heal() })
	withdraw := waitTracked(t, eds, "cluster2's gateway leaves the client's endpoints", r.faultAt, without(gw(c2)))
	if withdraw > withdrawWithin {
		t.Errorf("cluster2's unreachable gateway withdrawn %s after the partition, want < %s", withdraw.Round(time.Millisecond), withdrawWithin)
	}
	after := afterWithdrawal(t, r, 200)
	// cluster1's verdict travels in its record: cluster3's daemon shows it,
	// and keeps the gateway, which answers from net3 (corroboration only).
	var view gatewaysView
	reported := waitUntil(t, "cluster3's /debug/gateways shows cluster1 reporting cluster2's gateway down", nil, func() (bool, string) {
		view = debugGateways(t, c3)
		return slices.Contains(view.ReportedDownBy[gw(c2).String()], c1.ID), fmt.Sprintf("%+v", view)
	})
	if st := view.state(gw(c2)); st != "up" {
		t.Errorf("cluster3's own verdict on cluster2's gateway is %q, want up (it answers from net3): %+v", st, view)
	}
	r.heal()
	if err := f.Heal(); err != nil {
		t.Fatal(err)
	}
	restore := waitTracked(t, eds, "cluster2's gateway back in the client's endpoints", r.healAt, with(gw(c2)))
	if restore > restoreWithin {
		t.Errorf("cluster2's gateway restored %s after the heal, want < %s", restore.Round(time.Millisecond), restoreWithin)
	}
	_, during := r.recover()
	retried := overTheFault(t, "partition", during)
	figure(t, "partition: during %s (p50=%s p99=%s), %d retried on another endpoint; withdrawn after %s; after withdrawal %s; restored %s after heal; probes %.1f/s per gateway; cluster1's report seen by cluster3 (checked %s after the withdrawal's requests)",
		during, during.P50.Round(10*time.Microsecond), during.P99.Round(10*time.Microsecond), retried, withdraw.Round(time.Millisecond),
		after, restore.Round(time.Millisecond), rate, reported.Round(time.Millisecond))
}

// TestFailoverGatewayKilled: kill -9 cluster2's east-west gateway (its
// daemon lives on, still publishing it). cluster1's daemon withdraws it
// from echo within withdrawWithin (the connection is refused; until then
// the client retries such a connect on another endpoint, so ≥ 99% of the
// requests succeed over the whole fault); once the gateway runs again it
// returns within restoreWithin.
func TestFailoverGatewayKilled(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-failover-gw")
	tgt := target(m, tgtEcho, "echo")
	waitEndpoints(t, cl, tgt, podAddr(podOf(t, c1, "echo", "v1")), gw(c2), gw(c3))
	eds := trackEndpoints(t, cl, tgt)
	r := startFailover(t, "failover-gateway", cl, tgt)

	if err := c2.EastWest.Kill(); err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { restartGateway(t, m, c2, c2.EastWest, meshlab.EastWestAdmin) })
	withdraw := waitTracked(t, eds, "cluster2's killed gateway leaves the client's endpoints", r.faultAt, without(gw(c2)))
	if withdraw > withdrawWithin {
		t.Errorf("cluster2's killed gateway withdrawn %s after the kill, want < %s", withdraw.Round(time.Millisecond), withdrawWithin)
	}
	after := afterWithdrawal(t, r, 200)
	r.heal()
	restartGateway(t, m, c2, c2.EastWest, meshlab.EastWestAdmin)
	ready := time.Now()
	restore := waitTracked(t, eds, "cluster2's gateway back in the client's endpoints", ready, with(gw(c2)))
	if restore > restoreWithin {
		t.Errorf("cluster2's gateway restored %s after it was ready again, want < %s", restore.Round(time.Millisecond), restoreWithin)
	}
	_, during := r.recover()
	retried := overTheFault(t, "killed gateway", during)
	figure(t, "killed gateway: during %s (p50=%s p99=%s), %d retried on another endpoint; withdrawn after %s; after withdrawal %s; restored %s after it was ready (%s after the restart began)",
		during, during.P50.Round(10*time.Microsecond), during.P99.Round(10*time.Microsecond), retried, withdraw.Round(time.Millisecond),
		after, restore.Round(time.Millisecond), time.Since(r.healAt).Round(time.Millisecond))
}

// TestFailoverDaemonKilledGatewayServes: kill -9 cluster3's daemon only.
// Its gateway keeps its last configuration and keeps answering, so
// cluster1 keeps cluster3's endpoints of echo v2 past memberlist's death
// verdict and past the fail-static window (the fail-static promise), and
// no request fails. The daemon's return changes nothing.
func TestFailoverDaemonKilledGatewayServes(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-failover-daemon")
	tgt := target(m, tgtEchoV2, "echo")
	waitEndpoints(t, cl, tgt, gw(c2), gw(c3))
	eds := trackEndpoints(t, cl, tgt)
	r := startFailover(t, "failover-daemon", cl, tgt)

	if err := c3.Daemon.Kill(); err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { restartDaemon(t, m, c3) })
	dead := waitUntil(t, "cluster1's daemon sees cluster3's daemon dead", nil, func() (bool, string) {
		st := memberStates(t, m, c1)
		return st[c3.ID] == "dead" || st[c3.ID] == "left" || st[c3.ID] == "", strings.Join(mapLines(st), ", ")
	})
	// Past the window, with margin for the recheck: nothing to wait for
	// but time (the event under test is that nothing happens).
	hold := m.Opts.FailStaticWindow + 5*time.Second
	time.Sleep(hold)
	if _, gone := eds.first(r.faultAt, without(gw(c3))); gone {
		t.Errorf("cluster3's endpoints withdrawn although its gateway kept serving (daemon seen dead after %s)", dead.Round(time.Millisecond))
	}
	during := r.load.Window(r.faultAt, time.Now())
	if during.Failed != 0 {
		t.Errorf("requests failed while only cluster3's daemon was down: %s %v", during, during.Errors)
	}
	r.heal()
	restartDaemon(t, m, c3)
	r.recover()
	figure(t, "daemon only: seen dead after %s, endpoints kept %s past it (window %s): %s (p50=%s p99=%s)",
		dead.Round(time.Millisecond), hold, m.Opts.FailStaticWindow, during, during.P50.Round(10*time.Microsecond), during.P99.Round(10*time.Microsecond))
}

// TestFailoverPacketLoss: 10% random loss to and from cluster2's gateway
// for 30 s of traffic: the probes (1.5 s timeout, 3 failures in a row)
// never call it down, so it is never withdrawn, and ≥ 99% of the requests
// succeed.
func TestFailoverPacketLoss(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-failover-loss")
	tgt := target(m, tgtEcho, "echo")
	waitEndpoints(t, cl, tgt, podAddr(podOf(t, c1, "echo", "v1")), gw(c2), gw(c3))
	eds := trackEndpoints(t, cl, tgt)
	r := startFailover(t, "failover-loss", cl, tgt)
	gwLabel := fmt.Sprintf("gateway=%q", gw(c2).String())
	probes := func(result string) float64 {
		l := gwLabel
		if result != "" {
			l += fmt.Sprintf(",result=%q", result)
		}
		return sumMetric(t, []*meshlab.Cluster{c1}, "meshgate_gateway_probes_total", l)
	}
	allBefore, okBefore := probes(""), probes("ok")

	f, err := m.Lab.Loss(c2.Net.EastWestIP, 0.10)
	if err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { _ = f.Heal() })
	during := r.during(1500) // 30 s
	r.heal()
	if err := f.Heal(); err != nil {
		t.Fatal(err)
	}
	if _, gone := eds.first(r.faultAt, without(gw(c2))); gone {
		t.Errorf("cluster2's gateway withdrawn under 10%% loss (a false withdrawal)")
	}
	all, failed := probes("")-allBefore, (probes("")-allBefore)-(probes("ok")-okBefore)
	r.recover()
	figure(t, "10%% loss: %s (p50=%s p99=%s); probes of cluster2's gateway: %.0f, of which failed %.0f; withdrawn: never",
		during, during.P50.Round(10*time.Microsecond), during.P99.Round(10*time.Microsecond), all, failed)
	if during.SuccessRate() < 0.99 {
		t.Errorf("under 10%% loss fewer than 99%% of the requests succeeded: %s %v", during, during.Errors)
	}
}

// TestFailoverFlapping: the link between net1 and net2 goes down for 4 s
// and up for 2 s, five times. Flap damping bounds how often cluster2's
// gateway enters and leaves the client's endpoints (undamped: up to 10
// changes); after the last heal it returns once it has answered for the
// flap hold. ≥ 99% of the requests succeed throughout.
func TestFailoverFlapping(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-failover-flap")
	tgt := target(m, tgtEcho, "echo")
	waitEndpoints(t, cl, tgt, podAddr(podOf(t, c1, "echo", "v1")), gw(c2), gw(c3))
	eds := trackEndpoints(t, cl, tgt)
	r := startFailover(t, "failover-flap", cl, tgt)

	r.fault()
	for range 5 {
		f, err := m.Lab.Partition(c1.Net, c2.Net)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second) // the fault's shape is a schedule
		if err := f.Heal(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
	}
	r.heal()
	changes := eds.changes(gw(c2).String(), r.faultAt, r.healAt)
	if changes > 5 {
		t.Errorf("cluster2's gateway entered or left the endpoints %d times in 5 flaps, want ≤ 5 (damped)", changes)
	}
	restore := waitTracked(t, eds, "cluster2's gateway back after the flapping", r.healAt, with(gw(c2)))
	if restore > 30*time.Second+restoreWithin {
		t.Errorf("restored %s after the last heal, beyond the longest flap hold (30s) + %s", restore.Round(time.Millisecond), restoreWithin)
	}
	_, during := r.recover()
	retried := overTheFault(t, "flapping", during)
	figure(t, "flapping (5 × 4 s down / 2 s up): %s (p50=%s p99=%s), %d retried on another endpoint; endpoint changes of cluster2's gateway: %d; restored %s after the last heal",
		during, during.P50.Round(10*time.Microsecond), during.P99.Round(10*time.Microsecond), retried, changes, restore.Round(time.Millisecond))
}
