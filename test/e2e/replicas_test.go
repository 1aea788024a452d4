//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

// Replicas (issue 20, Failover): a two-cluster mesh of its own with two
// daemons per cluster (meshlab Options.Replicas: --leader-elect against the
// cluster's real API server, a 3 s lease in the lab, the cluster's shared
// cacerts), each cluster's east-west gateway given both replicas' xDS
// addresses. A client in cluster1 calls only-b, which runs only in
// cluster2: every call goes through cluster2's east-west gateway (its
// config from cluster2's replicas) to an endpoint cluster1 learned from
// cluster2's published record. The faults hit cluster2's replicas.

const replicaLease = meshlab.DefaultLeaseDuration

// newReplicaMesh builds it; with envoy set the east-west gateways are
// Envoy, bootstrapped with both replicas' addresses.
func newReplicaMesh(t *testing.T, envoy string) *meshlab.Mesh {
	t.Helper()
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "meshgate-e2e-replicas-")
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
	bin, err := meshlab.BuildBinary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	caps, err := meshlab.Probe(bin)
	if err != nil {
		t.Fatal(err)
	}
	if miss := caps.Missing("run", "gateway", "cert", "identity", "gossip", "kubeconfig"); len(miss) > 0 {
		t.Fatal(missingErr(miss))
	}
	start := time.Now()
	m, err := meshlab.New(ctx, slot, meshlab.Options{
		Clusters: 2, Dir: dir, Bin: bin, Caps: caps, Source: meshlab.SourceKube,
		Replicas: 2, LeaseDuration: replicaLease, Envoy: envoy,
		Services:     map[string][]string{"cluster1": {"echo"}, "cluster2": {"echo", "only-b"}},
		ClientRoutes: []meshlab.ClientRoute{{Service: "only-b"}},
		Logf:         t.Logf,
	})
	if m != nil {
		t.Cleanup(func() { _ = m.Close() })
	}
	if err != nil {
		t.Fatalf("building the replicas mesh: %v", err)
	}
	if _, err := m.Cluster("cluster2").AddEchoPod(ctx, "only-b", "v1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("replicas mesh: 2 clusters × 2 daemons (lease %s), ready in %s", replicaLease, time.Since(start).Round(time.Millisecond))
	return m
}

