//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
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

// failover is the world of one failover scenario in the shared mesh: a
// client in cluster1 calling tgt (echo: its own v1 pod and the gateways of
// cluster2 and cluster3; echo v2: those two gateways), its endpoints
// tracked from its xDS updates, and a steady load (startFailover).
type failover struct {
	m          *meshlab.Mesh
	c1, c2, c3 *meshlab.Cluster
	cl         *workload.Client
	tgt        workload.Target
	eds        *edsTrack
	r          *chaosRun
}

// newFailover sets up a failover scenario: client "client-failover-<name>",
// load "failover-<name>", to tgt (tgtEcho or tgtEchoV2), once the client
// holds all of tgt's endpoints.
func newFailover(t *testing.T, name string, tgt workload.Target) *failover {
	t.Helper()
	m := mesh(t)
	f := &failover{m: m, c1: m.Cluster("cluster1"), c2: m.Cluster("cluster2"), c3: m.Cluster("cluster3"), tgt: target(m, tgt, "echo")}
	f.cl = newClient(t, f.c1, "client-failover-"+name)
	want := []netip.AddrPort{gw(f.c2), gw(f.c3)}
	if tgt.Subset == "" {
		want = append(want, podAddr(podOf(t, f.c1, "echo", "v1")))
	}
	waitEndpoints(t, f.cl, f.tgt, want...)
	f.eds = trackEndpoints(t, f.cl, f.tgt)
	f.r = startFailover(t, "failover-"+name, f.cl, f.tgt)
	return f
}

// gatewayTimes reads what c's daemon measured of its withdrawals (or
// restorations, by metric: meshgate_gateway_withdrawal_seconds or
// meshgate_gateway_restore_seconds) of gateway g: how many, and how many
// took at most within (a bucket bound of the histogram).
func gatewayTimes(t *testing.T, c *meshlab.Cluster, metric string, g netip.AddrPort, within time.Duration) (n, inTime float64) {
	t.Helper()
	label := fmt.Sprintf("gateway=%q", g.String())
	n = sumMetric(t, []*meshlab.Cluster{c}, metric+"_count", label)
	inTime = sumMetric(t, []*meshlab.Cluster{c}, metric+"_bucket", fmt.Sprintf("%s,le=%q", label, strconv.FormatFloat(within.Seconds(), 'g', -1, 64)))
	return n, inTime
}

// daemonTimed is a snapshot of gatewayTimes, to check what a fault added.
type daemonTimed struct {
	t      *testing.T
	c      *meshlab.Cluster
	metric string
	g      netip.AddrPort
	within time.Duration
	n, in  float64
}

func timedBy(t *testing.T, c *meshlab.Cluster, metric string, g netip.AddrPort, within time.Duration) *daemonTimed {
	t.Helper()
	d := &daemonTimed{t: t, c: c, metric: metric, g: g, within: within}
	d.n, d.in = gatewayTimes(t, c, metric, g, within)
	return d
}

// require checks that c's daemon timed want more withdrawals (or
// restorations) of g since the snapshot, each within the bound (the
// product's own measurement: the test's clock, under the machine's load,
// only gives figures). The count is polled: the daemon observes as it
// serves, the client may have seen the change first.
func (d *daemonTimed) require(what string, want int) {
	d.t.Helper()
	var n, in float64
	waitUntil(d.t, fmt.Sprintf("%s's daemon times %d more of %s", d.c.ID, want, what), nil, func() (bool, string) {
		n, in = gatewayTimes(d.t, d.c, d.metric, d.g, d.within)
		return n-d.n >= float64(want), fmt.Sprintf("%s: %.0f more", d.metric, n-d.n)
	})
	if n-d.n != float64(want) || in-d.in != n-d.n {
		d.t.Errorf("%s: %s's daemon timed %.0f (want %d), of which %.0f within %s (%s for %s)", what, d.c.ID, n-d.n, want, in-d.in, d.within, d.metric, d.g)
	}
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
	logFailed(t, what, st)
	return retried
}

// logFailed logs the failed requests of st (at most 20): when each was
// sent, its last endpoint, its connect attempts and its error.
func logFailed(t *testing.T, what string, st workload.Stats) {
	t.Helper()
	n := 0
	for _, s := range st.Samples {
		if s.OK() {
			continue
		}
		if n++; n > 20 {
			t.Logf("%s: … %d failed in all", what, st.Failed)
			return
		}
		t.Logf("%s: failed request sent %s, after %s: endpoint %s, %d attempts: %v", what, s.At.Format("15:04:05.000"),
			s.Latency.Round(time.Millisecond), s.Result.Endpoint, s.Result.Attempts, s.Err)
	}
}

