//go:build integration

package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/logtest"
)

// Two replicas of one cluster (--leader-elect, one Lease on a real API
// server) both compute the Gateway API status, but only the leader writes
// it: after a change of the Gateway that both replicas have seen, the
// leader's writer has written and the follower's has not
// (meshgate_gatewayapi_status_writes_total, each replica's own registry).
// The same for the MCS writer (--multicluster-services with
// --clusterset-ip-cidr): the leader writes the ServiceImport of an
// exported Service, with its ClusterSetIP, the follower nothing
// (meshgate_mcs_writes_total). When the leader stops, the follower takes
// the Lease and writes the next change's status, and deletes the
// ServiceImport of an export that was deleted.
func TestReplicasOnlyLeaderWritesStatus(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "replicas-status"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := kubetest.InstallGatewayAPICRDs(ctx, c.RESTConfig(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	crds, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "mcs", "00-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubetest.InstallCRDs(ctx, c.RESTConfig(), crds, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := mustApplier(t, c).ApplyYAML(ctx, []byte(gatewayAPIStatusYAML+
		"---\napiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: gw-svc, namespace: istio-system}\n")); err != nil {
		t.Fatal(err)
	}
	const vipCIDR = "10.96.200.0/24"
	key, err := federation.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile, caDir := filepath.Join(dir, "gossip.key"), filepath.Join(dir, "ca")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type replica struct {
		name string
		d    *Daemon
		stop func()
	}
	start := func(name string) *replica {
		cfg := testConfig(t)
		cfg.ConfigDir, cfg.Kubeconfig, cfg.ClusterID, cfg.IdentityCADir = "", c.KubeconfigPath(), "cluster1", caDir
		cfg.MulticlusterServices, cfg.ClusterSetIPCIDR = true, vipCIDR
		cfg.GossipConfig = GossipConfig{BindAddress: "127.0.0.1:0", KeyringFile: keyFile, MeshID: "mesh1",
			FailStaticWindow: Duration(time.Second), AdmitClusters: others("cluster1", "cluster1", "cluster2"),
			LeaderElect: true, LeaseName: "meshgate-leader", LeaseDuration: Duration(3 * time.Second)}
		logs := &logtest.Buffer{}
		d, err := New(cfg, NewLogger(cfg, logs), nil)
		if err != nil {
			t.Fatalf("replica %s: %v", name, err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("replica %s's log:\n%s", name, logs.String())
			}
		})
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(dctx) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				dcancel()
				if err := <-done; err != nil {
					t.Errorf("replica %s: %v", name, err)
				}
			})
		}
		t.Cleanup(stop)
		<-d.fedStarted
		return &replica{name: name, d: d, stop: stop}
	}
	a := start("a") // first: it creates the CA both use
	b := start("b")
	leader := func() (lead, follow *replica) {
		t.Helper()
		for {
			la, ca := a.d.lead.state()
			lb, cb := b.d.lead.state()
			switch {
			case la && !lb:
				return a, b
			case lb && !la:
				return b, a
			}
			select {
			case <-ca:
			case <-cb:
			case <-ctx.Done():
				t.Fatalf("never exactly one leader (a %v, b %v)", la, lb)
			}
		}
	}
	gc := gwclient.NewForConfigOrDie(c.RESTConfig())
	// The status comes from the replicas' writers and their computed
	// state, which give the test no event to wait on: ask again at a short
	// interval, bounded by ctx.
	poll := func(what string, ok func() string) {
		t.Helper()
		for {
			msg := ok()
			if msg == "" {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s: never; last: %s", what, msg)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// written waits until the Gateway's status is Programmed for generation
	// gen with n listeners, and until every replica in rs computed the
	// status of that generation (so a follower had it to write, too).
	written := func(gen int64, n int, rs ...*replica) {
		t.Helper()
		poll(fmt.Sprintf("status of generation %d", gen), func() string {
			gw, err := gc.GatewayV1().Gateways("istio-system").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			p := meta.FindStatusCondition(gw.Status.Conditions, "Programmed")
			if gw.Generation != gen || p == nil || p.Status != metav1.ConditionTrue || p.ObservedGeneration != gen || len(gw.Status.Listeners) != n {
				return fmt.Sprintf("generation %d, Programmed %+v, %d listeners", gw.Generation, p, len(gw.Status.Listeners))
			}
			for _, r := range rs {
				if g := computedGeneration(r.d, "istio-system", "web"); g != gen {
					return fmt.Sprintf("replica %s computed the status of generation %d", r.name, g)
				}
			}
			return ""
		})
	}
	patch := func(listeners string) {
		t.Helper()
		body := `{"spec":{"listeners":[` + listeners + `]}}`
		if _, err := gc.GatewayV1().Gateways("istio-system").Patch(ctx, "web", types.MergePatchType, []byte(body), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const http80 = `{"name":"http","port":80,"protocol":"HTTP"}`

	lead, follow := leader()
	t.Logf("leader %s, follower %s", lead.name, follow.name)
	written(1, 1, lead, follow)
	// a change both replicas see: a second listener on the same port
	patch(http80 + `,{"name":"other","port":80,"protocol":"HTTP","hostname":"other.example.com"}`)
	written(2, 2, lead, follow)
	vip := model.AllocateClusterSetIPs([]model.ClusterSetService{{Name: "gw-svc", Namespace: "istio-system",
		Hostname: model.ClusterSetHostname("gw-svc", "istio-system"), Type: model.ImportClusterSetIP}}, netip.MustParsePrefix(vipCIDR))["istio-system/gw-svc"]
	mc := mcsclient.NewForConfigOrDie(c.RESTConfig())
	poll("the ServiceImport with its ClusterSetIP", func() string {
		si, err := mc.MulticlusterV1alpha1().ServiceImports("istio-system").Get(ctx, "gw-svc", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if r := meta.FindStatusCondition(si.Status.Conditions, "Ready"); len(si.Spec.IPs) != 1 || si.Spec.IPs[0] != vip.String() || r == nil || r.Status != metav1.ConditionTrue {
			return fmt.Sprintf("ips %v (want %s), Ready %+v", si.Spec.IPs, vip, r)
		}
		return ""
	})
	if w := writesOf(t, follow.d, "meshgate_gatewayapi_status_writes_total"); w != 0 {
		t.Errorf("follower %s wrote status %v times", follow.name, w)
	}
	if w := writesOf(t, follow.d, "meshgate_mcs_writes_total"); w != 0 {
		t.Errorf("follower %s made %v MCS writes", follow.name, w)
	}
	// (the leader's last writes may be seen before it counts them)
	poll("the leader's writes counted", func() string {
		if w := writesOf(t, lead.d, "meshgate_gatewayapi_status_writes_total"); w < 2 {
			return fmt.Sprintf("leader %s wrote status %v times, want at least 2 (generations 1 and 2)", lead.name, w)
		}
		if w := writesOf(t, lead.d, "meshgate_mcs_writes_total"); w < 1 {
			return fmt.Sprintf("leader %s made %v MCS writes", lead.name, w)
		}
		return ""
	})

	// the leader goes: the follower takes over and writes the next change
	lead.stop()
	stopped := time.Now()
	for {
		leading, changed := follow.d.lead.state()
		if leading {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("follower %s never took the Lease", follow.name)
		}
	}
	t.Logf("FIGURE replicas: follower %s leads %s after the leader stopped (lease 3s)", follow.name, time.Since(stopped).Round(time.Millisecond))
	patch(http80)
	written(3, 1, follow)
	// The API server shows a write before the writer has its answer and
	// counts it: the count is waited for (a write by anyone else fails
	// the wait at ctx's end).
	poll("the new leader's status write counted", func() string {
		if w := writesOf(t, follow.d, "meshgate_gatewayapi_status_writes_total"); w < 1 {
			return fmt.Sprintf("new leader %s wrote status %v times", follow.name, w)
		}
		return ""
	})
	if err := mc.MulticlusterV1alpha1().ServiceExports("istio-system").Delete(ctx, "gw-svc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("the ServiceImport deleted by the new leader", func() string {
		_, err := mc.MulticlusterV1alpha1().ServiceImports("istio-system").Get(ctx, "gw-svc", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return ""
		}
		return fmt.Sprintf("still there (%v)", err)
	})
	poll("the new leader's MCS write counted", func() string {
		if w := writesOf(t, follow.d, "meshgate_mcs_writes_total"); w < 1 {
			return fmt.Sprintf("new leader %s made %v MCS writes", follow.name, w)
		}
		return ""
	})
}

// computedGeneration is the generation of the Gateway namespace/name whose
// status d last computed for its own cluster (0: none).
func computedGeneration(d *Daemon, namespace, name string) int64 {
	m := d.served.Load()
	if m == nil {
		return 0
	}
	local := m.Cluster(d.cfg.ClusterID)
	if local == nil || local.GatewayAPIStatus == nil {
		return 0
	}
	for _, g := range local.GatewayAPIStatus.Gateways {
		if g.Namespace == namespace && g.Name == name {
			return g.Generation
		}
	}
	return 0
}

// writesOf is d's counter name, every label summed.
func writesOf(t *testing.T, d *Daemon, name string) float64 {
	t.Helper()
	mfs, err := d.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
