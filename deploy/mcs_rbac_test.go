//go:build integration

package deploy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/mcs"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/kubeapply"
	"github.com/meshgate/meshgate/test/kubetest"
)

// TestMCSRBAC: with deploy/meshgate's and deploy/mcs's RBAC, a token of the
// ServiceAccount meshgate lets the Kubernetes source read ServiceExports and
// the MCS writer create, update and delete ServiceImports and write
// ServiceExport conditions; the Multi-Cluster Services requests they make
// are exactly deploy/mcs/10-rbac.yaml's grants, and the token is refused
// writes to the users' ServiceExports.
func TestMCSRBAC(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "mcs-rbac", SkipIstioCRDs: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crds, err := os.ReadFile(filepath.Join(mcsDir, "00-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubetest.InstallCRDs(ctx, c.RESTConfig(), crds, time.Minute); err != nil {
		t.Fatal(err)
	}
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(manifestDir, "00-namespace.yaml"), filepath.Join(manifestDir, "10-rbac.yaml"), filepath.Join(mcsDir, "10-rbac.yaml")} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.ApplyYAML(ctx, data); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	admin := kubernetes.NewForConfigOrDie(c.RESTConfig())
	adminMCS := mcsclient.NewForConfigOrDie(c.RESTConfig())
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sample"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Services("sample").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := adminMCS.MulticlusterV1alpha1().ServiceExports("sample").Create(ctx, &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "hello"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, "meshgate",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reqs := &requests{seen: map[string]bool{}, secrets: map[string]bool{}}
	daemonCfg := reqs.wrap(c.TokenConfig(tr.Status.Token))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	src, err := kube.New(kube.Config{ClusterID: "cluster-a", ServicesOnly: true, ServiceExports: true}, kube.Options{REST: daemonCfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	w, err := mcs.New(mcs.Config{ClusterID: "cluster-a"}, mcs.Options{REST: daemonCfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var local *model.ClusterState
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		_ = src.Run(ctx, func(m *model.MeshState, _ []error, _ error) { mu.Lock(); local = m.Clusters[0]; mu.Unlock() })
	})
	wg.Go(func() { _ = w.Run(ctx) })
	poll(ctx, t, "the local ServiceExport", func() string {
		mu.Lock()
		defer mu.Unlock()
		if local == nil || local.ServiceExport("sample", "hello") == nil {
			return "not read"
		}
		return ""
	})
	mu.Lock()
	l := local
	mu.Unlock()
	// another cluster exports hello on another port (older: a conflict here)
	// and a service of its own
	remote := &model.ClusterState{ID: "cluster-b", Services: []model.Service{
		{Meta: model.Meta{Name: "hello", Namespace: "sample"}, Hostname: "hello.sample.svc.cluster.local", Ports: []model.ServicePort{{Name: "http", Port: 8080}}},
		{Meta: model.Meta{Name: "other", Namespace: "sample"}, Hostname: "other.sample.svc.cluster.local", Ports: []model.ServicePort{{Port: 90}}},
	}, ServiceExports: []model.ServiceExport{
		{Meta: model.Meta{Name: "hello", Namespace: "sample"}, Created: "2000-01-01T00:00:00Z"},
		{Meta: model.Meta{Name: "other", Namespace: "sample"}, Created: "2000-01-01T00:00:00Z"},
	}}
	w.Update(&model.MeshState{LocalCluster: "cluster-a", Clusters: []*model.ClusterState{l, remote}})
	poll(ctx, t, "imports and conditions", func() string {
		hello, err := adminMCS.MulticlusterV1alpha1().ServiceImports("sample").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil || len(hello.Status.Clusters) != 2 {
			return fmt.Sprintf("hello import: %v %+v", err, hello)
		}
		if _, err := adminMCS.MulticlusterV1alpha1().ServiceImports("sample").Get(ctx, "other", metav1.GetOptions{}); err != nil {
			return fmt.Sprintf("other import: %v", err)
		}
		e, err := adminMCS.MulticlusterV1alpha1().ServiceExports("sample").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil || !meta.IsStatusConditionTrue(e.Status.Conditions, "Conflict") {
			return fmt.Sprintf("export conditions: %v %+v", err, e)
		}
		return ""
	})
	// cluster-b goes: the conflict and its import go, the local import's port changes
	w.Update(&model.MeshState{LocalCluster: "cluster-a", Clusters: []*model.ClusterState{l}})
	poll(ctx, t, "cluster-b gone", func() string {
		if _, err := adminMCS.MulticlusterV1alpha1().ServiceImports("sample").Get(ctx, "other", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("other import: %v", err)
		}
		hello, err := adminMCS.MulticlusterV1alpha1().ServiceImports("sample").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil || hello.Spec.Ports[0].Port != 80 || len(hello.Status.Clusters) != 1 {
			return fmt.Sprintf("hello import: %v %+v", err, hello)
		}
		e, err := adminMCS.MulticlusterV1alpha1().ServiceExports("sample").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil || !meta.IsStatusConditionFalse(e.Status.Conditions, "Conflict") {
			return fmt.Sprintf("export conditions: %v %+v", err, e)
		}
		return ""
	})
	cancel()
	wg.Wait()

	// the Multi-Cluster Services requests, as RBAC verbs, cluster-wide
	used := map[string]bool{}
	reqs.mu.Lock()
	for r := range reqs.seen {
		if !strings.HasPrefix(r, mcsv1alpha1.GroupName+"/") {
			continue
		}
		f := strings.Fields(r)
		if f[1] == "put" {
			f[1] = "update"
		}
		used[f[0]+" "+f[1]] = true
	}
	reqs.mu.Unlock()
	if grants := grantsOf(t, filepath.Join(mcsDir, "10-rbac.yaml")); !maps.Equal(used, grants) {
		t.Errorf("requests and grants differ:\nrequests %v\ngrants   %v", slices.Sorted(maps.Keys(used)), slices.Sorted(maps.Keys(grants)))
	}

	// and the users' ServiceExports are theirs
	daemon := mcsclient.NewForConfigOrDie(c.TokenConfig(tr.Status.Token)).MulticlusterV1alpha1()
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	for what, call := range map[string]func() error{
		"create a ServiceExport": func() error {
			_, err := daemon.ServiceExports("sample").Create(ctx2, &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		},
		"delete a ServiceExport": func() error { return daemon.ServiceExports("sample").Delete(ctx2, "hello", metav1.DeleteOptions{}) },
		"get a ServiceImport": func() error {
			_, err := daemon.ServiceImports("sample").Get(ctx2, "hello", metav1.GetOptions{})
			return err
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s with the daemon's token: %v, want Forbidden", what, err)
		}
	}
}