// stayedOut requires that g, withdrawn at out, did not return before the
// heal (nothing resurrects an unreachable gateway: not the daemon's death
// verdict, not the fail-static window, not a peer's gossip).
func (f *failover) stayedOut(t *testing.T, g netip.AddrPort, out time.Time) {
	t.Helper()
	if n := f.eds.changes(g.String(), out.Add(time.Nanosecond), f.r.healAt); n != 0 {
		t.Errorf("%s entered or left the client's endpoints %d times between its withdrawal and the heal, want 0", g, n)
	}
}

// settled runs 100 more requests after the recovery and requires that the
// client's endpoints did not change meanwhile (no endpoint lost or
// resurrected afterwards; recover checked they are the baseline's).
func (f *failover) settled(t *testing.T) {
	t.Helper()
	from := time.Now()
	f.r.waitLoad(from, "requests after the recovery", func(s workload.Stats) bool { return s.Sent >= scaled(100) })
	f.eds.mu.Lock()
	defer f.eds.mu.Unlock()
	for _, ev := range f.eds.events {
		if ev.at.After(from) {
			t.Errorf("the client's endpoints changed after the recovery: %v at %s", ev.eps, ev.at.Format(time.StampMilli))
		}
	}
}

// TestFailoverPartition: iptables DROP between net1 and net2 while
// cluster1 calls echo (its own pod, cluster2 and cluster3 through their
// gateways). cluster1's daemon stops hearing cluster2's gateway: it leaves
// the client's endpoints within withdrawWithin (as the daemon times it)
// and stays out until the heal; ≥ 99% of the requests succeed over the
// whole fault (before the withdrawal a connect to cluster2's gateway times
// out after the 2 s connect_timeout and is retried on another endpoint)
// and after the withdrawal; after the heal it returns within
// restoreWithin, and the endpoints are the baseline's for good.
func TestFailoverPartition(t *testing.T) {
	f := newFailover(t, "partition", tgtEcho)
	m, c1, c2, c3, r := f.m, f.c1, f.c2, f.c3, f.r
	rate := probeRate(t, c1, gw(c2), 5*time.Second)
	withdrawals := timedBy(t, c1, "meshgate_gateway_withdrawal_seconds", gw(c2), withdrawWithin)
	restores := timedBy(t, c1, "meshgate_gateway_restore_seconds", gw(c2), restoreWithin)

	p, err := m.Lab.Partition(c1.Net, c2.Net)
	if err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { _ = p.Heal() })
	withdraw := waitTracked(t, f.eds, "cluster2's gateway leaves the client's endpoints", r.faultAt, without(gw(c2)))
	withdrawals.require("cluster2's unreachable gateway withdrawn", 1)
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
	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	f.stayedOut(t, gw(c2), r.faultAt.Add(withdraw))
	restore := waitTracked(t, f.eds, "cluster2's gateway back in the client's endpoints", r.healAt, with(gw(c2)))
	restores.require("cluster2's gateway restored", 1)
	_, during := r.recover()
	f.settled(t)
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
	f := newFailover(t, "gw", tgtEcho)
	m, c1, c2, r := f.m, f.c1, f.c2, f.r
	withdrawals := timedBy(t, c1, "meshgate_gateway_withdrawal_seconds", gw(c2), withdrawWithin)
	restores := timedBy(t, c1, "meshgate_gateway_restore_seconds", gw(c2), restoreWithin)

	if err := c2.EastWest.Kill(); err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { restartGateway(t, m, c2, c2.EastWest, meshlab.EastWestAdmin) })
	withdraw := waitTracked(t, f.eds, "cluster2's killed gateway leaves the client's endpoints", r.faultAt, without(gw(c2)))
	withdrawals.require("cluster2's killed gateway withdrawn", 1)
	after := afterWithdrawal(t, r, 200)
	r.heal()
	f.stayedOut(t, gw(c2), r.faultAt.Add(withdraw))
	restartGateway(t, m, c2, c2.EastWest, meshlab.EastWestAdmin)
	ready := time.Now()
	restore := waitTracked(t, f.eds, "cluster2's gateway back in the client's endpoints", ready, with(gw(c2)))
	restores.require("cluster2's gateway restored", 1)
	_, during := r.recover()
	f.settled(t)
	retried := overTheFault(t, "killed gateway", during)
	figure(t, "killed gateway: during %s (p50=%s p99=%s), %d retried on another endpoint; withdrawn after %s; after withdrawal %s; restored %s after it was ready (%s after the restart began)",
		during, during.P50.Round(10*time.Microsecond), during.P99.Round(10*time.Microsecond), retried, withdraw.Round(time.Millisecond),
		after, restore.Round(time.Millisecond), time.Since(r.healAt).Round(time.Millisecond))
}

