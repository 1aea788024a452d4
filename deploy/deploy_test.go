//go:build integration

package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/test/kubeapply"
	"github.com/meshgate/meshgate/test/kubetest"
)

func kubectl(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed for this test: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
	return string(out), err
}

// kubectl accepts the manifests (client-side dry run), the API server
// accepts them (server-side dry run, then a real server-side apply, with
// Istio's CRDs installed), and the objects exist afterwards.
func TestManifestsApply(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "deploy"})
	// A server-side dry run cannot create the namespace the other objects
	// go in: it runs after the real apply (then as an update of each object).
	for _, args := range [][]string{{"--dry-run=client"}, {"--server-side"}, {"--server-side", "--dry-run=server"}} {
		out, err := kubectl(t, c.KubeconfigPath(), append(append([]string{"apply"}, args...), "-f", manifestDir)...)
		if err != nil {
			t.Fatalf("kubectl apply %v: %v\n%s", args, err, out)
		}
		t.Logf("kubectl apply %v:\n%s", args, out)
	}
	// and once more with the Go client's server-side apply (strict field
	// validation of every object, CRD schemas included)
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := kubeapply.Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, u := range objs {
			if err := a.Apply(context.Background(), u); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			kinds[u.GetKind()]++
		}
	}
	// the daemon's and the remote reader's identities (ServiceAccount, ClusterRole,
	// binding each); the daemon's token-review ClusterRole (the secure xDS
	// port); the daemon's Secret, token-minting and leader-election Roles;
	// the replicas' PodDisruptionBudget.
	want := map[string]int{"Namespace": 1, "ServiceAccount": 2, "ClusterRole": 3, "ClusterRoleBinding": 3, "Role": 3,
		"RoleBinding": 3, "ConfigMap": 1, "Deployment": 1, "PodDisruptionBudget": 1, "Service": 3, "Gateway": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s objects, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	kc, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	d, err := kc.AppsV1().Deployments("istio-system").Get(context.Background(), "istio-eastwestgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ctr := range d.Spec.Template.Spec.Containers {
		names = append(names, ctr.Name)
	}
	if strings.Join(names, ",") != "meshgate,agent,envoy" || d.Spec.Template.Spec.ServiceAccountName != "meshgate" {
		t.Errorf("deployment containers %v, service account %q", names, d.Spec.Template.Spec.ServiceAccountName)
	}
	// replicas: two, never on one node, at most one down at a time, electing
	// the publisher
	aff := d.Spec.Template.Spec.Affinity
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 || aff == nil || aff.PodAntiAffinity == nil ||
		len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 ||
		aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" ||
		aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels["app"] != "istio-eastwestgateway" {
		t.Errorf("deployment replicas %v, affinity %+v: want 2 replicas, required anti-affinity by hostname", d.Spec.Replicas, aff)
	}
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--leader-elect") {
		t.Errorf("the daemon's args %v lack --leader-elect", d.Spec.Template.Spec.Containers[0].Args)
	}
	pdb, err := kc.PolicyV1().PodDisruptionBudgets("istio-system").Get(context.Background(), "istio-eastwestgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || pdb.Spec.Selector.MatchLabels["app"] != "istio-eastwestgateway" {
		t.Errorf("PodDisruptionBudget spec %+v: want minAvailable 1 of app=istio-eastwestgateway", pdb.Spec)
	}
	ew, err := kc.CoreV1().Services("istio-system").Get(context.Background(), "istio-eastwestgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ew.Labels["topology.istio.io/network"] != "network1" || ew.Spec.Ports[0].Port != 15443 {
		t.Errorf("east-west service = %+v", ew)
	}
}
