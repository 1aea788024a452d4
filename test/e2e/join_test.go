//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

var (
	tgtOnlyA = workload.Target{Host: meshlab.Host("only-a"), Port: meshlab.EchoPort}
	tgtLateB = workload.Target{Host: meshlab.Host("late-b"), Port: meshlab.EchoPort}
)

// joinMesh builds a second, two-cluster mesh whose daemons start with no
// gossip seeds and no remote secrets (meshlab.Options.JoinByRemoteSecret):
// cluster1 runs only-a, cluster2 runs only-b; late-b is added by the test.
func joinMesh(t *testing.T, base *meshlab.Mesh) *meshlab.Mesh {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(binDir, "join")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, err := meshlab.New(ctx, slot, meshlab.Options{
		Clusters: 2, Dir: dir, Bin: base.Bin, Caps: base.Opts.Caps, Source: meshlab.SourceKube,
		JoinByRemoteSecret: true,
		// cluster1 admits cluster2 through the remote secret it joins (its
		// trust bundle); cluster2, which joins nothing, admits cluster1 by id.
		Admit:        map[string][]string{"cluster1": nil, "cluster2": {"cluster1"}},
		Services:     map[string][]string{"cluster1": {"only-a"}, "cluster2": {"only-b", "late-b"}},
		ClientRoutes: []meshlab.ClientRoute{{Service: "only-a"}, {Service: "only-b"}, {Service: "late-b"}},
		Logf:         t.Logf,
	})
	if m != nil {
		t.Cleanup(func() { _ = m.Close() })
	}
	if err != nil {
		t.Fatalf("building the join mesh: %v", err)
	}
	for _, p := range []struct{ cluster, svc string }{{"cluster1", "only-a"}, {"cluster2", "only-b"}} {
		if _, err := m.Cluster(p.cluster).AddEchoPod(ctx, p.svc, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("join mesh: 2 clusters, no seeds, ready in %s", time.Since(start).Round(time.Millisecond))
	return m
}

// waitRemote waits until cluster c's daemon reports remote cluster id in a
// state cond accepts, and returns that status.
func waitRemote(t *testing.T, c *meshlab.Cluster, id, what string, cond func(remote.ClusterStatus) bool) remote.ClusterStatus {
	t.Helper()
	var last remote.ClusterStatus
	waitUntil(t, fmt.Sprintf("%s's daemon: remote %s %s", c.ID, id, what), nil, func() (bool, string) {
		st, ok, err := c.RemoteCluster(context.Background(), id)
		if err != nil {
			return false, err.Error()
		}
		if !ok {
			return false, "not watched"
		}
		last = st
		return cond(st), fmt.Sprintf("%+v", st)
	})
	return last
}

// TestJoinWithRemoteSecrets joins two clusters the way a user does, with
// one join for two clusters: `meshgate create-remote-secret` in cluster2,
// `meshgate join` of its output in cluster1. Neither daemon was given a
// gossip seed. cluster1's daemon watches cluster2's API server with the
// secret and finds cluster2's daemon through its meshgate-gossip Service;
// cluster2's daemon learns cluster1 through gossip, with the remote secret
// cluster1's daemon publishes for itself. Calls then go both ways through
// the east-west gateways.
//
// Then the remote secret's token is rotated under load: the reader
// ServiceAccount in cluster2 is deleted, which revokes the token cluster1
// uses (cluster1's daemon sees 401s and keeps its last good state), and a
// new `create-remote-secret` + `join` replaces it. No request fails, and a
// service created in cluster2 afterwards reaches cluster1 through the new
// token.
func TestJoinWithRemoteSecrets(t *testing.T) {
	base := mesh(t)
	if base.Opts.Source != meshlab.SourceKube {
		pending(t, "kubeconfig")
	}
	if miss := base.Opts.Caps.Missing("create-remote-secret", "join"); len(miss) > 0 {
		pending(t, miss...)
	}
	m := joinMesh(t, base)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	ctx := context.Background()
	cl1, cl2 := newClient(t, c1, "client-join-1"), newClient(t, c2, "client-join-2")
	onlyA, onlyB := target(m, tgtOnlyA, "only-a"), target(m, tgtOnlyB, "only-b")

	// Before the join, each daemon knows its own cluster only.
	for _, c := range m.Clusters {
		d, err := c.RemoteClusters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Remote) != 0 {
			t.Fatalf("%s's daemon watches remote clusters before any join: %+v", c.ID, d.Remote)
		}
	}
	if eps, _ := cl1.Endpoints(onlyB); len(eps) != 0 {
		t.Fatalf("cluster1 has endpoints of only-b before the join: %v", eps)
	}

	start := time.Now()
	secret, err := c2.CreateRemoteSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c1.Join(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("meshgate join: %s", strings.TrimSpace(out))
	joined := time.Since(start)
	toB := waitEndpoints(t, cl1, onlyB, gw(c2))
	toA := waitEndpoints(t, cl2, onlyA, gw(c1))
	fromSecret := waitRemote(t, c1, "cluster2", "synced from the joined secret", func(st remote.ClusterStatus) bool {
		return st.Source == remote.SourceKubernetes && st.State == kube.StateSynced
	})
	fromGossip := waitRemote(t, c2, "cluster1", "synced from cluster1's gossiped secret", func(st remote.ClusterStatus) bool {
		return st.Source == remote.SourceFederation && st.State == kube.StateSynced
	})
	if fromSecret.Server != c2.Kube.URL() || fromGossip.Server != c1.Kube.URL() {
		t.Errorf("servers: cluster1 watches cluster2 at %s (want %s), cluster2 watches cluster1 at %s (want %s)",
			fromSecret.Server, c2.Kube.URL(), fromGossip.Server, c1.Kube.URL())
	}
	// cluster2 opened cluster1's remote secret, sealed for it; a holder of
	// the gossip key that joins as a member reads none (issue 13).
	keys, err := federation.LoadKeyringFile(c1.GossipKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	envelopes := readSecretsAsMember(t, m, keys[0], c1, []string{"cluster1", "cluster2"})
	figure(t, "a joined gossip-key holder held both clusters' records with %d sealed remote secrets (none for it), read none", envelopes)
	// The joined secret carried cluster2's trust bundle: cluster1 pinned it
	// as the operator's, before any gossiped record of cluster2.
	c1only := []*meshlab.Cluster{c1}
	if n := sumMetric(t, c1only, "meshgate_federation_trust_pins_total", `cluster="cluster2",how="operator"`); n < 1 {
		t.Errorf("cluster1 did not pin cluster2's trust bundle from the joined remote secret")
	}
	if n := sumMetric(t, c1only, "meshgate_federation_trust_pins_total", `cluster="cluster2",how="first_contact"`); n != 0 {
		t.Errorf("cluster1 pinned cluster2 at first contact %v times despite the joined remote secret's bundle", n)
	}
	figure(t, "create-remote-secret + join took %s; cluster1's client had cluster2's only-b %s after the join began, cluster2's client cluster1's only-a %s after that",
		joined.Round(time.Millisecond), (joined + toB).Round(time.Millisecond), toA.Round(time.Millisecond))

	for _, dir := range []struct {
		name string
		cl   *workload.Client
		tgt  workload.Target
		want string
	}{{"join-1-to-2", cl1, onlyB, "cluster2/only-b-"}, {"join-2-to-1", cl2, onlyA, "cluster1/only-a-"}} {
		st := runLoad(callLoad(dir.name, dir.cl, dir.tgt, 50), 100)
		requireAllOK(t, st, dir.cl.ID.ID().String(), dir.want)
		figure(t, "%s", st)
	}

	// Token rotation under load.
	r := startChaos(t, "token-rotation", cl1, onlyB)
	admin2, err := kubernetes.NewForConfig(c2.Kube.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	r.fault()
	if err := admin2.CoreV1().ServiceAccounts(meshlab.SystemNS).Delete(ctx, remote.ReaderServiceAccount, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	oldReader := readerClient(t, secret)
	revokeTook := waitUntil(t, "cluster2 refuses the old token", nil, func() (bool, string) {
		_, err := oldReader.CoreV1().Services("").List(ctx, metav1.ListOptions{Limit: 1})
		return apierrors.IsUnauthorized(err), fmt.Sprint(err)
	})
	// cluster1's daemon keeps its last good state: its open watches may go
	// on streaming, and any new request is refused.
	during := r.during(250) // 5 s with the token revoked
	if during.Failed != 0 {
		t.Errorf("requests failed while cluster2's token was revoked: %s %v", during, during.Errors)
	}
	r.heal()
	rotateStart := time.Now()
	secret2, err := c2.CreateRemoteSecret(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Join(ctx, secret2); err != nil {
		t.Fatal(err)
	}
	rotated := waitRemote(t, c1, "cluster2", "synced with the new token", func(st remote.ClusterStatus) bool {
		return st.State == kube.StateSynced && st.Reloads >= 1 && st.Pending == nil
	})
	reload := time.Since(rotateStart)
	conv, _ := r.recover()
	if rotated.Source != remote.SourceKubernetes {
		t.Errorf("cluster1 watches cluster2 from a %s secret after the rotation, want the joined one", rotated.Source)
	}

	// Only the new token can bring this: the old one is refused.
	lateStart := time.Now()
	if _, err := c2.AddEchoPod(ctx, "late-b", "v1"); err != nil {
		t.Fatal(err)
	}
	lateB := target(m, tgtLateB, "late-b")
	late := waitEndpoints(t, cl1, lateB, gw(c2))
	st := runLoad(callLoad("late-b", cl1, lateB, 50), 50)
	requireAllOK(t, st, cl1.ID.ID().String(), "cluster2/late-b-")
	figure(t, "token rotation: old token refused %s after its ServiceAccount was deleted; meanwhile %s; create-remote-secret + join → synced on the new token in %s (reloads %d), load converged %s after; a pod written in cluster2 then reached cluster1's client in %s (%s after the write began)",
		revokeTook.Round(time.Millisecond), during, reload.Round(time.Millisecond), rotated.Reloads, conv.Round(time.Millisecond),
		late.Round(time.Millisecond), time.Since(lateStart).Round(time.Millisecond))
}

// readerClient is a client with the credentials of a remote secret.
func readerClient(t *testing.T, secret []byte) kubernetes.Interface {
	t.Helper()
	s, err := remote.ReadRemoteSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	c, err := remote.ValidateRemoteSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}