// TestFailoverDaemonKilledGatewayServes: kill -9 cluster3's daemon only.
// Its gateway keeps its last configuration and keeps answering, so
// cluster1 keeps cluster3's endpoints of echo v2 past memberlist's death
// verdict and past the fail-static window (the fail-static promise): no
// withdrawal at all (the client's endpoints never change, cluster1's daemon
// times none), and no request fails. The daemon's return changes nothing.
func TestFailoverDaemonKilledGatewayServes(t *testing.T) {
	f := newFailover(t, "daemon", tgtEchoV2)
	m, c1, c3, r := f.m, f.c1, f.c3, f.r
	withdrawals := timedBy(t, c1, "meshgate_gateway_withdrawal_seconds", gw(c3), withdrawWithin)

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
	if n := f.eds.changes(gw(c3).String(), r.faultAt, time.Now()); n != 0 {
		t.Errorf("cluster3's gateway entered or left the client's endpoints %d times although it kept serving (daemon seen dead after %s)", n, dead.Round(time.Millisecond))
	}
	withdrawals.require("cluster3's serving gateway withdrawn", 0)
	during := r.load.Window(r.faultAt, time.Now())
	if during.Failed != 0 {
		t.Errorf("requests failed while only cluster3's daemon was down: %s %v", during, during.Errors)
	}
	r.heal()
	restartDaemon(t, m, c3)
	r.recover()
	figure(t, "daemon only: seen dead after %s, endpoints kept %s past it (window %s): %s (p50=%s p99=%s); withdrawn: never",
		dead.Round(time.Millisecond), hold, m.Opts.FailStaticWindow, during, during.P50.Round(10*time.Microsecond), during.P99.Round(10*time.Microsecond))
}

// TestFailoverPacketLoss: 10% random loss to and from cluster2's gateway
// for 30 s of traffic: the probes (1.5 s timeout, 3 failures in a row)
// never call it down, so it is never withdrawn (the client's endpoints
// never change, cluster1's daemon times no withdrawal), and ≥ 99% of the
// requests succeed.
func TestFailoverPacketLoss(t *testing.T) {
	f := newFailover(t, "loss", tgtEcho)
	m, c1, c2, r := f.m, f.c1, f.c2, f.r
	gwLabel := fmt.Sprintf("gateway=%q", gw(c2).String())
	probes := func(result string) float64 {
		l := gwLabel
		if result != "" {
			l += fmt.Sprintf(",result=%q", result)
		}
		return sumMetric(t, []*meshlab.Cluster{c1}, "meshgate_gateway_probes_total", l)
	}
	allBefore, okBefore := probes(""), probes("ok")
	withdrawals := timedBy(t, c1, "meshgate_gateway_withdrawal_seconds", gw(c2), withdrawWithin)

	loss, err := m.Lab.Loss(c2.Net.EastWestIP, 0.10)
	if err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { _ = loss.Heal() })
	during := r.during(1500) // 30 s
	r.heal()
	if err := loss.Heal(); err != nil {
		t.Fatal(err)
	}
	if n := f.eds.changes(gw(c2).String(), r.faultAt, time.Now()); n != 0 {
		t.Errorf("cluster2's gateway entered or left the endpoints %d times under 10%% loss (a false withdrawal)", n)
	}
	withdrawals.require("cluster2's gateway withdrawn under 10% loss", 0)
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
	f := newFailover(t, "flap", tgtEcho)
	m, c1, c2, r := f.m, f.c1, f.c2, f.r

	r.fault()
	for range 5 {
		p, err := m.Lab.Partition(c1.Net, c2.Net)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second) // the fault's shape is a schedule
		if err := p.Heal(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
	}
	r.heal()
	changes := f.eds.changes(gw(c2).String(), r.faultAt, r.healAt)
	if changes > 5 {
		t.Errorf("cluster2's gateway entered or left the endpoints %d times in 5 flaps, want ≤ 5 (damped)", changes)
	}
	restore := waitTracked(t, f.eds, "cluster2's gateway back after the flapping", r.healAt, with(gw(c2)))
	if restore > 30*time.Second+restoreWithin {
		t.Errorf("restored %s after the last heal, beyond the longest flap hold (30s) + %s", restore.Round(time.Millisecond), restoreWithin)
	}
	_, during := r.recover()
	f.settled(t)
	retried := overTheFault(t, "flapping", during)
	figure(t, "flapping (5 × 4 s down / 2 s up): %s (p50=%s p99=%s), %d retried on another endpoint; endpoint changes of cluster2's gateway: %d; restored %s after the last heal (flap hold up to 30s)",
		during, during.P50.Round(10*time.Microsecond), during.P99.Round(10*time.Microsecond), retried, changes, restore.Round(time.Millisecond))
}

