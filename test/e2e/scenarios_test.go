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
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// TestServiceOnlyInRemoteCluster: a client in cluster1 (net1) calls only-b,
// which runs only in cluster2 (net2). Its daemon's EDS (split horizon) gives
// it cluster2's east-west gateway, never the pod address; every request goes
// through that gateway with the SNI of only-b and reaches the only-b pod,
// which verifies the client's SPIFFE ID.
func TestServiceOnlyInRemoteCluster(t *testing.T) {
	m := mesh(t)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	cl := newClient(t, c1, "client-only-b")
	tgt := target(m, tgtOnlyB, "only-b")
	took := waitEndpoints(t, cl, tgt, gw(c2))
	if err := cl.CheckSNI(tgt); err != nil {
		t.Error(err)
	}
	st := runLoad(callLoad("only-b", cl, tgt, 50), 200)
	requireAllOK(t, st, cl.ID.ID().String(), "cluster2/only-b-")
	for _, s := range st.Samples {
		if s.Result.SNI != tgt.Name().SNI() {
			t.Fatalf("echo saw SNI %q, want %q", s.Result.SNI, tgt.Name().SNI())
		}
	}
	figure(t, "%s; endpoints converged in %s", st, took)
}

// TestServiceInEveryCluster: echo runs in all three clusters. A client in
// cluster1 gets its local pod directly and the other two networks' gateways,
// and its requests reach every pod of every cluster.
func TestServiceInEveryCluster(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-echo")
	tgt := target(m, tgtEcho, "echo")
	took := waitEndpoints(t, cl, tgt, podAddr(podOf(t, c1, "echo", "v1")), gw(c2), gw(c3))
	if err := cl.CheckSNI(tgt); err != nil {
		t.Error(err)
	}
	st := runLoad(callLoad("echo", cl, tgt, 50), 300)
	requireAllOK(t, st, cl.ID.ID().String(), "cluster1/echo-", "cluster2/echo-", "cluster3/echo-")
	for _, c := range m.Clusters {
		for _, p := range c.Pods() {
			if p.Service == "echo" && st.Backends[c.ID+"/"+p.Name] == 0 {
				t.Errorf("pod %s/%s got no request: %s", c.ID, p.Name, st)
			}
		}
	}
	direct, viaGW := splitByEndpoint(st, gw(c2).String(), gw(c3).String())
	figure(t, "%s; endpoints converged in %s", st, took)
	figure(t, "latency direct to the local pod: %s; through a remote east-west gateway: %s", direct, viaGW)
}

// splitByEndpoint splits the successful requests of st into those sent to
// one of gateways and the others, as "n=… p50=… p99=…".
func splitByEndpoint(st workload.Stats, gateways ...string) (others, viaGateway string) {
	var o, g []time.Duration
	for _, s := range st.Samples {
		if !s.OK() {
			continue
		}
		if slices.Contains(gateways, s.Result.Endpoint) {
			g = append(g, s.Latency)
		} else {
			o = append(o, s.Latency)
		}
	}
	return latencies(o), latencies(g)
}

func latencies(d []time.Duration) string {
	if len(d) == 0 {
		return "n=0"
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(len(d)-1, max(0, int(float64(len(d))*p+0.5)-1))] }
	return fmt.Sprintf("n=%d p50=%s p99=%s", len(d), at(0.5).Round(10*time.Microsecond), at(0.99).Round(10*time.Microsecond))
}