// TestReplicasFailover: under a load of calls (50/s) from cluster1 to
// only-b in cluster2, three faults of cluster2's replicas, one after the
// other, each healed (the replica restarted) before the next:
//
//   - KillLeader: kill -9 of the replica that publishes cluster2, left
//     dead for 60 s (past memberlist's death verdict and the fail-static
//     window). The other takes the lease and publishes; every live replica
//     of both clusters names it, and only it, as cluster2's publisher; the
//     client's endpoints never change (nothing lost or resurrected); no
//     call fails.
//   - KillGatewaysReplica: kill -9 of the replica cluster2's gateway gets
//     its config from (the publisher too, when it is: then as KillLeader).
//     The gateway moves to the other replica and holds the same listener,
//     cluster and endpoint versions (nothing sent again: content versions);
//     its endpoints are the same; no call fails.
//   - DeleteLease: cluster2's Lease deleted (a replica re-creates it, its
//     transition count back at 0), then kill -9 of the leader: the other
//     replica raises the Lease's count above the term and publishes, named
//     by every replica of both clusters under a higher term (before the
//     fix peers refused it); no call fails.
//   - PartitionFromAPIServer: the publishing replica cut off from its API
//     server (iptables in the network namespace): it loses the lease and
//     stops publishing, the other publishes; no call fails.
//
// FIGURE lines: leader failover time, gateway reconnect-to-config time,
// calls lost per fault.
func TestReplicasFailover(t *testing.T) {
	m := newReplicaMesh(t, "")
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	cl := newClient(t, c1, "client-replicas")
	tgt := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl, tgt, gw(c2))
	for _, c := range m.Clusters {
		waitLeader(t, m, c)
	}

	t.Run("KillLeader", func(t *testing.T) {
		old, pub := waitLeader(t, m, c2)
		run := startFailover(t, "replicas-kill-leader", cl, tgt)
		track := trackEndpoints(t, cl, tgt)
		run.fault()
		if err := old.Proc.Kill(); err != nil {
			t.Fatal(err)
		}
		lead, newPub, took := waitNewLeader(t, m, c2, old, pub, run.faultAt)
		figure(t, "leader failover (kill -9 of %s): %s until every live replica names %s (lease %s, transitions %d→%d)",
			old.Name(), took.Round(time.Millisecond), lead.Name(), replicaLease, pub.Transitions, newPub.Transitions)
		watch := watchPublishers(t, m)
		// down for 60 s: past memberlist's death verdict (~28 s in the lab)
		// and the fail-static window (20 s) after it
		st := run.during(3000)
		bad := watch()
		run.heal()
		restartReplica(t, m, old)
		run.recover()
		finishFault(t, run, track, st, bad, c2, "kill -9 of the leader")
		if r, _ := waitLeader(t, m, c2); r != lead {
			t.Errorf("the restarted replica %s took the lease from %s", old.Name(), lead.Name())
		}
	})

	t.Run("KillGatewaysReplica", func(t *testing.T) {
		gm := gatewayMetrics(t, c2)
		from := gm.xdsServer()
		r := replicaAt(t, c2, from)
		before := gm.versions()
		lead, pub := waitLeader(t, m, c2)
		run := startFailover(t, "replicas-kill-gateways-replica", cl, tgt)
		track := trackEndpoints(t, cl, tgt)
		run.fault()
		if err := r.Proc.Kill(); err != nil {
			t.Fatal(err)
		}
		// Reconnected: a stream open to another replica, which has the
		// same versions of everything (content versions), so it resumes
		// what the gateway holds and sends nothing.
		var after metricsText
		took := waitUntil(t, "the gateway connected to another replica with its config", nil, func() (bool, string) {
			after = gatewayMetrics(t, c2)
			ok := after.xdsServer() != from && after.get("meshgate_gateway_xds_connected") == 1 &&
				after.get("meshgate_gateway_xds_streams_total") > gm.get("meshgate_gateway_xds_streams_total")
			return ok, fmt.Sprintf("server %s, connected %v", after.xdsServer(), after.get("meshgate_gateway_xds_connected"))
		})
		figure(t, "gateway reconnect-to-config (kill -9 of %s, its xDS server): %s on %s", r.Name(), took.Round(time.Millisecond), after.xdsServer())
		for _, typ := range []string{"lds", "cds", "eds"} {
			if before[typ] == "" || after.versions()[typ] != before[typ] {
				t.Errorf("%s version before %q, after the move %q: want the same", typ, before[typ], after.versions()[typ])
			}
			k := fmt.Sprintf("meshgate_gateway_xds_config_applied_total{type=%q}", typ)
			if after.get(k) != gm.get(k) {
				t.Errorf("%s applied %v times before the move, %v after: the other replica sent the same version again", typ, gm.get(k), after.get(k))
			}
		}
		if after.get("meshgate_gateway_xds_failovers_total") < 1 {
			t.Error("the gateway counted no move to the next xDS address")
		}
		if r == lead {
			// the gateway's replica published: the other takes over
			next, newPub, took := waitNewLeader(t, m, c2, r, pub, run.faultAt)
			figure(t, "leader failover (kill -9 of %s, also the gateway's): %s until every live replica names %s (lease %s, transitions %d→%d)",
				r.Name(), took.Round(time.Millisecond), next.Name(), replicaLease, pub.Transitions, newPub.Transitions)
		}
		watch := watchPublishers(t, m)
		st := run.during(150)
		bad := watch()
		run.heal()
		restartReplica(t, m, r)
		run.recover()
		finishFault(t, run, track, st, bad, c2, "kill -9 of the gateway's replica")
	})

	t.Run("DeleteLease", func(t *testing.T) {
		old, pub := waitLeader(t, m, c2)
		run := startFailover(t, "replicas-delete-lease", cl, tgt)
		track := trackEndpoints(t, cl, tgt)
		run.fault()
		// Re-created by the leader's renewal (it goes on under its term)
		// or by the other replica (it raises the count above the term).
		holder := deleteLease(t, c2)
		var lead *meshlab.Replica
		var cur meshlab.Publisher
		waitUntil(t, "every live replica names the re-created Lease's holder "+holder, nil, func() (bool, string) {
			r, p, err := m.Leader(context.Background(), c2)
			if err != nil {
				return false, err.Error()
			}
			lead, cur = r, p
			return p.Holder == holder, fmt.Sprintf("%s (%s) under %d", r.Name(), p.Holder, p.Transitions)
		})
		if cur.Transitions < pub.Transitions {
			t.Fatalf("after the Lease was re-created %s publishes under transition %d, below %d", lead.Name(), cur.Transitions, pub.Transitions)
		}
		if lead == old {
			t.Logf("the Lease re-created by the leader %s: it goes on under transition %d (the Lease's count restarted)", old.Name(), cur.Transitions)
		} else {
			t.Logf("the Lease re-created by %s: it raised the count above %s's %d and publishes under %d", lead.Name(), old.Name(), pub.Transitions, cur.Transitions)
		}
		// Kill -9 of the leader: the other replica takes the re-created
		// Lease at a count at or below the term, and must raise it.
		killedAt := time.Now()
		if err := lead.Proc.Kill(); err != nil {
			t.Fatal(err)
		}
		next, newPub, took := waitNewLeader(t, m, c2, lead, cur, killedAt)
		figure(t, "leader failover after the Lease was re-created (kill -9 of %s): %s until every live replica names %s (lease %s, transitions %d→%d)",
			lead.Name(), took.Round(time.Millisecond), next.Name(), replicaLease, cur.Transitions, newPub.Transitions)
		if got := leaseOf(t, c2); got.Spec.LeaseTransitions == nil || uint64(*got.Spec.LeaseTransitions) != newPub.Transitions {
			t.Errorf("the Lease's count is %v, the term every replica names %d: want the Lease the source of the term", got.Spec.LeaseTransitions, newPub.Transitions)
		}
		watch := watchPublishers(t, m)
		st := run.during(150)
		bad := watch()
		run.heal()
		restartReplica(t, m, lead)
		run.recover()
		finishFault(t, run, track, st, bad, c2, "deletion of the Lease, then kill -9 of the leader")
	})

	t.Run("PartitionFromAPIServer", func(t *testing.T) {
		old, pub := waitLeader(t, m, c2)
		run := startFailover(t, "replicas-partition-apiserver", cl, tgt)
		track := trackEndpoints(t, cl, tgt)
		run.fault()
		f, err := m.PartitionFromAPIServer(old)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Heal() })
		lost := waitUntil(t, old.Name()+" stops publishing", nil, func() (bool, string) {
			pubs, err := old.Publishers(context.Background())
			if err != nil {
				return false, err.Error()
			}
			for _, p := range pubs[c2.ID] {
				if p.Local {
					return false, fmt.Sprintf("%+v", p)
				}
			}
			return true, ""
		})
		lead, newPub, took := waitNewLeader(t, m, c2, old, pub, run.faultAt)
		figure(t, "partition of %s from its API server: it stopped publishing after %s; %s publishes, named by every live replica after %s (lease %s, transitions %d→%d)",
			old.Name(), lost.Round(time.Millisecond), lead.Name(), took.Round(time.Millisecond), replicaLease, pub.Transitions, newPub.Transitions)
		watch := watchPublishers(t, m)
		st := run.during(500)
		bad := watch()
		run.heal()
		if err := f.Heal(); err != nil {
			t.Fatal(err)
		}
		run.recover()
		finishFault(t, run, track, st, bad, c2, "partition of the leader from its API server")
		if r, _ := waitLeader(t, m, c2); r != lead {
			t.Errorf("after the heal %s leads again, want %s to keep the lease", r.Name(), lead.Name())
		}
	})
}

