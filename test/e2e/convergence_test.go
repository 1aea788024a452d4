//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/test/e2e/meshlab"
)

// TestConvergencePerOrigin: on the shared three-cluster mesh, a client in
// cluster1 follows echo's endpoints while echo pods come and go in cluster2
// and cluster3 in turn; each change reaches the client (the weight of that
// network's east-west gateway) and is counted in cluster1's
// meshgate_mesh_convergence_seconds{origin_cluster}, read from its /metrics.
// The figures: per origin, p50/p99 of the exact last convergences
// (/federation/members) and of the histogram's buckets, with the clock
// offsets cluster1 estimates of the other daemons (all on one host: the
// true offset is 0, so each must be within its error bound).
func TestConvergencePerOrigin(t *testing.T) {
	m := mesh(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c1 := m.Cluster("cluster1")
	origins := []string{"cluster2", "cluster3"}
	// An xDS client of cluster1's daemon that holds echo's endpoints (the
	// gateways of cluster1 route elsewhere), and ACKs every change of them.
	cl := newClient(t, c1, "client-convergence")
	tgt := target(m, tgtEcho, "echo")
	waitEndpoints(t, cl, tgt, podAddr(podOf(t, c1, "echo", "v1")), gw(m.Cluster("cluster2")), gw(m.Cluster("cluster3")))
	before, sourceBefore := map[string]histogram{}, map[string]histogram{}
	for _, o := range origins {
		before[o] = convergenceHistogram(t, c1, o)
		sourceBefore[o] = histogramOf(t, m.Cluster(o), "meshgate_discovery_debounce_seconds", "cluster", o)
	}
	const perOrigin = 10 // even: each origin ends as it began
	samples := map[string][]time.Duration{}
	added := map[string]*meshlab.Pod{}
	t.Cleanup(func() { // the shared mesh as it was, whatever happened
		for o, p := range added {
			if p != nil {
				if err := m.Cluster(o).RemovePod(context.Background(), p); err != nil {
					t.Errorf("removing %s's extra pod: %v", o, err)
				}
			}
		}
	})
	for i := range 2 * perOrigin {
		origin := origins[i%2]
		c := m.Cluster(origin)
		prev := convergenceHistogram(t, c1, origin).count
		_, lastAt := lastConvergence(t, c1, origin)
		var err error
		if p := added[origin]; p != nil {
			err = c.RemovePod(ctx, p)
			added[origin] = nil
		} else {
			added[origin], err = c.AddEchoPod(ctx, "echo", "v2")
		}
		if err != nil {
			t.Fatalf("change %d in %s: %v", i, origin, err)
		}
		// Poll (bounded by ctx) until cluster1 counted the change: its
		// gateways ACK a version carrying it.
		for convergenceHistogram(t, c1, origin).count <= prev {
			select {
			case <-ctx.Done():
				t.Fatalf("change %d in %s: never counted at cluster1 (count %v)", i, origin, prev)
			case <-time.After(20 * time.Millisecond):
			}
		}
		for {
			if d, at := lastConvergence(t, c1, origin); at.After(lastAt) {
				samples[origin] = append(samples[origin], d)
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("change %d in %s: members shows no new convergence", i, origin)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	names := map[string]string{} // node name → cluster
	for _, mb := range members(t, c1).Members {
		names[mb.Name] = mb.Cluster
	}
	offsets := map[string]string{}
	body := metricsOf(t, c1)
	errs := gaugesByLabel(body, "meshgate_federation_clock_offset_error_seconds", "peer")
	for peer, off := range gaugesByLabel(body, "meshgate_federation_clock_offset_seconds", "peer") {
		cluster := names[peer]
		bound, ok := errs[peer]
		if !ok {
			t.Errorf("clock offset of %s (%s) without its error bound", peer, cluster)
			continue
		}
		if math.Abs(off) > bound+0.001 {
			t.Errorf("clock offset of %s (%s): %.6fs ± %.6fs: one host's clock, so 0 must be within the bound", peer, cluster, off, bound)
		}
		offsets[cluster] += fmt.Sprintf(" %s=%+.3fms±%.3fms", peer, off*1000, bound*1000)
	}
	for _, o := range origins {
		if offsets[o] == "" {
			t.Errorf("cluster1 estimates no clock offset for a daemon of %s", o)
		}
		h := convergenceHistogram(t, c1, o).minus(before[o])
		if h.count < perOrigin {
			t.Errorf("%s: %v convergences counted at cluster1 for %d changes", o, h.count, perOrigin)
		}
		s := samples[o]
		slices.Sort(s)
		pct := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))].Round(time.Millisecond) }
		src := histogramOf(t, m.Cluster(o), "meshgate_discovery_debounce_seconds", "cluster", o).minus(sourceBefore[o])
		if src.count < perOrigin {
			t.Errorf("%s: %v source stages (debounce) counted for %d changes", o, src.count, perOrigin)
		}
		figure(t, "convergence at=cluster1 origin=%s changes=%d exact p50=%s p99=%s; histogram count=%v p50≈%s p99≈%s mean=%s; source stage at %s mean=%s; clock offsets%s",
			o, len(s), pct(0.5), pct(0.99), h.count, h.quantile(0.5), h.quantile(0.99), h.mean(), o, src.mean(), offsets[o])
	}
}

