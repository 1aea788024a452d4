//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// envoyHost is one upstream host of an Envoy cluster as /clusters shows
// it: its address and counters (rq_success, rq_error, cx_connect_fail, ...).
type envoyHost struct {
	Addr  string
	Stats map[string]int64
	// Attrs are its other fields: weight, priority, health_flags,
	// region, zone, ...
	Attrs map[string]string
}

// placement is what decides a host's share of the traffic.
func (h envoyHost) placement() string {
	return fmt.Sprintf("weight=%s priority=%s health=%s locality=%s/%s/%s", h.Attrs["weight"], h.Attrs["priority"],
		h.Attrs["health_flags"], h.Attrs["region"], h.Attrs["zone"], h.Attrs["sub_zone"])
}

// envoyClusterHosts reads the hosts of cluster from an Envoy's /clusters
// (text format: "<cluster>::<host>::<stat>::<value>"), sorted by address.
func envoyClusterHosts(g *meshlab.EnvoyGateway, cluster string) ([]envoyHost, error) {
	b, err := g.Admin().Admin(context.Background(), "/clusters")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.Name, err)
	}
	byAddr := map[string]*envoyHost{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, "::")
		if len(f) != 4 || f[0] != cluster {
			continue
		}
		if _, err := netip.ParseAddrPort(f[1]); err != nil {
			continue // a cluster-level line (circuit breakers, names)
		}
		h := byAddr[f[1]]
		if h == nil {
			h = &envoyHost{Addr: f[1], Stats: map[string]int64{}, Attrs: map[string]string{}}
			byAddr[f[1]] = h
		}
		if n, err := strconv.ParseInt(f[3], 10, 64); err == nil && f[2] != "weight" && f[2] != "priority" {
			h.Stats[f[2]] = n
		} else {
			h.Attrs[f[2]] = f[3]
		}
	}
	var out []envoyHost
	for _, a := range slices.Sorted(maps.Keys(byAddr)) {
		out = append(out, *byAddr[a])
	}
	return out, nil
}

// envoyEndpoints lists the addresses of cluster's hosts in an Envoy
// (nil when the cluster is unknown).
func envoyEndpoints(g *meshlab.EnvoyGateway, cluster string) []string {
	hosts, err := envoyClusterHosts(g, cluster)
	if err != nil {
		return nil
	}
	var out []string
	for _, h := range hosts {
		out = append(out, h.Addr)
	}
	return out
}

// envoyHostStats returns the counters of one host of cluster.
func envoyHostStats(t *testing.T, g *meshlab.EnvoyGateway, cluster, addr string) map[string]int64 {
	t.Helper()
	hosts, err := envoyClusterHosts(g, cluster)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.Addr == addr {
			return h.Stats
		}
	}
	t.Fatalf("%s: cluster %s has no host %s (hosts %v)", g.Name, cluster, addr, hosts)
	return nil
}

