//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// TestChaosGossipKeyRotation rotates the mesh's gossip key on every daemon
// with the real CLI (`meshgate keyring generate`, then install, use and
// remove, each step on every daemon before the next) while cluster1 calls
// only-b in cluster2. No request fails; afterwards every daemon holds only
// the new key (`meshgate keyring list`), all members are alive
// (`meshgate members`), and a change in cluster3 (its echo v2 pod removed,
// then a new one added) still reaches cluster1's client over gossip.
func TestChaosGossipKeyRotation(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-keyring")
	tgt := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl, tgt, gw(c2))
	r := startChaos(t, "keyring", cl, tgt)

	oldFP := keyFingerprints(t, m, c1)
	newKey := strings.TrimSpace(mustRun(t, m.Bin, "keyring", "generate"))
	r.fault()
	start := time.Now()
	for _, step := range []string{"install", "use"} {
		for _, c := range m.Clusters {
			mustRun(t, m.Bin, "keyring", step, "--admin-address", c.AdminAddr(), newKey)
		}
	}
	for _, c := range m.Clusters {
		for _, fp := range oldFP {
			mustRun(t, m.Bin, "keyring", "remove", "--admin-address", c.AdminAddr(), fp)
		}
	}
	rotation := time.Since(start)
	// Traffic and gossip go on under the new key for 5 s before the
	// figures are taken.
	during := r.during(250)
	if during.Failed != 0 {
		t.Errorf("requests failed during the key rotation: %s %v", during, during.Errors)
	}
	r.heal()
	r.recover()
	for _, c := range m.Clusters {
		fps := keyFingerprints(t, m, c)
		if len(fps) != 1 || slices.Contains(oldFP, fps[0]) {
			t.Errorf("%s holds keys %v after the rotation, want only the new one (old %v)", c.ID, fps, oldFP)
		}
		waitUntil(t, c.ID+" sees every member alive", nil, func() (bool, string) {
			st := memberStates(t, m, c)
			for _, o := range m.Clusters {
				if st[o.ID] != "alive" {
					return false, strings.Join(mapLines(st), ", ")
				}
			}
			return true, ""
		})
	}
	// Gossip still carries changes: cluster3's v2 pod leaves, then returns.
	v2 := target(m, tgtEchoV2, "echo")
	waitEndpoints(t, cl, v2, gw(c2), gw(c3))
	ctx := context.Background()
	if err := c3.RemovePod(ctx, podOf(t, c3, "echo", "v2")); err != nil {
		t.Fatal(err)
	}
	gone := waitEndpoints(t, cl, v2, gw(c2))
	if _, err := c3.AddEchoPod(ctx, "echo", "v2"); err != nil {
		t.Fatal(err)
	}
	back := waitEndpoints(t, cl, v2, gw(c2), gw(c3))
	figure(t, "key rotation on %d daemons took %s; after it, a pod removal in cluster3 reached cluster1's client in %s, its return in %s",
		len(m.Clusters), rotation.Round(time.Millisecond), gone.Round(time.Millisecond), back.Round(time.Millisecond))
}

// TestChaosClusterRemoved runs chaosClusterRemoved in the shared mesh
// (built-in gateways): cluster3 is removed while cluster1 calls echo v2,
// which runs in cluster2 and cluster3.
func TestChaosClusterRemoved(t *testing.T) {
	m := mesh(t)
	chaosClusterRemoved(t, m, m.Cluster("cluster3"), target(m, tgtEchoV2, "echo"), gw(m.Cluster("cluster2")))
}

