//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// recoveryStreak is how many successes in a row count as "recovered".
const recoveryStreak = 20

// chaosRun is a load running through a fault: a baseline, the fault, the
// heal, and the recovery, with the figures each chaos test prints.
type chaosRun struct {
	t    *testing.T
	load *workload.Load
	// eps lists the endpoint addresses (sorted) the load's caller holds;
	// changed, when set, signals that they may have changed (else they
	// are polled).
	eps      func() []string
	changed  func() <-chan struct{}
	what     string   // whose endpoints (for messages)
	baseline []string // endpoint addresses before the fault
	faultAt  time.Time
	healAt   time.Time
}

// startChaos starts a load from cl to tgt at 50 requests per second and
// waits until it is steady (recoveryStreak successes in a row).
func startChaos(t *testing.T, name string, cl *workload.Client, tgt workload.Target) *chaosRun {
	t.Helper()
	return startChaosLoad(t, callLoad(name, cl, tgt, 50), tgt.String(), func() []string { return clientEndpoints(cl, tgt) }, cl.XDS.Changed)
}

// startChaosLoad is startChaos for any load whose caller's endpoints eps
// lists (what names them; changed may be nil).
func startChaosLoad(t *testing.T, load *workload.Load, what string, eps func() []string, changed func() <-chan struct{}) *chaosRun {
	t.Helper()
	r := &chaosRun{t: t, load: load, eps: eps, changed: changed, what: what}
	r.load.Start()
	t.Cleanup(func() { r.load.Stop() })
	start := time.Now()
	r.waitLoad(start, "steady baseline", func(s workload.Stats) bool { return s.TrailingOK() >= recoveryStreak })
	r.baseline = r.endpoints()
	return r
}

func (r *chaosRun) waitLoad(since time.Time, what string, cond func(workload.Stats) bool) workload.Stats {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), neverConverged)
	defer cancel()
	st, err := r.load.WaitFor(ctx, since, cond)
	if err != nil {
		r.t.Fatalf("%s: %v", what, err)
	}
	return st
}

func (r *chaosRun) endpoints() []string { return r.eps() }

// clientEndpoints lists the addresses (sorted) of the client's endpoints
// of tgt.
func clientEndpoints(cl *workload.Client, tgt workload.Target) []string {
	eps, err := cl.Endpoints(tgt)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range eps {
		out = append(out, e.Addr)
	}
	slices.Sort(out)
	return out
}

// fault marks the start of the fault.
func (r *chaosRun) fault() { r.faultAt = time.Now() }

// during waits until at least n (scaled by $MESHGATE_E2E_SOAK) requests
// were sent since the fault and returns their figures: the load's pacing
// sets how long the fault lasts.
func (r *chaosRun) during(n int) workload.Stats {
	r.t.Helper()
	n = scaled(n)
	return r.waitLoad(r.faultAt, "requests during the fault", func(s workload.Stats) bool { return s.Sent >= n })
}

// heal marks the end of the fault: call it right before healing (a
// restart, a rule removal), so that the fault window holds no request sent
// after the heal began.
func (r *chaosRun) heal() { r.healAt = time.Now() }

// recover waits until the load has recoveryStreak successes in a row after
// the heal, then checks that the client's endpoints are the baseline's
// again, and prints the figures: requests during the fault, time to
// converge (heal → first request of the streak), endpoints lost.
func (r *chaosRun) recover() (conv time.Duration, faultStats workload.Stats) {
	r.t.Helper()
	st := r.waitLoad(r.healAt, "recovery after heal", func(s workload.Stats) bool {
		_, ok := s.FirstOKStreak(recoveryStreak)
		return ok
	})
	first, _ := st.FirstOKStreak(recoveryStreak)
	conv = max(first.Sub(r.healAt), 0)
	var eps []string
	waitUntil(r.t, fmt.Sprintf("endpoints of %s back to %v", r.what, r.baseline), r.changed, func() (bool, string) {
		eps = r.eps()
		return slices.Equal(eps, r.baseline), strings.Join(eps, ",")
	})
	lost := 0
	for _, b := range r.baseline {
		if !slices.Contains(eps, b) {
			lost++
		}
	}
	faultStats = r.load.Window(r.faultAt, r.healAt)
	figure(r.t, "during fault (%s): %s; converged %s after heal; endpoints lost after heal=%d (baseline %v)",
		r.healAt.Sub(r.faultAt).Round(time.Millisecond), faultStats, conv.Round(time.Millisecond), lost, r.baseline)
	if lost != 0 {
		r.t.Errorf("endpoints lost after heal: %d (baseline %v, now %v)", lost, r.baseline, eps)
	}
	return conv, faultStats
}

// addrs formats endpoint addresses.
func addrs(a ...netip.AddrPort) []string {
	var out []string
	for _, x := range a {
		out = append(out, x.String())
	}
	slices.Sort(out)
	return out
}

// chaosRuns are loads crossing the same fault at once (each path has its
// own baseline, figures and recovery).
type chaosRuns []*chaosRun

func (rs chaosRuns) fault() {
	for _, r := range rs {
		r.fault()
	}
}

func (rs chaosRuns) heal() {
	for _, r := range rs {
		r.heal()
	}
}

// during is chaosRun.during for each load (they run concurrently: the
// first wait paces the fault, the others have mostly caught up by then).
func (rs chaosRuns) during(n int) []workload.Stats {
	var out []workload.Stats
	for _, r := range rs {
		out = append(out, r.during(n))
	}
	return out
}

// recover is chaosRun.recover for each load; it returns the fault window's
// figures of each.
func (rs chaosRuns) recover() []workload.Stats {
	var out []workload.Stats
	for _, r := range rs {
		_, st := r.recover()
		out = append(out, st)
	}
	return out
}

// onlyBRuns starts the chaos loads from cluster1 to only-b, which runs only
// in cluster2, so through cluster2's east-west gateway (built-in or Envoy,
// whichever the mesh runs): first a mesh client's calls (one connection
// each); then, with viaIngress in the Envoy world, HTTP requests from
// outside through cluster1's Envoy ingress (ISTIO_MUTUAL upstream, pooled
// connections) to the same gateway.
func onlyBRuns(t *testing.T, m *meshlab.Mesh, name string, viaIngress bool) chaosRuns {
	t.Helper()
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	cl := newClient(t, c1, "client-"+name)
	tgt := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl, tgt, gw(c2))
	runs := chaosRuns{startChaos(t, name, cl, tgt)}
	if viaIngress && c1.EnvoyIngress != nil {
		runs = append(runs, startIngressChaos(t, c1, name+" via Envoy ingress", "remote.example.com", "only-b"))
	}
	return runs
}

// startIngressChaos starts a chaos load of HTTP requests to host through
// c's Envoy ingress, whose route sends them to svc; the endpoints it
// watches are the ingress's hosts of svc's cluster.
func startIngressChaos(t *testing.T, c *meshlab.Cluster, name, host, svc string) *chaosRun {
	t.Helper()
	ic := newIngressClient(c)
	waitHost(t, ic, host)
	g, cluster := c.EnvoyIngress, fmt.Sprintf("outbound|%d||%s", meshlab.EchoPort, meshlab.Host(svc))
	t.Cleanup(func() {
		if t.Failed() {
			logXDSState(t, c, g)
		}
	})
	return startChaosLoad(t, ic.load(name, nil, "http", meshlab.EnvoyHTTPPort, host, nil), "Envoy ingress "+cluster,
		func() []string { return envoyEndpoints(g, cluster) }, nil)
}
