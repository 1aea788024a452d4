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
			h = &envoyHost{Addr: f[1], Stats: map[string]int64{}}
			byAddr[f[1]] = h
		}
		if n, err := strconv.ParseInt(f[3], 10, 64); err == nil {
			h.Stats[f[2]] = n
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

// TestEnvoyChaosPartition: cut net1 from net2 in the router (iptables DROP,
// both directions) while HTTP requests flow through cluster1's Envoy ingress
// to echo, whose endpoints are a local pod (v1) and cluster2's pod (v2)
// behind cluster2's Envoy east-west gateway. Requests Envoy sends to the
// local pod keep succeeding (its host counts no error), none reaches
// cluster2; after the heal everything succeeds again, answers come from
// both clusters, and Envoy's endpoints of echo are exactly the baseline's
// (none lost, none resurrected).
func TestEnvoyChaosPartition(t *testing.T) {
	m := envoyMesh(t)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	const host = "both.example.com"
	if err := c1.Store.Set(fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: both, namespace: %s}
spec:
  hosts: [%s]
  gateways: [%s/envoy-ingress]
  http:
  - route: [{destination: {host: %s, port: {number: %d}}}]
`, meshlab.Namespace, host, meshlab.SystemNS, meshlab.Host("echo"), meshlab.EchoPort)); err != nil {
		t.Fatal(err)
	}
	if err := c1.Store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ic := newIngressClient(c1)
	g := c1.EnvoyIngress
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
	r := startChaosLoad(t, ic.load("echo in both clusters through Envoy", nil, "http", meshlab.EnvoyHTTPPort, host, nil),
		"Envoy ingress "+cluster, func() []string { return envoyEndpoints(g, cluster) }, nil)
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
	// Every request Envoy sent to the local pod succeeded: its host counts
	// successes and no error, reset or timeout while the partition lasted.
	delta := func(k string) int64 { return after[k] - before[k] }
	if delta("rq_success") < int64(during.OK) || delta("rq_error") != 0 || delta("rq_timeout") != 0 || delta("cx_connect_fail") != 0 {
		t.Errorf("local pod %s during the partition: rq_success +%d (clients saw %d OK), rq_error +%d, rq_timeout +%d, cx_connect_fail +%d; want only successes",
			local, delta("rq_success"), during.OK, delta("rq_error"), delta("rq_timeout"), delta("cx_connect_fail"))
	}
	r.heal()
	if err := f.Heal(); err != nil {
		t.Fatal(err)
	}
	conv, _ := r.recover()
	// Recovered: a streak of successes; from its start on every request
	// succeeds, answered by either cluster's pod, for the ingress's identity.
	first, _ := r.load.Since(r.healAt).FirstOKStreak(recoveryStreak)
	healed := r.waitLoad(first, "answers from both clusters after the heal", func(s workload.Stats) bool {
		return s.Sent >= scaled(200) && answeredBy(s, c1.ID) && answeredBy(s, c2.ID)
	})
	requireAllOK(t, healed, ingressID, "cluster1/echo-", "cluster2/echo-")
	figure(t, "local pod during the partition: rq_success +%d, rq_error +%d; converged %s after the heal; after it: %s",
		delta("rq_success"), delta("rq_error"), conv.Round(time.Millisecond), healed)
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