// chaosClusterRemoved removes cluster removed from the mesh (its daemon and
// east-west gateway, built-in or Envoy, are killed and stay down) while a
// client in cluster1 calls tgt, whose endpoints are keep and removed's
// gateway. cluster1's daemon stops hearing removed's gateway (its probes
// are refused) and withdraws it from the client's endpoints within 10 s
// (as the daemon times it), long before memberlist calls the daemon dead;
// until then a connect to the removed gateway is refused and retried on
// another endpoint (≥ 99% succeed until the withdrawal and over the whole
// fault), from then on every request succeeds through keep. When removed comes back (its owner republishes), its
// gateway returns to the client's endpoints. In the Envoy world, cluster1's
// Envoy ingress holds the same endpoints of tgt at each step.
func chaosClusterRemoved(t *testing.T, m *meshlab.Mesh, removed *meshlab.Cluster, tgt workload.Target, keep ...netip.AddrPort) {
	c1 := m.Cluster("cluster1")
	all := append(slices.Clone(keep), gw(removed))
	cl := newClient(t, c1, "client-removed")
	waitEndpoints(t, cl, tgt, all...)
	r := startChaos(t, "removed", cl, tgt)
	// envoyEndpointsAre waits until cluster1's Envoy ingress holds exactly
	// want as the endpoints of tgt (no-op in the built-in world).
	envoyEndpointsAre := func(want ...netip.AddrPort) {
		if g := c1.EnvoyIngress; g != nil {
			cluster := fmt.Sprintf("outbound|%d|%s|%s", tgt.Port, tgt.Subset, tgt.Host)
			waitUntil(t, fmt.Sprintf("%s's endpoints of %s = %v", g.Name, cluster, want), nil, func() (bool, string) {
				eps := envoyEndpoints(g, cluster)
				return slices.Equal(eps, addrs(want...)), fmt.Sprint(eps)
			})
		}
	}
	envoyEndpointsAre(all...)
	withdrawals := timedBy(t, c1, "meshgate_gateway_withdrawal_seconds", gw(removed), removedWithin)

	for _, p := range []*meshlab.Proc{removed.Daemon, eastWestProc(removed)} {
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		restartDaemon(t, m, removed)
		restartEastWest(t, m, removed)
	})
	r.fault()
	waitEndpoints(t, cl, tgt, keep...)
	removedFor := time.Since(r.faultAt)
	t.Logf("%s removed at %s, withdrawn from the client's endpoints at %s", removed.ID, r.faultAt.Format("15:04:05.000"), r.faultAt.Add(removedFor).Format("15:04:05.000"))
	withdrawals.require(removed.ID+"'s gateway withdrawn", 1)
	envoyEndpointsAre(keep...)
	// Not waited for: memberlist's verdict on the daemon (after several
	// restarts in the shared mesh it can take minutes; the probes made it
	// irrelevant to the endpoints). Its state at the withdrawal is a figure.
	memberState := memberStates(t, m, c1)[removed.ID]
	after := time.Now()
	st := r.waitLoad(after, "requests after the withdrawal", func(s workload.Stats) bool { return s.Sent >= 250 })
	if st.Failed > 0 {
		t.Errorf("requests failed after %s's endpoints were withdrawn: %s %v", removed.ID, st, st.Errors)
		logFailed(t, "after the withdrawal", st)
	}
	// Until the withdrawal a connect to the removed gateway is refused and
	// retried on another endpoint. What fails is a call in flight through
	// the gateway when it is killed (its request sent, the connection reset
	// before the reply: no proxy may replay it): one such call in this
	// short window is ~1.5%, so ≥ 99% is asserted over the whole fault
	// (below), like the other scenarios, and these are logged.
	window := r.load.Window(r.faultAt, r.faultAt.Add(removedFor))
	logFailed(t, "until the withdrawal", window)
	figure(t, "%s's endpoints withdrawn after %s (its daemon then %q to memberlist; fail-static window %s); until then %s; after: %s",
		removed.ID, removedFor.Round(time.Millisecond), memberState, m.Opts.FailStaticWindow, window, st)

	r.heal()
	restartDaemon(t, m, removed)
	restartEastWest(t, m, removed)
	back := waitEndpoints(t, cl, tgt, all...)
	envoyEndpointsAre(all...)
	_, during := r.recover()
	overTheFault(t, "removal", during)
	figure(t, "%s back in the client's endpoints %s after its daemon and gateway restarted", removed.ID, back.Round(time.Millisecond))
}

// eastWestProc is c's east-west gateway process, built-in or Envoy.
func eastWestProc(c *meshlab.Cluster) *meshlab.Proc {
	if c.EnvoyEastWest != nil {
		return c.EnvoyEastWest.Proc
	}
	return c.EastWest
}

// restartEastWest starts c's stopped east-west gateway (built-in or Envoy)
// again and waits until it is ready.
func restartEastWest(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster) {
	t.Helper()
	g := c.EnvoyEastWest
	if g == nil {
		restartGateway(t, m, c, c.EastWest, meshlab.EastWestAdmin)
		return
	}
	if g.Running() {
		return
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatalf("restart %s: %v", g.Name, err)
	}
}

func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("meshgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keyFingerprints lists a daemon's gossip key fingerprints (`meshgate keyring list`).
func keyFingerprints(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster) []string {
	t.Helper()
	var fps []string
	for _, line := range strings.Split(mustRun(t, m.Bin, "keyring", "list", "--admin-address", c.AdminAddr()), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.EqualFold(f[0], "FINGERPRINT") {
			continue
		}
		fps = append(fps, f[0])
	}
	return fps
}

// memberStates maps cluster → state as c's daemon sees the members
// (`meshgate members`).
func memberStates(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range memberRows(t, m, c) {
		out[r.cluster] = r.state
	}
	return out
}

// memberRow is one line of `meshgate members`.
type memberRow struct{ name, cluster, state string }

func (r memberRow) String() string { return r.name + "(" + r.cluster + ")=" + r.state }

// memberRows lists the gossip members c's daemon knows, itself included.
func memberRows(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster) []memberRow {
	t.Helper()
	return memberRowsWith(t, m.Bin, c)
}

func mapLines(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
