//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// recordReasons are the reasons a daemon refuses a record for (package
// federation's rejected_messages_total); an upgrade must cause none.
// keyListed matches a key line of `meshgate keyring list` (fingerprint first).
var keyListed = regexp.MustCompile(`(?m)^[0-9a-f]{8}\s`)

var recordReasons = []string{"corrupt", "oversized", "version", "generation_conflict", "unknown_type",
	"unsigned", "bad_signature", "bad_seal", "fenced", "not_admitted"}

// TestUpgradeRolling (issue 20 item 3): a three-cluster mesh whose daemons
// all run release N−1 (the commit in testdata/previous-release, built once
// per commit into the release cache) is upgraded daemon by daemon to this
// release (N: SIGTERM, the same command line with the new binary, wait
// until it is ready, then until every peer holds its new record and it
// holds every peer's) while a client in every cluster calls across the
// gateways (cluster1 → only-b behind cluster2's gateway; cluster2 and
// cluster3 → echo, their own pod and the other clusters' gateways). The
// gateways stay at N−1 (N daemons serve N−1 gateways). In each mixed state
// (N next to N−1) records are accepted both ways, no daemon refuses a
// record, and each release's `meshgate members` and `keyring list` read
// the other release's daemon. A daemon of a newer release still (cluster4,
// newerCluster: a gossip member in the test process) hands cluster1 alone
// a record whose body has fields neither release knows; every daemon holds
// it byte for byte (signature verified), relayed by N−1 daemons before the
// upgrade, and again by N−1 and N after each step (a restarted daemon
// takes it from its peers). No call fails; every client's endpoints stay
// exactly the baseline throughout (none lost, even for a moment, none
// resurrected: an echo pod of cluster2 removed before the upgrade never
// comes back) and every daemon holds every other cluster at the end.
func TestUpgradeRolling(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "meshgate-e2e-upgrade-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	commit, err := meshlab.PreviousRelease()
	if err != nil {
		t.Fatal(err)
	}
	buildStart := time.Now()
	old, err := meshlab.BuildRelease(ctx, commit)
	if err != nil {
		t.Fatalf("release N−1: %v", err)
	}
	oldBuilt := time.Since(buildStart)
	cur, err := meshlab.BuildBinary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	oldCaps, err := meshlab.Probe(old)
	if err != nil {
		t.Fatal(err)
	}
	curCaps, err := meshlab.Probe(cur)
	if err != nil {
		t.Fatal(err)
	}
	for rel, caps := range map[string]meshlab.Capabilities{"N−1 (" + commit + ")": oldCaps, "N": curCaps} {
		if miss := caps.Missing("run", "gateway", "cert", "identity", "gossip", "members", "keyring"); len(miss) > 0 {
			t.Fatalf("release %s: %v", rel, missingErr(miss))
		}
	}
	figure(t, "release N−1 = %s (%s; binary ready in %s, cached by commit), N = this checkout",
		commit[:min(12, len(commit))], old, oldBuilt.Round(time.Millisecond))

	start := time.Now()
	m, err := meshlab.New(ctx, slot, meshlab.Options{
		Clusters: 3, Dir: dir, Bin: old, Caps: oldCaps,
		Services:     map[string][]string{"cluster1": {"echo"}, "cluster2": {"echo", "only-b"}, "cluster3": {"echo"}},
		ClientRoutes: []meshlab.ClientRoute{{Service: "echo"}, {Service: "only-b"}},
		// cluster4 is the newer release's cluster (newerCluster)
		Admit: map[string][]string{"cluster1": {"cluster2", "cluster3", "cluster4"}, "cluster2": {"cluster1", "cluster3", "cluster4"},
			"cluster3": {"cluster1", "cluster2", "cluster4"}},
		Logf: t.Logf,
	})
	if m != nil {
		t.Cleanup(func() { _ = m.Close() })
	}
	if err != nil {
		t.Fatalf("building the N−1 mesh: %v", err)
	}
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	for _, p := range []struct {
		c            *meshlab.Cluster
		svc, version string
	}{{c1, "echo", "v1"}, {c2, "echo", "v1"}, {c2, "only-b", "v1"}, {c3, "echo", "v2"}} {
		if _, err := p.c.AddEchoPod(ctx, p.svc, p.version); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("N−1 mesh: 3 clusters, source %s, ready in %s (work dir %s)", m.Opts.Source, time.Since(start).Round(time.Millisecond), dir)

	// A daemon of a newer release publishes, through cluster1 only, a
	// record with fields neither release knows: relayed intact by N−1
	// (now) and by N (after the upgrade, the restarted daemons get it from
	// their peers again).
	newer := startNewerCluster(t, m, "cluster4")
	newer.publish(t, c1)
	newer.checkHeldIntact(t, m, "N−1 mesh")

	// A pod removed under N−1: its endpoint must never come back.
	gone, err := c2.AddEchoPod(ctx, "echo", "v1")
	if err != nil {
		t.Fatal(err)
	}
	echo := target(m, tgtEcho, "echo")
	cl2 := newClient(t, c2, "client-upgrade-2")
	waitEndpoints(t, cl2, echo, podAddr(podOf(t, c2, "echo", "v1")), podAddr(gone), gw(c1), gw(c3))
	if err := c2.RemovePod(ctx, gone); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, cl2, echo, podAddr(podOf(t, c2, "echo", "v1")), gw(c1), gw(c3))

	type caller struct {
		c   *meshlab.Cluster
		cl  *workload.Client
		tgt workload.Target
	}
	cl1, cl3 := newClient(t, c1, "client-upgrade-1"), newClient(t, c3, "client-upgrade-3")
	onlyB := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl1, onlyB, gw(c2))
	waitEndpoints(t, cl3, echo, podAddr(podOf(t, c3, "echo", "v2")), gw(c1), gw(c2))
	callers := []caller{{c1, cl1, onlyB}, {c2, cl2, echo}, {c3, cl3, echo}}
	var runs []*chaosRun
	var tracks []*edsTrack
	for _, k := range callers {
		l := callLoad("upgrade-"+k.c.ID, k.cl, k.tgt, 25)
		l.MaxInFlight = 300
		runs = append(runs, startChaosLoad(t, l, k.c.ID+" "+k.tgt.String(),
			func() []string { return weightedEndpoints(k.cl, k.tgt) }, k.cl.XDS.Changed))
		tracks = append(tracks, trackEndpoints(t, k.cl, k.tgt))
	}
	checkFederation(t, m, "N−1 mesh", 1, old, old)

	upgradeAt := time.Now()
	for _, r := range runs {
		r.fault() // the "fault" is the whole rolling upgrade
	}
	for i, c := range m.Clusters {
		streams := callers[i].cl.XDS.Streams()
		stepAt := time.Now()
		if err := m.RestartDaemon(ctx, c, cur); err != nil {
			t.Fatalf("upgrading %s: %v", c.ID, err)
		}
		ready := time.Since(stepAt)
		synced := waitSynced(t, m, c)
		reconnected := waitUntil(t, c.ID+"'s client reconnects to its upgraded daemon", callers[i].cl.XDS.Changed, func() (bool, string) {
			return callers[i].cl.XDS.Connected() && callers[i].cl.XDS.Streams() > streams, "not reconnected"
		})
		figure(t, "%s N−1 → N: ready %s after the restart began, synced (peers hold its new record, it holds theirs) %s after, its client reconnected %s after readiness",
			c.ID, ready.Round(time.Millisecond), synced.Round(time.Millisecond), reconnected.Round(time.Millisecond))
		if i < len(m.Clusters)-1 {
			what := fmt.Sprintf("mixed: %d of 3 daemons at N", i+1)
			checkFederation(t, m, what, 1, cur, old)
			newer.checkHeldIntact(t, m, what)
		}
	}
	upgraded := time.Since(upgradeAt)
	afterAt := time.Now()
	for _, r := range runs { // 10 s more of calls on the upgraded mesh (25/s)
		r.waitLoad(afterAt, "calls after the upgrade", func(s workload.Stats) bool { return s.Sent >= scaled(250) })
	}
	for _, r := range runs {
		r.heal()
	}
	doneAt := time.Now()
	checkFederation(t, m, "N mesh", 1, cur, cur)
	newer.checkHeldIntact(t, m, "N mesh")

	var calls, failures int
	for i, r := range runs {
		st := r.load.Window(upgradeAt, doneAt)
		calls, failures = calls+st.Sent, failures+st.Failed
		if st.Failed != 0 || st.Sent == 0 {
			t.Errorf("%s: calls failed during the rolling upgrade: %s %v", callers[i].c.ID, st, st.Errors)
		}
		figure(t, "%s → %s during the upgrade (%s): %s", callers[i].c.ID, callers[i].tgt, doneAt.Sub(upgradeAt).Round(time.Millisecond), st)
		// Every change of the client's endpoints since the baseline:
		// there must be none (addresses; the weights are checked at the end).
		if ev, ok := tracks[i].first(upgradeAt, func(eps []string) bool { return !slices.Equal(eps, addrsOf(r.baseline)) }); ok {
			t.Errorf("%s's endpoints of %s changed during the upgrade (at %s): baseline %v",
				callers[i].c.ID, callers[i].tgt, ev.Sub(upgradeAt).Round(time.Millisecond), r.baseline)
		}
		if eps := r.endpoints(); !slices.Equal(eps, r.baseline) {
			t.Errorf("%s's endpoints of %s after the upgrade: %v, want the baseline %v", callers[i].c.ID, callers[i].tgt, eps, r.baseline)
		}
	}
	if eps := clientEndpoints(cl2, echo); slices.Contains(eps, podAddr(gone).String()) {
		t.Errorf("the echo pod removed under N−1 came back: %v", eps)
	}
	figure(t, "rolling upgrade of 3 daemons under load: %s; calls=%d failures=%d", upgraded.Round(time.Millisecond), calls, failures)

	// On the N mesh a changed record travels as a state delta against the
	// record held (N−1 neither asked for nor was sent one: it refused none).
	applied := func() float64 {
		var sum float64
		for _, c := range m.Clusters {
			v, _ := daemonMetric(t, c, "meshgate_federation_state_deltas_total", `result="applied"`)
			sum += v
		}
		return sum
	}
	before := applied()
	if _, err := m.Cluster("cluster2").AddEchoPod(ctx, "echo", "v1"); err != nil {
		t.Fatal(err)
	}
	took := waitUntil(t, "a change of cluster2 reaches the other daemons as a state delta", nil, func() (bool, string) {
		a := applied()
		return a > before, fmt.Sprintf("deltas applied: %v (before the change %v)", a, before)
	})
	figure(t, "N mesh: cluster2's next change applied as a state delta %s after the pod was added", took.Round(time.Millisecond))
}