// histogram is one series of a Prometheus histogram as /metrics shows it.
type histogram struct {
	buckets map[float64]float64 // le → cumulative count
	count   float64
	sum     float64
}

func (h histogram) minus(o histogram) histogram {
	out := histogram{buckets: map[float64]float64{}, count: h.count - o.count, sum: h.sum - o.sum}
	for le, v := range h.buckets {
		out.buckets[le] = v - o.buckets[le]
	}
	return out
}

func (h histogram) mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / h.count * float64(time.Second)).Round(time.Millisecond)
}

// quantile interpolates within the bucket holding it, as PromQL's
// histogram_quantile does.
func (h histogram) quantile(q float64) time.Duration {
	les := make([]float64, 0, len(h.buckets))
	for le := range h.buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	rank, lower, below := q*h.count, 0.0, 0.0
	for _, le := range les {
		if c := h.buckets[le]; c >= rank && c > below {
			if math.IsInf(le, 1) {
				return time.Duration(lower * float64(time.Second))
			}
			v := lower + (le-lower)*(rank-below)/(c-below)
			return time.Duration(v * float64(time.Second)).Round(time.Millisecond)
		} else {
			lower, below = le, c
		}
	}
	return 0
}

var seriesRE = regexp.MustCompile(`^([a-z_]+)\{([^}]*)\} (\S+)$`)

// labelsOf parses `a="x",b="y"`.
func labelsOf(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

func metricsOf(t *testing.T, c *meshlab.Cluster) string {
	t.Helper()
	code, body := request(t, http.MethodGet, c.AdminURL()+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("%s /metrics: %d", c.ID, code)
	}
	return body
}

// convergenceHistogram reads c's meshgate_mesh_convergence_seconds of origin.
func convergenceHistogram(t *testing.T, c *meshlab.Cluster, origin string) histogram {
	t.Helper()
	return histogramOf(t, c, "meshgate_mesh_convergence_seconds", "origin_cluster", origin)
}

// histogramOf reads the series of histogram name on c whose label is value.
func histogramOf(t *testing.T, c *meshlab.Cluster, name, label, value string) histogram {
	t.Helper()
	h := histogram{buckets: map[float64]float64{}}
	for _, line := range strings.Split(metricsOf(t, c), "\n") {
		g := seriesRE.FindStringSubmatch(line)
		if g == nil || !strings.HasPrefix(g[1], name) {
			continue
		}
		l := labelsOf(g[2])
		if l[label] != value {
			continue
		}
		v, err := strconv.ParseFloat(g[3], 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", c.ID, line, err)
		}
		switch g[1] {
		case name + "_bucket":
			le, err := strconv.ParseFloat(l["le"], 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", c.ID, line, err)
			}
			h.buckets[le] = v
		case name + "_count":
			h.count = v
		case name + "_sum":
			h.sum = v
		}
	}
	return h
}

// gaugesByLabel returns the values of a labelled gauge by one label.
func gaugesByLabel(body, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		g := seriesRE.FindStringSubmatch(line)
		if g == nil || g[1] != name {
			continue
		}
		if v, err := strconv.ParseFloat(g[3], 64); err == nil {
			out[labelsOf(g[2])[label]] = v
		}
	}
	return out
}

func members(t *testing.T, c *meshlab.Cluster) federation.MembersResponse {
	t.Helper()
	resp, err := c.AdminClient().Get("http://admin" + federation.PathMembers)
	if err != nil {
		t.Fatalf("%s members: %v", c.ID, err)
	}
	defer resp.Body.Close()
	var mr federation.MembersResponse
	if err := json.NewDecoder(resp.Body).Decode(&mr); err != nil {
		t.Fatalf("%s members: %v", c.ID, err)
	}
	return mr
}

// lastConvergence is cluster c's last measured convergence of origin's
// changes (members: the newest counted), and when it was counted.
func lastConvergence(t *testing.T, c *meshlab.Cluster, origin string) (time.Duration, time.Time) {
	t.Helper()
	var d time.Duration
	var at time.Time
	for _, mb := range members(t, c).Members {
		if mb.Cluster == origin && mb.LastConvergence != nil && mb.LastConvergence.At.After(at) {
			d, at = time.Duration(mb.LastConvergence.Seconds*float64(time.Second)), mb.LastConvergence.At
		}
	}
	return d, at
}
