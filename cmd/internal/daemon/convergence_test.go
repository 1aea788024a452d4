package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/metrictest"
)

// threeClusters writes deploy/examples/multicluster with a third cluster:
// cluster3 is cluster2 on network3 (east-west gateway 198.51.100.3, pods
// 10.3.0.x), so reviews v2 runs in cluster2 and cluster3.
func threeClusters(t *testing.T) string {
	example := filepath.Join("..", "..", "..", "deploy", "examples", "multicluster")
	dir := t.TempDir()
	for _, c := range []string{"cluster1", "cluster2"} {
		if err := os.Mkdir(filepath.Join(dir, c), 0o755); err != nil {
			t.Fatal(err)
		}
		copyDir(t, filepath.Join(example, c), filepath.Join(dir, c))
	}
	if err := os.Mkdir(filepath.Join(dir, "cluster3"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(filepath.Join(example, "cluster2"))
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("network2", "network3", "198.51.100.2", "198.51.100.3", "10.2.0.", "10.3.0.")
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(example, "cluster2", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cluster3", f.Name()), []byte(r.Replace(string(b))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestFederatedConvergence: three federated daemons over real gossip;
// reviews v2 comes and goes in cluster2 and cluster3 in turn (its file
// removed and written back), and each time cluster1's ingress gateway (a
// real ADS stream that ACKs) gets the change through that network's
// east-west gateway. Each change is counted once in cluster1's
// meshgate_mesh_convergence_seconds{origin_cluster}, measured from the
// origin's first file event (its debounce stage counted there); members shows the peers' clock offsets (0 on one host:
// within the estimate's error bound) and last convergences. Prints the
// figures (FIGURE lines).
func TestFederatedConvergence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := federatedStarterFrom(ctx, t, threeClusters(t), nil)
	b, bDir, _ := start("cluster2", "network2", nil)
	c, cDir, _ := start("cluster3", "network3", []string{b.GossipAddr()})
	a, _, _ := start("cluster1", "network1", []string{b.GossipAddr(), c.GossipAddr()})
	dirs := map[string]string{"cluster2": bDir, "cluster3": cDir}
	gateways := map[string]string{"cluster2": "198.51.100.2:15443", "cluster3": "198.51.100.3:15443"}
	present := map[string]bool{"cluster2": true, "cluster3": true}
	want := func() []string {
		var out []string
		for o, p := range present {
			if p {
				out = append(out, gateways[o])
			}
		}
		slices.Sort(out)
		return out
	}

	updates := edsAddresses(ctx, t, a.XDSAddr(), "outbound|9080|v2|reviews.default.svc.cluster.local")
	waitFor := func(want []string) {
		t.Helper()
		for {
			select {
			case got, ok := <-updates:
				if !ok {
					t.Fatalf("ADS stream ended waiting for %v", want)
				}
				if slices.Equal(got, want) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("cluster1's gateway never got %v", want)
			}
		}
	}
	waitFor(want())
	count := func(origin string) float64 {
		return metrictest.Sum(t, a.reg, "meshgate_mesh_convergence_seconds", map[string]string{"origin_cluster": origin})
	}
	// The first configuration is not counted; a change racing the
	// gateway's connection (a peer's record still arriving) may be, and
	// is then carried by the next response the gateway ACKs, which may be
	// the other origin's first change (seen in CI: cluster3 counted twice
	// by its first change). So each origin's base is taken just before
	// its own first change; from then on every count must be a change.
	base := map[string]float64{}
	content, err := os.ReadFile(filepath.Join(bDir, "reviews.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{"cluster2": content}
	if contents["cluster3"], err = os.ReadFile(filepath.Join(cDir, "reviews.yaml")); err != nil {
		t.Fatal(err)
	}
	const changes = 20
	samples := map[string][]time.Duration{}
	for i := range changes {
		origin := []string{"cluster2", "cluster3"}[i%2]
		_, before, _ := a.xds.LastConvergence(origin)
		if _, ok := base[origin]; !ok {
			base[origin] = count(origin)
		}
		file := filepath.Join(dirs[origin], "reviews.yaml")
		if present[origin] {
			err = os.Remove(file)
		} else {
			err = os.WriteFile(file, contents[origin], 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		present[origin] = !present[origin]
		waitFor(want())
		// The gateway ACKs right after receiving: poll (bounded by ctx) for
		// the server to have counted that ACK.
		for {
			if d, at, ok := a.xds.LastConvergence(origin); ok && at.After(before) {
				samples[origin] = append(samples[origin], d)
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("change %d of %s: no convergence counted", i, origin)
			case <-time.After(time.Millisecond):
			}
		}
		if n := count(origin) - base[origin]; n != float64(len(samples[origin])) {
			t.Fatalf("after %d changes of %s the histogram counted %v", len(samples[origin]), origin, n)
		}
	}

	for _, m := range a.fed.Members() {
		if m.Local {
			continue
		}
		if m.ClockOffsetSeconds == nil || m.ClockErrorSeconds == nil {
			t.Errorf("members: no clock offset for %s", m.Cluster)
		} else if off, bound := *m.ClockOffsetSeconds, *m.ClockErrorSeconds+0.001; off > bound || off < -bound {
			t.Errorf("%s's clock offset %vs ± %vs: the same clock should be within the bound", m.Cluster, off, *m.ClockErrorSeconds)
		}
		s := samples[m.Cluster]
		if m.LastConvergence == nil || m.LastConvergence.Seconds != s[len(s)-1].Seconds() {
			t.Errorf("members: %s's last convergence %+v, measured %v", m.Cluster, m.LastConvergence, s[len(s)-1])
		}
	}

	// The /ui page draws the end-to-end histograms next to the ACK latencies.
	var drawn []string
	for _, h := range a.uiState().Convergence {
		drawn = append(drawn, fmt.Sprintf("%s=%d", h.Label, h.Count))
	}
	for _, origin := range []string{"cluster2", "cluster3"} {
		if w := fmt.Sprintf("end to end from %s=%d", origin, int(count(origin))); !slices.Contains(drawn, w) {
			t.Errorf("/ui convergence %v: no %q", drawn, w)
		}
	}

	mean := func(name string, labels map[string]string) string {
		var sum, n float64
		for _, h := range metrictest.Find(t, a.reg, name, labels) {
			sum += h.GetHistogram().GetSampleSum()
			n += float64(h.GetHistogram().GetSampleCount())
		}
		if n == 0 {
			return "-"
		}
		return (time.Duration(sum / n * float64(time.Second))).Round(100 * time.Microsecond).String()
	}
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	// The source stage, at each origin: every change is a file event whose
	// reload changed the cluster (an editor's write may take two reloads).
	origins := map[string]*Daemon{"cluster2": b, "cluster3": c}
	debounce := map[string]string{}
	for origin, d := range origins {
		var sum, n float64
		for _, h := range metrictest.Find(t, d.reg, "meshgate_discovery_debounce_seconds", map[string]string{"cluster": origin}) {
			sum += h.GetHistogram().GetSampleSum()
			n += float64(h.GetHistogram().GetSampleCount())
		}
		if n < changes/2 {
			t.Errorf("%s's file source counted %v debounce stages for %d changes", origin, n, changes/2)
		}
		debounce[origin] = "-"
		if n > 0 {
			debounce[origin] = r(time.Duration(sum / n * float64(time.Second))).String()
		}
	}
	for _, origin := range []string{"cluster2", "cluster3"} {
		s := samples[origin]
		slices.Sort(s)
		pct := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
		fmt.Printf("FIGURE convergence daemons=3 at=cluster1 origin=%s changes=%d p50=%v p99=%v max=%v (origin's first file event → ACK by cluster1's gateway)\n",
			origin, len(s), r(pct(0.5)), r(pct(0.99)), r(s[len(s)-1]))
		fmt.Printf("FIGURE convergence stage source at=%s mean=%s (file event → published: the watch holdoff)\n", origin, debounce[origin])
		fmt.Printf("FIGURE convergence stage gossip at=cluster1 origin=%s mean=%s\n", origin,
			mean("meshgate_federation_gossip_seconds", map[string]string{"origin_cluster": origin}))
	}
	fmt.Printf("FIGURE convergence stages at=cluster1 (means): translate=%s push(endpoint)=%s ack(endpoint)=%s\n",
		mean("meshgate_xds_rebuild_duration_seconds", nil),
		mean("meshgate_xds_push_seconds", map[string]string{"type": "endpoint"}),
		mean("meshgate_xds_ack_seconds", map[string]string{"type": "endpoint"}))
	for _, m := range a.fed.Members() {
		if !m.Local && m.ClockOffsetSeconds != nil {
			fmt.Printf("FIGURE clock offset at=cluster1 peer=%s offset=%.6fs error=%.6fs (same host: true offset 0)\n", m.Cluster, *m.ClockOffsetSeconds, *m.ClockErrorSeconds)
		}
	}
}