// weightedEndpoints lists the client's endpoints of tgt as "addr w=N", sorted.
func weightedEndpoints(cl *workload.Client, tgt workload.Target) []string {
	eps, err := cl.Endpoints(tgt)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range eps {
		out = append(out, fmt.Sprintf("%s w=%d", e.Addr, e.Weight))
	}
	slices.Sort(out)
	return out
}

// addrsOf strips the weights of weightedEndpoints.
func addrsOf(weighted []string) []string {
	var out []string
	for _, w := range weighted {
		a, _, _ := strings.Cut(w, " ")
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// daemonMetric sums the samples of name (with labels, `k="v"` pairs, all
// present) on c's daemon's monitoring port; ok is false when there is none.
func daemonMetric(t *testing.T, c *meshlab.Cluster, name string, labels ...string) (sum float64, ok bool) {
	t.Helper()
	code, body := request(t, http.MethodGet, c.AdminURL()+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("%s /metrics: %d", c.ID, code)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64); err == nil && match {
			sum, ok = sum+v, true
		}
	}
	return sum, ok
}

// waitSynced waits until c's daemon holds every other cluster at the
// generation its owner publishes, and every other daemon holds c's
// (meshgate_federation_cluster_generation); it returns how long it took.
func waitSynced(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster) time.Duration {
	t.Helper()
	return waitUntil(t, c.ID+" and its peers hold each other's current records", nil, func() (bool, string) {
		ok, state := true, ""
		for _, owner := range m.Clusters {
			label := `cluster="` + owner.ID + `"`
			own, _ := daemonMetric(t, owner, "meshgate_federation_cluster_generation", label)
			for _, holder := range m.Clusters {
				if holder == owner || (holder != c && owner != c) {
					continue
				}
				held, _ := daemonMetric(t, holder, "meshgate_federation_cluster_generation", label)
				if held != own {
					ok = false
					state += fmt.Sprintf("%s holds %s at %.0f, its owner publishes %.0f; ", holder.ID, owner.ID, held, own)
				}
			}
		}
		return ok, state
	})
}

// checkFederation checks a state of the mesh (what names it): every daemon
// holds every other cluster's current record (and extra further
// clusters'), refused none, and lists every daemon alive (and extra more
// members); the admin API of the daemons is read with both
// binaries (each release's CLI against whatever release each daemon runs:
// the admin API is part of the compatibility promise).
func checkFederation(t *testing.T, m *meshlab.Mesh, what string, extra int, bins ...string) {
	t.Helper()
	for _, c := range m.Clusters {
		waitSynced(t, m, c)
		if n, _ := daemonMetric(t, c, "meshgate_federation_remote_clusters"); n != float64(len(m.Clusters)-1+extra) {
			t.Errorf("%s: %s shows %v remote clusters, want %d", what, c.ID, n, len(m.Clusters)-1+extra)
		}
		for _, reason := range recordReasons {
			if n, _ := daemonMetric(t, c, "meshgate_federation_rejected_messages_total", `reason="`+reason+`"`); n != 0 {
				t.Errorf("%s: %s refused %v messages (%s)", what, c.ID, n, reason)
			}
		}
		keys := map[string]string{} // keyring list output, by binary
		for _, bin := range slices.Compact(slices.Clone(bins)) {
			var rows []memberRow
			waitUntil(t, fmt.Sprintf("%s: %s members --admin-address %s lists every daemon alive", what, bin, c.ID), nil, func() (bool, string) {
				rows = memberRowsWith(t, bin, c)
				ok := len(rows) == len(m.Clusters)+extra
				for _, r := range rows {
					ok = ok && r.state == "alive"
				}
				return ok, fmt.Sprint(rows)
			})
			keys[bin] = mustRun(t, bin, "keyring", "list", "--admin-address", c.AdminAddr())
			if !keyListed.MatchString(keys[bin]) {
				t.Errorf("%s: %s keyring list against %s lists no key: %q", what, bin, c.ID, keys[bin])
			}
		}
		if len(keys) > 1 && keys[bins[0]] != keys[bins[len(bins)-1]] {
			t.Errorf("%s: keyring list of %s's daemon differs between the releases' CLIs: %q", what, c.ID, keys)
		}
	}
	t.Logf("%s: every daemon holds every cluster, refused no record, and answers members/keyring list of %d release(s)", what, len(slices.Compact(slices.Clone(bins))))
}

// memberRowsWith lists the gossip members c's daemon knows, itself
// included, read with bin's `meshgate members`.
func memberRowsWith(t *testing.T, bin string, c *meshlab.Cluster) []memberRow {
	t.Helper()
	var out []memberRow
	lines := strings.Split(mustRun(t, bin, "members", "--admin-address", c.AdminAddr()), "\n")
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		if f[1] == "(self)" {
			f = append(f[:1], f[2:]...)
		}
		out = append(out, memberRow{name: f[0], cluster: f[2], state: f[3]})
	}
	return out
}