// TestSubsetRoutingThroughGateway: subsets v1 and v2 of echo. From
// cluster1, v1 is its own pod plus cluster2's gateway (cluster2 has a v1
// pod), v2 is only behind the gateways of cluster2 and cluster3. The SNI
// carries the subset and each gateway sends it to the pods of that subset
// only.
func TestSubsetRoutingThroughGateway(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	cl := newClient(t, c1, "client-subsets")
	v1, v2 := target(m, tgtEchoV1, "echo"), target(m, tgtEchoV2, "echo")
	took1 := waitEndpoints(t, cl, v1, podAddr(podOf(t, c1, "echo", "v1")), gw(c2))
	took2 := waitEndpoints(t, cl, v2, gw(c2), gw(c3))
	for _, tg := range []struct {
		tgt  workload.Target
		took time.Duration
		want []string
	}{
		{v1, took1, []string{"cluster1/echo-cluster1-v1", "cluster2/echo-cluster2-v1"}},
		{v2, took2, []string{"cluster2/echo-cluster2-v2", "cluster3/echo-cluster3-v2"}},
	} {
		if err := cl.CheckSNI(tg.tgt); err != nil {
			t.Error(err)
		}
		st := runLoad(callLoad("echo-"+tg.tgt.Subset, cl, tg.tgt, 50), 200)
		requireAllOK(t, st, cl.ID.ID().String(), tg.want...)
		for _, s := range st.Samples {
			if s.OK() && s.Result.Version != tg.tgt.Subset {
				t.Fatalf("subset %s answered by version %s (%s)", tg.tgt.Subset, s.Result.Version, s.Backend())
			}
		}
		// Every wanted cluster answers (a cluster may run several pods of
		// the subset; its gateway balances among them).
		for _, w := range tg.want {
			answered := false
			for b := range st.Backends {
				answered = answered || strings.HasPrefix(b, w)
			}
			if !answered {
				t.Errorf("subset %s: %s never answered; want every one of %v: %s", tg.tgt.Subset, w, tg.want, st)
			}
		}
		figure(t, "%s; endpoints converged in %s", st, tg.took)
	}
}

// TestIngressToRemoteService: a north-south client outside the mesh (this
// process) connects to cluster1's ingress gateway (a TCP Gateway server);
// the gateway routes to only-b, which runs only in cluster2, over mesh mTLS
// through cluster2's east-west gateway. The only-b pod sees the ingress
// gateway's SPIFFE ID.
func TestIngressToRemoteService(t *testing.T) {
	m := mesh(t)
	c1 := m.Cluster("cluster1")
	addr := netip.AddrPortFrom(c1.Net.IngressIP, meshlab.IngressPort).String()
	ingressID := m.PKI.WorkloadID(meshlab.SystemNS, "istio-ingressgateway").String()
	l := &workload.Load{Name: "ingress", Rate: 50, Call: func(ctx context.Context, seq string) (workload.Result, error) {
		return workload.PlainCall(ctx, netlab.Dialer{}, addr, seq)
	}}
	// The ingress may still be taking its configuration: wait for 20
	// successes in a row, then measure.
	l.Start()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), neverConverged)
	defer cancel()
	conv, err := l.WaitFor(ctx, start, func(s workload.Stats) bool { return s.TrailingOK() >= 20 })
	if err != nil {
		l.Stop()
		t.Fatal(err)
	}
	steady := time.Now()
	_, _ = l.WaitFor(ctx, steady, func(s workload.Stats) bool { return s.Sent >= 200 })
	l.Stop()
	st := l.Since(steady)
	requireAllOK(t, st, ingressID, "cluster2/only-b-")
	first, _ := conv.FirstOKStreak(20)
	figure(t, "%s; first of 20 successes in a row %s after start", st, first.Sub(start).Round(time.Millisecond))
}

// TestUnauthorizedCallerRejected: a pod of cluster1 whose SVID is valid (same
// trust domain, same CA) but whose service account the echo pods do not
// accept gets its endpoints and crosses cluster2's gateway like any client,
// but only-b's pod refuses the handshake (go-spiffe authorizer): no request
// succeeds, and the pod counts the rejections.
func TestUnauthorizedCallerRejected(t *testing.T) {
	m := mesh(t)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	cl, err := c1.NewClientAs(context.Background(), "intruder", "intruder")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.XDS.Close)
	tgt := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl, tgt, gw(c2))
	pod := podOf(t, c2, "only-b", "v1")
	before := pod.Echo.Rejected()
	st := runLoad(callLoad("intruder", cl, tgt, 50), 50)
	if st.OK != 0 {
		t.Errorf("an unauthorized caller got answers: %s", st)
	}
	waitUntil(t, "only-b counts the rejected handshakes", nil, func() (bool, string) {
		n := pod.Echo.Rejected() - before
		return n >= int64(st.Sent), fmt.Sprintf("%d rejected of %d sent", n, st.Sent)
	})
	figure(t, "%s; errors %v", st, st.Errors)
}