// removals is how many times TestFailoverRemovals removes a cluster
// (scaled by $MESHGATE_E2E_SOAK).
const removals = 8

// removedWithin is the bound on withdrawing a removed cluster
// (its daemon and its gateway gone): p99 < 10 s.
const removedWithin = 10 * time.Second

// TestFailoverRemovals: a cluster is removed from the mesh (its daemon and
// its east-west gateway killed) and brought back, removals times, cluster2
// and cluster3 by turns, while cluster1 calls echo (its own pod and both
// gateways: a healthy endpoint exists throughout). Each time, the removed
// cluster's gateway leaves the client's endpoints, and cluster1's daemon
// times every withdrawal within removedWithin (the p99 < 10 s; of
// fewer than 100 the p99 is the largest); ≥ 99% of the requests succeed
// during each removal and over the whole run; after each restart the
// gateway returns, and at the end the endpoints are the baseline's.
// Figures: the withdrawal times the client saw (p50, p99) and the
// daemon's histogram.
func TestFailoverRemovals(t *testing.T) {
	f := newFailover(t, "removals", tgtEcho)
	m, c1, r := f.m, f.c1, f.r
	var seen []time.Duration
	n := scaled(removals)
	timed := map[*meshlab.Cluster]*daemonTimed{}
	for _, c := range []*meshlab.Cluster{f.c2, f.c3} {
		timed[c] = timedBy(t, c1, "meshgate_gateway_withdrawal_seconds", gw(c), removedWithin)
	}
	// the daemon's histogram of both gateways' withdrawals, bucket by bucket
	les := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second, removedWithin}
	buckets := func() []float64 {
		out := make([]float64, len(les))
		for i, le := range les {
			for _, c := range []*meshlab.Cluster{f.c2, f.c3} {
				_, in := gatewayTimes(t, c1, "meshgate_gateway_withdrawal_seconds", gw(c), le)
				out[i] += in
			}
		}
		return out
	}
	before := buckets()
	r.fault()
	for i := range n {
		c := f.c2
		if i%2 == 1 {
			c = f.c3
		}
		at := time.Now()
		for _, p := range []*meshlab.Proc{c.Daemon, eastWestProc(c)} {
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			restartDaemon(t, m, c)
			restartEastWest(t, m, c)
		})
		d := waitTracked(t, f.eds, fmt.Sprintf("removal %d: %s's gateway leaves the client's endpoints", i+1, c.ID), at, without(gw(c)))
		seen = append(seen, d)
		t.Logf("removal %d: %s removed at %s, its gateway left the client's endpoints %s later", i+1, c.ID, at.Format("15:04:05.000"), d.Round(time.Millisecond))
		// 150 requests after the withdrawal: a call in flight through the
		// gateway when it is killed fails (its connection reset after the
		// request was sent); the window holds room for two such.
		r.waitLoad(at.Add(d), "requests after the withdrawal", func(s workload.Stats) bool { return s.Sent >= scaled(150) })
		back := time.Now()
		st := r.load.Window(at, back)
		if st.SuccessRate() < 0.99 {
			t.Errorf("removal %d (%s): fewer than 99%% of the requests succeeded (a healthy endpoint existed throughout): %s %v", i+1, c.ID, st, st.Errors)
		}
		logFailed(t, fmt.Sprintf("removal %d", i+1), st)
		restartDaemon(t, m, c)
		restartEastWest(t, m, c)
		waitTracked(t, f.eds, fmt.Sprintf("removal %d: %s's gateway back", i+1, c.ID), back, with(gw(c)))
	}
	r.heal()
	timed[f.c2].require("cluster2's removed gateway withdrawn", (n+1)/2) // removals 1, 3, 5, ...
	timed[f.c3].require("cluster3's removed gateway withdrawn", n/2)
	_, during := r.recover()
	f.settled(t)
	retried := overTheFault(t, "removals", during)
	hist := ""
	for i, k := range buckets() {
		hist += fmt.Sprintf(" ≤%s: %.0f", les[i], k-before[i])
	}
	figure(t, "%d removals (daemon + gateway): withdrawn from the client's endpoints %s (each: %v); cluster1's daemon timed (from the last answer):%s; requests %s, %d retried on another endpoint",
		n, latencies(slices.Clone(seen)), roundAll(seen), hist, during, retried)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