// leaseOf reads c's leader-elect Lease (meshgate-leader, in the daemon's
// namespace).
func leaseOf(t *testing.T, c *meshlab.Cluster) *coordinationv1.Lease {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	all, err := cs.CoordinationV1().Leases("").List(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name=meshgate-leader"})
	if err != nil || len(all.Items) != 1 {
		t.Fatalf("the leader-elect Lease of %s: %v (%d found)", c.ID, err, len(all.Items))
	}
	return &all.Items[0]
}

// deleteLease deletes c's leader-elect Lease, as an operator would, and
// waits until a replica has re-created it (its transition count restarts
// at 0); it returns the holder of the re-created Lease.
func deleteLease(t *testing.T, c *meshlab.Cluster) string {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(c.Kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	old := leaseOf(t, c)
	leases := cs.CoordinationV1().Leases(old.Namespace)
	if err := leases.Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var holder string
	waitUntil(t, "a replica re-creates the Lease", nil, func() (bool, string) {
		l, err := leases.Get(ctx, old.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if l.UID == old.UID || l.Spec.HolderIdentity == nil {
			return false, "not yet"
		}
		holder = *l.Spec.HolderIdentity
		return true, ""
	})
	return holder
}

// finishFault checks a fault's load and endpoints: no call failed from the
// fault to now, the client's endpoints never changed (none lost, none
// resurrected), one publisher per cluster at every look of
// watchPublishers (bad); prints the calls lost.
func finishFault(t *testing.T, run *chaosRun, track *edsTrack, during workload.Stats, bad []string, c2 *meshlab.Cluster, what string) {
	t.Helper()
	all := run.waitLoad(run.faultAt, "every request since the fault", func(workload.Stats) bool { return true })
	figure(t, "calls lost during %s: %d of %d (%s); over the fault window: %s", what, all.Failed, all.Sent, all, during)
	if all.Failed > 0 {
		t.Errorf("%d calls failed since the fault (a healthy path existed throughout): %v", all.Failed, all.Errors)
	}
	if n := track.changes(gw(c2).String(), run.faultAt, time.Now()); n > 0 {
		t.Errorf("cluster2's gateway left or entered the client's endpoints %d times during the fault", n)
	}
	if eps := run.endpoints(); !slices.Equal(eps, run.baseline) {
		t.Errorf("endpoints after the fault %v, before %v", eps, run.baseline)
	}
	if len(bad) > 0 {
		t.Errorf("not exactly one publisher per cluster at every look after the new leader was named (%d looks): %s", len(bad), strings.Join(bad, "; "))
	}
}

// waitLeader waits until every live replica names the same single
// publisher of c and returns it.
func waitLeader(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster) (*meshlab.Replica, meshlab.Publisher) {
	t.Helper()
	var r *meshlab.Replica
	var p meshlab.Publisher
	waitUntil(t, "one publisher of "+c.ID, nil, func() (bool, string) {
		var err error
		r, p, err = m.Leader(context.Background(), c)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return r, p
}

// waitNewLeader polls (every 50 ms) until every live replica names a
// replica of c other than old, under a later lease than pub, and returns
// it with the time since from.
func waitNewLeader(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster, old *meshlab.Replica, pub meshlab.Publisher, from time.Time) (*meshlab.Replica, meshlab.Publisher, time.Duration) {
	t.Helper()
	deadline := time.Now().Add(neverConverged)
	var last error
	for time.Now().Before(deadline) {
		r, p, err := m.Leader(context.Background(), c)
		switch {
		case err != nil:
			last = err
		case r == old || p.Transitions <= pub.Transitions:
			last = fmt.Errorf("still %s under transition %d", r.Name(), p.Transitions)
		default:
			return r, p, time.Since(from)
		}
		time.Sleep(50 * time.Millisecond) // polls the replicas' /debug/clusters: no event to wait on across processes
	}
	t.Fatalf("no new publisher of %s: %v", c.ID, last)
	return nil, meshlab.Publisher{}, 0
}

// watchPublishers looks at every live replica's publishers every 250 ms
// until the returned function is called, which returns what was wrong
// (not exactly one publisher of a cluster, or replicas naming different
// ones).
func watchPublishers(t *testing.T, m *meshlab.Mesh) func() []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var bad []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, c := range m.Clusters {
				_, _, err := m.Leader(ctx, c)
				if err == nil || ctx.Err() != nil {
					continue
				}
				for _, line := range strings.Split(err.Error(), "\n") {
					if strings.Contains(line, "/debug/clusters:") {
						continue // a replica that does not answer (killed, starting)
					}
					mu.Lock()
					bad = append(bad, time.Now().Format("15:04:05.000")+" "+line)
					mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	stop := func() []string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return bad
	}
	t.Cleanup(func() { stop() })
	return stop
}

// restartReplica starts a killed replica again and waits until it is ready.
func restartReplica(t *testing.T, m *meshlab.Mesh, r *meshlab.Replica) {
	t.Helper()
	if err := r.Proc.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReplica(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// replicaAt is c's replica serving xDS at addr.
func replicaAt(t *testing.T, c *meshlab.Cluster, addr string) *meshlab.Replica {
	t.Helper()
	for _, r := range c.Replicas {
		if r.XDSAddr() == addr {
			return r
		}
	}
	t.Fatalf("%s has no replica at %q (the gateway's xDS server)", c.ID, addr)
	return nil
}

// metricsText is a scrape: value by "name{labels}" as printed.
type metricsText map[string]float64

func (m metricsText) get(key string) float64 { return m[key] }

// xdsServer is the address meshgate_gateway_xds_server marks in use.
func (m metricsText) xdsServer() string {
	for k, v := range m {
		if v == 1 && strings.HasPrefix(k, `meshgate_gateway_xds_server{address="`) {
			return strings.TrimSuffix(strings.TrimPrefix(k, `meshgate_gateway_xds_server{address="`), `"}`)
		}
	}
	return ""
}

// versions are the applied version_info per type (lds, cds, eds, sds).
func (m metricsText) versions() map[string]string {
	out := map[string]string{}
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, `meshgate_gateway_xds_config_version_info{type="`)
		if !ok || v != 1 {
			continue
		}
		typ, ver, _ := strings.Cut(rest, `",version="`)
		out[typ] = strings.TrimSuffix(ver, `"}`)
	}
	return out
}

// gatewayMetrics scrapes c's east-west gateway.
func gatewayMetrics(t *testing.T, c *meshlab.Cluster) metricsText {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(c.GatewayAdminURL(meshlab.EastWestAdmin) + "/metrics")
	if err != nil {
		t.Fatalf("%s gateway /metrics: %v", c.ID, err)
	}
	defer resp.Body.Close()
	out := metricsText{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestReplicasEnvoyGatewayMoves: the replicas world with Envoy east-west
// gateways (`meshgate bootstrap --xds-address A,B`: both replicas are
// endpoints of xds-grpc). Under a load from cluster1 to only-b through
// cluster2's Envoy, kill -9 of the replica that Envoy's ADS stream is
// connected to: Envoy reconnects to the other replica, holds the same
// listener and cluster versions, which are not sent again (its CDS and LDS
// update counts do not move), and no call fails.
func TestReplicasEnvoyGatewayMoves(t *testing.T) {
	m := newReplicaMesh(t, envoytest.Path(t))
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	cl := newClient(t, c1, "client-replicas-envoy")
	tgt := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl, tgt, gw(c2))
	g := c2.EnvoyEastWest
	var from *meshlab.Replica
	waitUntil(t, "Envoy's ADS stream on one replica", nil, func() (bool, string) {
		from = envoyXDSReplica(t, c2, g)
		return from != nil, "no xds-grpc connection"
	})
	before, err := g.Admin().ConfigDump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cds, lds := envoyStat(t, g, "cluster_manager.cds.update_success"), envoyStat(t, g, "listener_manager.lds.update_success")
	run := startFailover(t, "replicas-envoy-kill-xds-replica", cl, tgt)
	track := trackEndpoints(t, cl, tgt)
	run.fault()
	if err := from.Proc.Kill(); err != nil {
		t.Fatal(err)
	}
	var to *meshlab.Replica
	took := waitUntil(t, "Envoy connected to the other replica", nil, func() (bool, string) {
		to = envoyXDSReplica(t, c2, g)
		n, err := readEnvoyStat(g, "control_plane.connected_state")
		return to != nil && to != from && err == nil && n == 1, fmt.Sprintf("replica %v, connected %d %v", to, n, err)
	})
	figure(t, "Envoy reconnect (kill -9 of %s, its xDS server): %s until its ADS stream is up on %s", from.Name(), took.Round(time.Millisecond), to.Name())
	st := run.during(150)
	after, err := g.Admin().ConfigDump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(after.Listeners, before.Listeners) || !maps.Equal(after.Clusters, before.Clusters) {
		t.Errorf("Envoy's listeners or clusters changed across the move:\nbefore %v %v\nafter  %v %v", before.Listeners, before.Clusters, after.Listeners, after.Clusters)
	}
	if c, l := envoyStat(t, g, "cluster_manager.cds.update_success"), envoyStat(t, g, "listener_manager.lds.update_success"); c != cds || l != lds {
		t.Errorf("Envoy's CDS updates %d→%d, LDS updates %d→%d across the move: the other replica sent the versions Envoy holds again", cds, c, lds, l)
	}
	run.heal()
	restartReplica(t, m, from)
	run.recover()
	finishFault(t, run, track, st, nil, c2, "kill -9 of Envoy's replica")
}

// envoyXDSReplica is the replica of c that Envoy g's xds-grpc cluster has
// an active connection to (its /clusters), or nil.
func envoyXDSReplica(t *testing.T, c *meshlab.Cluster, g *meshlab.EnvoyGateway) *meshlab.Replica {
	t.Helper()
	b, err := g.Admin().Admin(context.Background(), "/clusters")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, bootstrap.XDSCluster+"::")
		if !ok {
			continue
		}
		addr, stat, _ := strings.Cut(rest, "::")
		if stat == "cx_active::1" {
			for _, r := range c.Replicas {
				if r.XDSAddr() == addr {
					return r
				}
			}
		}
	}
	return nil
}
