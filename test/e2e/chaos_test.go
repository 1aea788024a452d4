//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// TestChaosKillDaemons: kill -9 the client's daemon (cluster1) and the
// daemon of the remote gateway (cluster2) while traffic flows from
// cluster1 to only-b in cluster2. The client and both gateways keep their
// last good configuration: every request still succeeds. On restart the
// client reconnects and its endpoints are unchanged.
func TestChaosKillDaemons(t *testing.T) {
	m := mesh(t)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	cl := newClient(t, c1, "client-kill-daemon")
	tgt := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl, tgt, gw(c2))
	r := startChaos(t, "kill-daemon", cl, tgt)
	streams := cl.XDS.Streams()

	r.fault()
	for _, c := range []*meshlab.Cluster{c1, c2} {
		if err := c.Daemon.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { restartDaemon(t, m, c) })
	}
	waitUntil(t, "client notices its daemon is gone", cl.XDS.Changed, func() (bool, string) {
		return !cl.XDS.Connected(), "still connected"
	})
	during := r.during(250) // 5 s of traffic on the last good config
	if during.Failed != 0 {
		t.Errorf("requests failed while the daemons were down (want the last good config to keep serving): %s %v",
			during, during.Errors)
	}
	restartAt := time.Now()
	r.heal()
	for _, c := range []*meshlab.Cluster{c1, c2} {
		restartDaemon(t, m, c)
	}
	reconnect := waitUntil(t, "client reconnects to its restarted daemon", cl.XDS.Changed, func() (bool, string) {
		return cl.XDS.Connected() && cl.XDS.Streams() > streams, "not reconnected"
	})
	reconnectAt := time.Now()
	r.recover()
	// The restarted daemons gossip under their old names (--gossip-name-file)
	// and replace their old selves: cluster3's daemon, which stayed up,
	// lists one member per cluster, all alive, with nothing left over to
	// be suspected and called dead.
	c3 := m.Cluster("cluster3")
	var rows []memberRow
	waitUntil(t, "cluster3's daemon lists one member per cluster, all alive", nil, func() (bool, string) {
		rows = memberRows(t, m, c3)
		ok := len(rows) == len(m.Clusters)
		for _, r := range rows {
			ok = ok && r.state == "alive"
		}
		return ok, fmt.Sprint(rows)
	})
	replaced := time.Since(restartAt) // an upper bound: checked after the recovery
	figure(t, "client reconnected %s after the daemon restart began (%s after readiness); cluster3's daemon lists the restarted members as themselves, alive, within %s of it: %v",
		reconnectAt.Sub(restartAt).Round(time.Millisecond), reconnect.Round(time.Millisecond), replaced.Round(time.Millisecond), rows)
}

// restartDaemon starts a stopped daemon again and waits for it to be ready.
func restartDaemon(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster) {
	t.Helper()
	if c.Daemon.Running() {
		return
	}
	if err := c.Daemon.Start(); err != nil {
		t.Fatalf("restart %s: %v", c.Daemon.Name, err)
	}
	if err := m.WaitDaemon(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

// TestChaosKillGateway: kill -9 cluster2's east-west gateway while a
// client in cluster1 calls only-b (whose only path it is), then restart it.
// Requests fail while it is down; after the restart the gateway takes its
// configuration from its daemon again and traffic recovers.
func TestChaosKillGateway(t *testing.T) {
	m := mesh(t)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	cl := newClient(t, c1, "client-kill-gw")
	tgt := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl, tgt, gw(c2))
	r := startChaos(t, "kill-gateway", cl, tgt)

	if err := c2.EastWest.Kill(); err != nil {
		t.Fatal(err)
	}
	r.fault() // from here on no request can have been served by the old process
	t.Cleanup(func() { restartGateway(t, m, c2, c2.EastWest, meshlab.EastWestAdmin) })
	during := r.during(100)
	if during.OK != 0 {
		t.Errorf("requests through a killed gateway succeeded: %s", during)
	}
	r.heal() // the heal is the restart: convergence includes the gateway's start-up
	restartGateway(t, m, c2, c2.EastWest, meshlab.EastWestAdmin)
	r.recover()
}

func restartGateway(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster, p *meshlab.Proc, admin int) {
	t.Helper()
	if p.Running() {
		return
	}
	if err := p.Start(); err != nil {
		t.Fatalf("restart %s: %v", p.Name, err)
	}
	if err := m.WaitGateway(context.Background(), c, p, admin); err != nil {
		t.Fatal(err)
	}
}

// TestChaosPartition: cut net1 from net2 in the router (iptables DROP, both
// directions) while cluster1 calls echo in every cluster; requests through
// cluster2's gateway fail, the others go on. After the heal everything
// succeeds again and no endpoint is lost.
func TestChaosPartition(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-partition")
	tgt := target(m, tgtEcho, "echo")
	waitEndpoints(t, cl, tgt, podAddr(podOf(t, c1, "echo", "v1")), gw(c2), gw(c3))
	r := startChaos(t, "partition", cl, tgt)

	f, err := m.Lab.Partition(c1.Net, c2.Net)
	if err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { _ = f.Heal() })
	during := r.during(300)
	for _, s := range during.Samples {
		if s.OK() && s.Result.Cluster == c2.ID {
			t.Errorf("a request reached %s across the partition: %s", c2.ID, s.Backend())
			break
		}
	}
	if during.OK == 0 {
		t.Errorf("no request succeeded during the partition (cluster1 and cluster3 are reachable): %s", during)
	}
	r.heal()
	if err := f.Heal(); err != nil {
		t.Fatal(err)
	}
	r.recover()
}

