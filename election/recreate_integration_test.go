//go:build integration

package election_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/election"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/test/metrictest"
)

// recreateLease deletes the Lease meshgate/meshgate-a and creates it again
// held by holder, as client-go's election creates a missing Lease (its
// transition count restarts at 0): the replica holder won the race to
// re-create it. A replica that re-created it first is deleted again.
func recreateLease(t *testing.T, cs kubernetes.Interface, holder string) {
	t.Helper()
	ctx := context.Background()
	leases := cs.CoordinationV1().Leases("meshgate")
	for {
		if err := leases.Delete(ctx, "meshgate-a", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		now := metav1.NewMicroTime(time.Now())
		_, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "meshgate", Name: "meshgate-a"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: new(holder), LeaseDurationSeconds: new(int32(leaseDuration / time.Second)),
				AcquireTime: &now, RenewTime: &now, LeaseTransitions: new(int32(0))}}, metav1.CreateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// TestLeaseRecreated: two replicas of cluster a elect a publisher through a
// Lease on a real kube-apiserver, and peer p (another cluster, over real
// sockets) holds a from the leader. The Lease is deleted and re-created
// twice while both replicas run, and p is never restarted:
//
//  1. the other replica re-creates it (transition count 0): it raises the
//     count above the leader's term it knows from gossip, p accepts its
//     records under that term, the old leader is deposed, and a deposed
//     leader's records that were not yet sent (a copy of it cut off until
//     now, still publishing under the old term) are fenced at p;
//  2. the leader re-creates it (its renewal won the race) and goes on under
//     its term; killed, it is replaced by the other replica, which takes
//     the Lease at count 1, raises it above the killed leader's term, and
//     p accepts it.
//
// In both the Lease's count is the term p names.
func TestLeaseRecreated(t *testing.T) {
	kc, cs, e := newElectionEnv(t, "recreate")
	reg := prometheus.NewRegistry()
	p, _ := e.node("p", false, func(_ *federation.Config, o *federation.Options) { o.Registerer = reg })
	reps := []*replica{startReplica(t, e, kc, "a-pod-1"), startReplica(t, e, kc, "a-pod-2")}
	leader, other := waitOneLeader(t, p, reps)
	first, _ := leaderSeenBy(p)
	term := *first.Lease
	eventually(t, 10*time.Second, other.id+" knows the leader's term from gossip", func() bool {
		k, ok := other.node.OwnTerm()
		return ok && k == term
	})
	t.Logf("%s leads under %+v", leader.id, term)

	// 1. The other replica re-creates the Lease.
	start := time.Now()
	recreateLease(t, cs, other.id)
	want := federation.Lease{Holder: other.id, Transitions: term.Transitions + 1}
	eventually(t, 20*time.Second, "p names "+other.id+" the leader under the raised term", func() bool {
		m, ok := leaderSeenBy(p)
		return ok && m.Name == other.node.Name() && *m.Lease == want
	})
	took := time.Since(start)
	checkLease(t, cs, want)
	eventually(t, 20*time.Second, leader.id+" is deposed", func() bool { return !leader.node.Leading() && leader.el.Leading() == nil })
	if err := leader.node.SetLeading(&term); err == nil {
		t.Fatalf("%s publishes again under the old lease %+v", leader.id, term)
	}

	// A copy of the deposed leader cut off until now (it has not heard of
	// the new term): it publishes under the old one, then reaches p.
	stale, stopStale := e.node("a", true, func(c *federation.Config, _ *federation.Options) { c.Seeds = nil })
	if err := stale.SetLeading(&term); err != nil {
		t.Fatal(err)
	}
	fenced := func() float64 {
		return metrictest.Sum(t, reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": "fenced"})
	}
	before := fenced()
	if _, err := stale.Join([]string{p.Addr()}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "p fences the stale leader's record", func() bool { return fenced() > before })
	eventually(t, 20*time.Second, "the stale leader hears of the new term and stops", func() bool { return !stale.Leading() })
	if m, ok := leaderSeenBy(p); !ok || m.Name != other.node.Name() || *m.Lease != want {
		t.Fatalf("after the stale leader's record p names %+v", m)
	}
	stopStale()

	// 2. The leader (now other) re-creates the Lease: it goes on under its
	// term, which the Lease's count (0) is behind.
	term = want
	recreateLease(t, cs, other.id)
	if !other.node.Leading() || *other.el.Leading() != (election.Lease{Holder: term.Holder, Transitions: term.Transitions}) {
		t.Fatalf("%s after re-creating the Lease: leading %v under %+v", other.id, other.node.Leading(), other.el.Leading())
	}
	start = time.Now()
	other.kill()
	want = federation.Lease{Holder: leader.id, Transitions: term.Transitions + 1}
	eventually(t, 20*time.Second, "p names "+leader.id+" the leader under the raised term", func() bool {
		m, ok := leaderSeenBy(p)
		return ok && m.Name == leader.node.Name() && *m.Lease == want
	})
	failover := time.Since(start)
	checkLease(t, cs, want)
	if !slices.ContainsFunc(p.RemoteStates(), func(s *model.ClusterState) bool { return s.ID == "a" && len(s.Services) == 1 }) {
		t.Fatal("p does not hold cluster a's service")
	}
	fmt.Printf("FIGURE lease re-created (lease %v, retry %v): the other replica's record under the raised term at a peer %v after the re-creation; after the leader re-created it and was killed, the next leader's at a peer %v after the kill\n",
		leaseDuration, retryPeriod, took.Round(time.Millisecond), failover.Round(time.Millisecond))
}

// checkLease fails unless the Lease meshgate/meshgate-a is want (its holder
// and its count: the term peers hold).
func checkLease(t *testing.T, cs kubernetes.Interface, want federation.Lease) {
	t.Helper()
	got, err := election.Holder(context.Background(), cs, "meshgate", "meshgate-a")
	if err != nil || got.Holder != want.Holder || got.Transitions != want.Transitions {
		t.Fatalf("the Lease is %+v (%v), want %+v", got, err, want)
	}
}
