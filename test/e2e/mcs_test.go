//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// TestMCSClusterSetCall: the Multi-Cluster Services API end to end, on a
// two-cluster mesh of its own (daemons with --multicluster-services, the
// MCS CRDs in both API servers). echo runs in both clusters; cluster2
// exports it with a ServiceExport. A client in cluster1 then calls
// echo.e2e.svc.clusterset.local: its daemon gives it cluster2's east-west
// gateway only (not cluster1's own echo pod, which is not exported), every
// request reaches cluster2's pod through that gateway with the clusterset
// SNI; cluster1's daemon writes the ServiceImport (status.clusters
// [cluster2]) and cluster2's daemon the ServiceExport's Valid condition.
func TestMCSClusterSetCall(t *testing.T) {
	requireLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "meshgate-e2e-mcs-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
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
		Clusters: 2, Dir: dir, Bin: bin, Caps: caps, Source: meshlab.SourceKube, MulticlusterServices: true,
		Services:     map[string][]string{"cluster1": {"echo"}, "cluster2": {"echo"}},
		ClientRoutes: []meshlab.ClientRoute{{Service: "echo"}, {Service: "echo", ClusterSet: true}},
		Logf:         t.Logf,
	})
	if m != nil {
		defer func() { _ = m.Close() }()
	}
	if err != nil {
		t.Fatalf("building the MCS mesh: %v", err)
	}
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	local, err := c1.AddEchoPod(ctx, "echo", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.AddEchoPod(ctx, "echo", "v1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("MCS mesh: 2 clusters, ready in %s", time.Since(start).Round(time.Millisecond))
	cl := newClient(t, c1, "client-mcs")
	// cluster.local: both clusters, as before (export mode all)
	waitEndpoints(t, cl, target(m, tgtEcho, "echo"), podAddr(local), gw(c2))

	mc2 := mcsclient.NewForConfigOrDie(c2.Kube.RESTConfig())
	if _, err := mc2.MulticlusterV1alpha1().ServiceExports(meshlab.Namespace).Create(ctx,
		&mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "echo"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tgt := target(m, workload.Target{Host: meshlab.ClusterSetHost("echo"), Port: meshlab.EchoPort}, "echo")
	took := waitEndpoints(t, cl, tgt, gw(c2))

	if err := cl.CheckSNI(tgt); err != nil {
		t.Error(err)
	}
	st := runLoad(callLoad("echo-clusterset", cl, tgt, 50), 100)
	requireAllOK(t, st, cl.ID.ID().String(), "cluster2/echo-")
	for _, s := range st.Samples {
		if s.Result.SNI != tgt.Name().SNI() {
			t.Fatalf("echo saw SNI %q, want %q", s.Result.SNI, tgt.Name().SNI())
		}
	}

	// the objects the daemons write back
	mc1 := mcsclient.NewForConfigOrDie(c1.Kube.RESTConfig())
	waitUntil(t, "cluster1's ServiceImport and cluster2's ServiceExport conditions", nil, func() (bool, string) {
		si, err := mc1.MulticlusterV1alpha1().ServiceImports(meshlab.Namespace).Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			return false, "cluster1 ServiceImport: " + err.Error()
		}
		if !slices.Equal(si.Status.Clusters, []mcsv1alpha1.ClusterStatus{{Cluster: "cluster2"}}) || si.Spec.Type != mcsv1alpha1.ClusterSetIP ||
			len(si.Spec.Ports) != 1 || si.Spec.Ports[0].Port != int32(meshlab.EchoPort) {
			return false, fmt.Sprintf("cluster1 ServiceImport %+v %+v", si.Spec, si.Status)
		}
		se, err := mc2.MulticlusterV1alpha1().ServiceExports(meshlab.Namespace).Get(ctx, "echo", metav1.GetOptions{})
		if err != nil || !meta.IsStatusConditionTrue(se.Status.Conditions, "Valid") || !meta.IsStatusConditionFalse(se.Status.Conditions, "Conflict") {
			return false, fmt.Sprintf("cluster2 ServiceExport: %v %+v", err, se)
		}
		return true, ""
	})
	figure(t, "%s; clusterset endpoints %s after the ServiceExport", st, took)
}