// TestChaosPacketLoss runs chaosPacketLoss in the shared mesh (built-in
// gateways).
func TestChaosPacketLoss(t *testing.T) { chaosPacketLoss(t, mesh(t)) }

// chaosPacketLoss: drop 10% of the packets to and from cluster2's
// east-west gateway at random in the router for 10 s of traffic (500
// requests) from cluster1 to only-b (onlyBRuns: a mesh client, and in the
// Envoy world also HTTP through the Envoy ingress). TCP retransmits hide
// most of it; the figures show the success rate and the latency it costs.
// After the heal every request succeeds again.
func chaosPacketLoss(t *testing.T, m *meshlab.Mesh) {
	c2 := m.Cluster("cluster2")
	runs := onlyBRuns(t, m, "loss", true)
	var base []workload.Stats
	for _, r := range runs {
		base = append(base, r.load.Since(time.Time{}))
	}

	f, err := m.Lab.Loss(c2.Net.EastWestIP, 0.10)
	if err != nil {
		t.Fatal(err)
	}
	runs.fault()
	t.Cleanup(func() { _ = f.Heal() })
	during := runs.during(500)
	runs.heal()
	if err := f.Heal(); err != nil {
		t.Fatal(err)
	}
	for i, st := range runs.recover() {
		figure(t, "%s: 10%% loss: success=%.2f%% p50=%s p99=%s (baseline p50=%s p99=%s)", runs[i].load.Name, 100*st.SuccessRate(),
			st.P50.Round(10*time.Microsecond), st.P99.Round(10*time.Microsecond),
			base[i].P50.Round(10*time.Microsecond), base[i].P99.Round(10*time.Microsecond))
		if during[i].SuccessRate() < 0.5 {
			t.Errorf("%s: under 10%% packet loss fewer than half the requests succeeded: %s %v", runs[i].load.Name, during[i], during[i].Errors)
		}
	}
}

// TestChaosLatency runs chaosLatency in the shared mesh (built-in gateways).
func TestChaosLatency(t *testing.T) { chaosLatency(t, mesh(t)) }

// chaosLatency: put an embedded Toxiproxy with a 200 ms latency toxic in
// the path from cluster1 to cluster2's east-west gateway (iptables DNAT in
// net1 to the proxy, which forwards to the gateway) and run a mesh
// client's traffic to only-b. Every request still succeeds, and each takes
// at least the added 200 ms; after the proxy is taken out of the path
// latency returns to the baseline.
//
// Only the mesh client's path: the DNAT redirects connections opened after
// it, and the client opens one per call; Envoy's ingress keeps its pooled
// upstream connections to the gateway (opened before the fault), which
// the redirect never touches, so its requests would not cross the proxy.
func chaosLatency(t *testing.T, m *meshlab.Mesh) {
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	r := onlyBRuns(t, m, "latency", false)[0]
	base := r.load.Since(time.Time{})

	listen := netip.AddrPortFrom(m.Lab.HostIP, 25443)
	proxy := startToxiproxy(t, listen, gw(c2), 200)
	f, err := m.Lab.Redirect(c1.Net, gw(c2), listen)
	if err != nil {
		t.Fatal(err)
	}
	r.fault()
	t.Cleanup(func() { _ = f.Heal() })
	during := r.during(150)
	r.heal()
	if err := f.Heal(); err != nil {
		t.Fatal(err)
	}
	_, st := r.recover()
	proxy.Stop()
	figure(t, "200ms latency toxic: p50=%s p99=%s (baseline p50=%s p99=%s)", st.P50.Round(10*time.Microsecond),
		st.P99.Round(10*time.Microsecond), base.P50.Round(10*time.Microsecond), base.P99.Round(10*time.Microsecond))
	if during.Failed != 0 {
		t.Errorf("requests failed under 200 ms latency: %s %v", during, during.Errors)
	}
	// A request opened after the redirect crossed the proxy: the TLS
	// handshake and the reply each wait for the downstream toxic.
	slow := 0
	for _, s := range during.Samples {
		if s.OK() && s.Latency >= 200*time.Millisecond {
			slow++
		}
	}
	if slow < during.OK/2 {
		t.Errorf("only %d of %d requests took the added 200 ms: the path did not cross the proxy? %s", slow, during.OK, during)
	}
}

// startToxiproxy runs an embedded Toxiproxy proxy from listen to upstream
// with a latency toxic of ms milliseconds on the downstream stream.
func startToxiproxy(t *testing.T, listen, upstream netip.AddrPort, ms int) *toxiproxy.Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "to-"+upstream.String(), listen.String(), upstream.String())
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	toxic := `{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":` + itoa(ms) + `}}`
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		t.Fatalf("toxiproxy latency toxic: %v", err)
	}
	return p
}
