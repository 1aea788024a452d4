//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// neverConverged bounds every wait for a condition: it only catches "never
// happened"; the figures printed are what matters.
const neverConverged = 3 * time.Minute

// newClient starts a mesh client in cluster c, closed when the test ends.
func newClient(t *testing.T, c *meshlab.Cluster, name string) *workload.Client {
	t.Helper()
	cl, err := c.NewClient(context.Background(), name)
	if err != nil {
		t.Fatalf("client %s in %s: %v", name, c.ID, err)
	}
	t.Cleanup(cl.XDS.Close)
	return cl
}

// target fills in the SPIFFE ID the target's pods must prove.
func target(m *meshlab.Mesh, tgt workload.Target, sa string) workload.Target {
	tgt.ServerID = m.PKI.WorkloadID(meshlab.Namespace, sa)
	return tgt
}

// waitUntil waits until cond holds, re-checking at each event of changed
// (and at least every 200 ms, for conditions outside the client), and
// returns how long it took. It fails the test only after neverConverged.
func waitUntil(t *testing.T, what string, changed func() <-chan struct{}, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(neverConverged)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		var ch <-chan struct{}
		if changed != nil {
			ch = changed()
		}
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: never happened within %s; last state: %s", what, neverConverged, state)
		}
	}
}

// waitEndpoints waits until the client's endpoints of tgt are exactly want
// (addresses, any order) and returns the time it took.
func waitEndpoints(t *testing.T, cl *workload.Client, tgt workload.Target, want ...netip.AddrPort) time.Duration {
	t.Helper()
	return waitUntil(t, fmt.Sprintf("endpoints of %s = %v", tgt, want), cl.XDS.Changed, func() (bool, string) {
		eps, err := cl.Endpoints(tgt)
		if err != nil {
			return false, err.Error()
		}
		got := map[string]bool{}
		for _, e := range eps {
			got[e.Addr] = true
		}
		if len(got) != len(want) {
			return false, fmt.Sprint(eps)
		}
		for _, w := range want {
			if !got[w.String()] {
				return false, fmt.Sprint(eps)
			}
		}
		return true, ""
	})
}

// gw is a cluster's east-west gateway address.
func gw(c *meshlab.Cluster) netip.AddrPort {
	return netip.AddrPortFrom(c.Net.EastWestIP, meshlab.EastWestPort)
}

// podAddr is an echo pod's address.
func podAddr(p *meshlab.Pod) netip.AddrPort { return netip.AddrPortFrom(p.IP, meshlab.EchoPort) }

// podOf returns the cluster's first pod of svc with version.
func podOf(t *testing.T, c *meshlab.Cluster, svc, version string) *meshlab.Pod {
	t.Helper()
	for _, p := range c.Pods() {
		if p.Service == svc && p.Version == version {
			return p
		}
	}
	t.Fatalf("%s has no %s %s pod", c.ID, svc, version)
	return nil
}

// callLoad makes a load of mesh calls from cl to tgt.
func callLoad(name string, cl *workload.Client, tgt workload.Target, rate float64) *workload.Load {
	return &workload.Load{Name: name, Rate: rate, Call: func(ctx context.Context, seq string) (workload.Result, error) {
		return cl.Call(ctx, tgt, seq)
	}}
}

// EnvSoak multiplies the requests of every scenario and the length of every
// fault (an integer; default 1). MESHGATE_E2E_SOAK=30 turns the ~2-minute
// CI runs of the chaos scenarios into soak runs of about an hour.
const EnvSoak = "MESHGATE_E2E_SOAK"

// scaled is n × $MESHGATE_E2E_SOAK.
func scaled(n int) int {
	f, err := strconv.Atoi(os.Getenv(EnvSoak))
	if err != nil || f < 1 {
		return n
	}
	return n * f
}

// runLoad sends n (scaled) requests at rate per second and returns the figures.
func runLoad(l *workload.Load, n int) workload.Stats {
	n = scaled(n)
	l.Start()
	_, _ = l.WaitFor(context.Background(), time.Time{}, func(s workload.Stats) bool { return s.Sent >= n })
	return l.Stop()
}

var figuresMu sync.Mutex

// figure prints a line of figures in the test log and appends it to
// $MESHGATE_E2E_FIGURES when set (test/all.sh prints that file).
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("FIGURE %s: %s", t.Name(), fmt.Sprintf(format, args...))
	t.Log(line)
	path := os.Getenv("MESHGATE_E2E_FIGURES")
	if path == "" {
		return
	}
	figuresMu.Lock()
	defer figuresMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("figures file: %v", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, strings.TrimSpace(line))
}

// requireAllOK asserts that every request of st succeeded and was answered
// by one of backends (cluster/pod prefixes), with the caller's identity
// verified by the echo server.
func requireAllOK(t *testing.T, st workload.Stats, callerID string, backends ...string) {
	t.Helper()
	if st.Failed > 0 || st.Sent == 0 {
		t.Errorf("%s: want every request to succeed; errors: %v", st, st.Errors)
	}
	for _, s := range st.Samples {
		if !s.OK() {
			continue
		}
		if s.Result.Peer != callerID {
			t.Errorf("%s answered for caller %q, want %q", s.Backend(), s.Result.Peer, callerID)
			return
		}
		ok := false
		for _, b := range backends {
			ok = ok || strings.HasPrefix(s.Backend(), b)
		}
		if !ok {
			t.Errorf("request answered by %s, want one of %v", s.Backend(), backends)
			return
		}
	}
}

func itoa(i int) string { return fmt.Sprint(i) }
