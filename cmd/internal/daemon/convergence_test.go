package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/metrictest"
)

// TestFederatedConvergence: two federated daemons over real gossip; cluster2's
// reviews v2 comes and goes (its file removed and written back), each time
// cluster1's ingress gateway (a real ADS stream that ACKs) gets the change.
// Each change is counted once in cluster1's
// meshgate_mesh_convergence_seconds{origin_cluster="cluster2"}, measured from
// cluster2's reload; members shows cluster2's clock offset (0 on one host:
// within the estimate's error bound) and last convergence. Prints the
// figures (FIGURE lines).
func TestFederatedConvergence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := federatedStarter(ctx, t, nil)
	b, bDir, _ := start("cluster2", "network2", nil)
	a, _, _ := start("cluster1", "network1", []string{b.GossipAddr()})

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
	present := []string{"198.51.100.2:15443"}
	waitFor(present)
	count := func() float64 {
		return metrictest.Sum(t, a.reg, "meshgate_mesh_convergence_seconds", map[string]string{"origin_cluster": "cluster2"})
	}
	base := count() // the first configuration is not counted; a change racing the gateway's connection may be
	reviews := filepath.Join(bDir, "reviews.yaml")
	content, err := os.ReadFile(reviews)
	if err != nil {
		t.Fatal(err)
	}
	const changes = 10
	var samples []time.Duration
	for i := range changes {
		_, before, _ := a.xds.LastConvergence("cluster2")
		if i%2 == 0 {
			err = os.Remove(reviews)
		} else {
			err = os.WriteFile(reviews, content, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			waitFor(nil)
		} else {
			waitFor(present)
		}
		// The gateway ACKs right after receiving: poll (bounded by ctx) for
		// the server to have counted that ACK.
		for {
			if d, at, ok := a.xds.LastConvergence("cluster2"); ok && at.After(before) {
				samples = append(samples, d)
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("change %d: no convergence counted", i)
			case <-time.After(time.Millisecond):
			}
		}
		if n := count() - base; n != float64(i+1) {
			t.Fatalf("after %d changes the histogram counted %v", i+1, n)
		}
	}

	var m2 *float64
	var lastConv bool
	for _, m := range a.fed.Members() {
		if m.Cluster == "cluster2" {
			if m.ClockOffsetSeconds != nil && m.ClockErrorSeconds != nil {
				if off, bound := *m.ClockOffsetSeconds, *m.ClockErrorSeconds+0.001; off > bound || off < -bound {
					t.Errorf("cluster2's clock offset %vs ± %vs: the same clock should be within the bound", off, *m.ClockErrorSeconds)
				}
				m2 = m.ClockOffsetSeconds
			}
			lastConv = m.LastConvergence != nil && m.LastConvergence.Seconds == samples[len(samples)-1].Seconds()
		}
	}
	if m2 == nil || !lastConv {
		t.Errorf("members: cluster2's clock offset %v, last convergence shown %v", m2, lastConv)
	}

	slices.Sort(samples)
	pct := func(p float64) time.Duration { return samples[min(len(samples)-1, int(p*float64(len(samples))))] }
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
	fmt.Printf("FIGURE convergence daemons=2 origin=cluster2 changes=%d p50=%v p99=%v max=%v (cluster2's file reload, after its watch holdoff → ACK by cluster1's gateway)\n",
		changes, pct(0.5).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond), samples[len(samples)-1].Round(100*time.Microsecond))
	fmt.Printf("FIGURE convergence stages at cluster1 (means): gossip=%s translate=%s push(endpoint)=%s ack(endpoint)=%s\n",
		mean("meshgate_federation_gossip_seconds", map[string]string{"origin_cluster": "cluster2"}),
		mean("meshgate_xds_rebuild_duration_seconds", nil),
		mean("meshgate_xds_push_seconds", map[string]string{"type": "endpoint"}),
		mean("meshgate_xds_ack_seconds", map[string]string{"type": "endpoint"}))
}