// routeThroughIngress writes a VirtualService (name) of c's Envoy ingress
// sending host to every endpoint of svc (the ingress's cluster of svc
// without subset exists only while a route names it).
func routeThroughIngress(t *testing.T, c *meshlab.Cluster, name, host, svc string) {
	t.Helper()
	route := fmt.Sprintf("  - route: [{destination: {host: %s, port: {number: %d}}}]\n", meshlab.Host(svc), meshlab.EchoPort)
	if err := c.Store.Set(ingressVirtualService(name, host, route)); err != nil {
		t.Fatal(err)
	}
	if err := c.Store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestEnvoyChaosPartition: cut net1 from net2 in the router (iptables DROP,
// both directions) while HTTP requests flow through cluster1's Envoy ingress
// to echo, whose endpoints are a local pod (v1) and cluster2's pod (v2)
// behind cluster2's Envoy east-west gateway. Requests Envoy sends to the
// local pod keep succeeding (its host counts no error), none reaches
// cluster2. cluster1's daemon stops hearing cluster2's east-west gateway
// (its probes time out) and withdraws it from Envoy within 10 s, long
// before memberlist calls cluster2's daemon dead, after which every request
// succeeds locally. After the heal the daemons find each
// other again, everything succeeds, answers come from both clusters, and
// Envoy's endpoints of echo are exactly the baseline's (none lost, none
// resurrected).
func TestEnvoyChaosPartition(t *testing.T) {
	m := envoyMesh(t)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	const host = "both.example.com"
	routeThroughIngress(t, c1, "both", host, "echo")
	ic := newIngressClient(c1)
	g := c1.EnvoyIngress
	t.Cleanup(func() {
		if t.Failed() {
			logXDSState(t, c1, g)
		}
	})
	cluster := fmt.Sprintf("outbound|%d||%s", meshlab.EchoPort, meshlab.Host("echo"))
	local, remote := podAddr(podOf(t, c1, "echo", "v1")).String(), gw(c2).String()
	want := []string{local, remote}
	slices.Sort(want)
	waitUntil(t, "Envoy ingress holds echo's local pod and cluster2's gateway", nil, func() (bool, string) {
		eps := envoyEndpoints(g, cluster)
		return slices.Equal(eps, want), fmt.Sprint(eps)
	})
	waitHost(t, ic, host)
	ingressID := m.PKI.WorkloadID(meshlab.SystemNS, meshlab.IngressGatewaySA).String()
	load := ic.load("echo in both clusters through Envoy", nil, "http", meshlab.EnvoyHTTPPort, host, nil)
	// Requests into the partition hang until their 5 s timeout: room for
	// all of them, so that the generator's own cap fails no request.
	load.MaxInFlight = 1000
	r := startChaosLoad(t, load, "Envoy ingress "+cluster, func() []string { return envoyEndpoints(g, cluster) }, nil)
	placements := func() map[string]string {
		hosts, err := envoyClusterHosts(g, cluster)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, h := range hosts {
			out[h.Addr] = h.placement()
		}
		return out
	}
	basePlacement := placements()
	if base := r.load.Since(time.Time{}); !answeredBy(base, c2.ID) {
		// Least-request balancing over two hosts: a steady baseline of
		// ≥ 20 answers holds both clusters' all but surely; wait for one.
		r.waitLoad(time.Time{}, "an answer from cluster2 before the fault", func(s workload.Stats) bool { return answeredBy(s, c2.ID) })
	}

	f, err := m.Lab.Partition(c1.Net, c2.Net)
	if err != nil {
		t.Fatal(err)
	}
	before := envoyHostStats(t, g, cluster, local)
	clusterStats := func() map[string]int64 {
		out := map[string]int64{}
		for _, k := range []string{"upstream_rq_total", "upstream_rq_retry", "upstream_rq_retry_success", "upstream_cx_total", "upstream_cx_connect_timeout",
			"upstream_cx_connect_fail", "upstream_rq_timeout", "upstream_rq_tx_reset", "upstream_rq_rx_reset", "upstream_cx_destroy_local_with_active_rq",
			"upstream_rq_pending_total", "upstream_cx_active", "upstream_rq_active"} {
			if v, err := readEnvoyStat(g, "cluster."+cluster+"."+k); err == nil {
				out[k] = v
			}
		}
		return out
	}
	statsBefore := clusterStats()
	r.fault()
	t.Cleanup(func() { _ = f.Heal() })
	during := r.during(300)
	after := envoyHostStats(t, g, cluster, local)
	for _, s := range during.Samples {
		if s.OK() && s.Result.Cluster != c1.ID {
			t.Errorf("a request was answered by %s across the partition", s.Backend())
			break
		}
	}
	if during.OK == 0 {
		t.Errorf("no request succeeded during the partition (cluster1's pod is reachable): %s", during)
	}
	logFailed(t, "partition", during)
	// Every request Envoy sent to the local pod succeeded: its host counts
	// successes and no error, reset or timeout while the partition lasted.
	delta := func(k string) int64 { return after[k] - before[k] }
	if delta("rq_success") < int64(during.OK) || delta("rq_error") != 0 || delta("rq_timeout") != 0 || delta("cx_connect_fail") != 0 {
		t.Errorf("local pod %s during the partition: rq_success +%d (clients saw %d OK), rq_error +%d, rq_timeout +%d, cx_connect_fail +%d; want only successes",
			local, delta("rq_success"), during.OK, delta("rq_error"), delta("rq_timeout"), delta("cx_connect_fail"))
	}
	// cluster1's daemon's probes of cluster2's gateway time out: it is
	// withdrawn, and Envoy sends every request to the local pod.
	waitUntil(t, "Envoy ingress left with echo's local pod", nil, func() (bool, string) {
		eps := envoyEndpoints(g, cluster)
		return slices.Equal(eps, []string{local}), fmt.Sprint(eps)
	})
	withdrawn := time.Since(r.faultAt)
	if withdrawn > 10*time.Second {
		t.Errorf("cluster2's gateway left Envoy's endpoints %s into the partition, want < 10s (it stopped answering probes)", withdrawn.Round(time.Millisecond))
	}
	memberState := memberStates(t, m, c1)[c2.ID]
	// From the first streak of successes after the withdrawal on (Envoy's
	// worker takes the new endpoints just after its admin shows them), every
	// request succeeds locally.
	afterWithdrawal := time.Now()
	streak := r.waitLoad(afterWithdrawal, "a streak of successes after the withdrawal", func(s workload.Stats) bool {
		_, ok := s.FirstOKStreak(recoveryStreak)
		return ok
	})
	from, _ := streak.FirstOKStreak(recoveryStreak)
	alone := r.waitLoad(from, "requests after the withdrawal", func(s workload.Stats) bool { return s.Sent >= scaled(100) })
	requireAllOK(t, alone, ingressID, "cluster1/echo-")
	statsAfter := clusterStats()
	var moved []string
	for _, k := range slices.Sorted(maps.Keys(statsAfter)) {
		moved = append(moved, fmt.Sprintf("%s %+d (now %d)", k, statsAfter[k]-statsBefore[k], statsAfter[k]))
	}
	t.Logf("Envoy ingress's %s over the partition: %s", cluster, strings.Join(moved, ", "))
	r.heal()
	if err := f.Heal(); err != nil {
		t.Fatal(err)
	}
	// The daemons find each other again (federation re-joins) and
	// cluster2's gateway returns to Envoy.
	back := waitUntil(t, "Envoy ingress holds cluster2's gateway again", nil, func() (bool, string) {
		eps := envoyEndpoints(g, cluster)
		return slices.Equal(eps, want), fmt.Sprint(eps)
	})
	backAt := time.Now()
	conv, _ := r.recover()
	// The endpoints are back as they were: same weight, priority, health
	// and locality, not only the same addresses.
	if now := placements(); !maps.Equal(now, basePlacement) {
		t.Errorf("Envoy's hosts of echo after the heal %v, before the partition %v", now, basePlacement)
	}
	// Recovered: from cluster2's return on every request succeeds, answered
	// by either cluster's pod, for the ingress's identity.
	healed := r.waitLoad(backAt, "answers from both clusters after the heal", func(s workload.Stats) bool {
		return s.Sent >= scaled(200) && answeredBy(s, c1.ID) && answeredBy(s, c2.ID)
	})
	requireAllOK(t, healed, ingressID, "cluster1/echo-", "cluster2/echo-")
	figure(t, "first %d requests of the partition: %s, local pod rq_success +%d, rq_error +%d; cluster2's daemon %q to memberlist when its endpoints were withdrawn from Envoy after %s (fail-static window %s), a streak of successes %s later, then %s; after the heal: a streak of successes after %s, cluster2's gateway back in Envoy after %s (federation re-joined); from then on %s",
		during.Sent, during, delta("rq_success"), delta("rq_error"), memberState, withdrawn.Round(time.Millisecond),
		m.Opts.FailStaticWindow, max(from.Sub(afterWithdrawal), 0).Round(time.Millisecond), alone, conv.Round(time.Millisecond), back.Round(time.Millisecond), healed)
}

// answeredBy reports whether a successful request of st was answered in
// cluster.
func answeredBy(st workload.Stats, cluster string) bool {
	for _, s := range st.Samples {
		if s.OK() && s.Result.Cluster == cluster {
			return true
		}
	}
	return false
}

// The built-in chaos scenarios in the Envoy world (envoyMesh: Envoy
// east-west gateways in both clusters, an Envoy ingress in cluster1), one
// mesh each, with the same scenario bodies and assertions; each says what
// differs in the world.

// TestEnvoyChaosPacketLoss: chaosPacketLoss with cluster2's east-west
// gateway an Envoy, and a second load through cluster1's Envoy ingress
// (its pooled upstream connections cross the loss too).
func TestEnvoyChaosPacketLoss(t *testing.T) { chaosPacketLoss(t, envoyMesh(t)) }

// TestEnvoyChaosLatency: chaosLatency with the Toxiproxy in front of
// cluster2's Envoy east-west gateway.
func TestEnvoyChaosLatency(t *testing.T) { chaosLatency(t, envoyMesh(t)) }

// TestEnvoyChaosCARotation: chaosCARotation with cluster1 the only peer,
// calls through cluster1's Envoy ingress and cluster2's Envoy east-west
// gateway; the Envoy ingress must take cluster2's new root over SDS.
func TestEnvoyChaosCARotation(t *testing.T) { chaosCARotation(t, envoyMesh(t)) }

// TestEnvoyChaosClusterRemoved: chaosClusterRemoved in the two-cluster
// Envoy world: cluster2 (its daemon and its Envoy east-west gateway) is
// removed while cluster1 calls echo (its own v1 pod and cluster2's
// gateway); cluster1's Envoy ingress (a route to echo makes it hold
// echo's cluster) follows the same endpoints.
func TestEnvoyChaosClusterRemoved(t *testing.T) {
	m := envoyMesh(t)
	c1 := m.Cluster("cluster1")
	routeThroughIngress(t, c1, "both", "both.example.com", "echo")
	chaosClusterRemoved(t, m, m.Cluster("cluster2"), target(m, tgtEcho, "echo"), podAddr(podOf(t, c1, "echo", "v1")))
}

// TestEnvoyChaosAPIServerDown: chaosAPIServerDown with cluster2's Envoy
// east-west gateway serving from a daemon whose API server is down; the
// local client in cluster2 calls echo (cluster2's pods are v2, cluster1's
// v1 behind cluster1's Envoy east-west gateway).
func TestEnvoyChaosAPIServerDown(t *testing.T) {
	m := envoyMesh(t)
	chaosAPIServerDown(t, m, target(m, tgtEcho, "echo"), "v2")
}
