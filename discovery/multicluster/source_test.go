//go:build integration

package multicluster

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/meshgate/meshgate/discovery/mcs"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/test/kubetest"
)

// recorder is a discovery.Publish that keeps every state and fails the test
// if it is ever called concurrently or after Run returned.
type recorder struct {
	t        *testing.T
	inflight atomic.Int32
	stopped  atomic.Bool
	mu       sync.Mutex
	states   []*model.MeshState
	changed  chan struct{}
}

func (r *recorder) publish(mesh *model.MeshState, _ []error, err error) {
	if r.inflight.Add(1) != 1 {
		r.t.Error("publish called concurrently")
	}
	defer r.inflight.Add(-1)
	if r.stopped.Load() {
		r.t.Error("publish called after Run returned")
	}
	if err != nil {
		r.t.Errorf("publish err: %v", err)
	}
	r.mu.Lock()
	r.states = append(r.states, mesh)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() []*model.MeshState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.states)
}

// waitFor waits until the last published state satisfies cond.
func (r *recorder) waitFor(ctx context.Context, what string, cond func(*model.MeshState) bool) {
	r.t.Helper()
	for {
		if s := r.snapshot(); len(s) > 0 && cond(s[len(s)-1]) {
			return
		}
		select {
		case <-r.changed:
		case <-ctx.Done():
			r.t.Fatalf("never published %s", what)
		}
	}
}

func clusterIDs(m *model.MeshState) []string {
	var ids []string
	for _, c := range m.Clusters {
		ids = append(ids, c.ID)
	}
	return ids
}

func createService(ctx context.Context, t *testing.T, cfg *rest.Config, ns, name string) {
	t.Helper()
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ns != "default" {
		if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := kc.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The local cluster and a remote cluster named by a remote secret are
// published as one MeshState: not before the remote cluster has synced (the
// first state already holds it), from one goroutine, never after Run
// returns; deleting the secret removes the remote cluster.
func TestSourceComposesLocalAndRemote(t *testing.T) {
	cs := kubetest.NewN(t, 2, kubetest.Options{Name: "multicluster"})
	A, B := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	createService(ctx, t, A.RESTConfig(), "istio-system", "local-svc")
	createService(ctx, t, B.RESTConfig(), "default", "remote-svc")
	res, err := remote.CreateRemoteSecret(ctx, B.RESTConfig(), remote.CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}

	s, err := New(Config{ClusterID: "cluster-a", RemoteSyncTimeout: time.Minute, Holdoff: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
		Options{REST: A.RESTConfig(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Controller().SetSecret(remote.SourceKubernetes, res.Secret); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{t: t, changed: make(chan struct{}, 1)}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx, rec.publish) }()

	rec.waitFor(ctx, "a first state", func(*model.MeshState) bool { return true })
	first := rec.snapshot()[0]
	if got := clusterIDs(first); !slices.Equal(got, []string{"cluster-a", "cluster-b"}) {
		t.Fatalf("first state has clusters %v, want the local and the remote one", got)
	}
	if first.LocalCluster != "cluster-a" || first.Cluster("cluster-a").Service("local-svc.istio-system.svc.cluster.local") == nil ||
		first.Cluster("cluster-b").Service("remote-svc.default.svc.cluster.local") == nil {
		t.Fatalf("first state lacks a service: %+v", first)
	}

	s.Controller().DeleteSecret(remote.SourceKubernetes, res.Secret.Namespace, res.Secret.Name)
	rec.waitFor(ctx, "the local cluster alone", func(m *model.MeshState) bool { return slices.Equal(clusterIDs(m), []string{"cluster-a"}) })

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	rec.stopped.Store(true)
}

// A cluster joined only through its remote secret (no daemon of its own
// to gossip its exports): with ServiceExports, its ServiceExports are read
// through the secret's reader (create-remote-secret's role), so the
// clusterset holds its export and the local cluster's MCS writer imports
// it: a ServiceImport whose status.clusters names the remote cluster.
func TestRemoteSecretClusterExports(t *testing.T) {
	cs := kubetest.NewN(t, 2, kubetest.Options{Name: "mc-exports"})
	A, B := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	crds, err := os.ReadFile(filepath.Join("..", "..", "deploy", "mcs", "00-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if _, err := kubetest.InstallCRDs(ctx, c.RESTConfig(), crds, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	createService(ctx, t, A.RESTConfig(), "sample", "local-only")
	createService(ctx, t, B.RESTConfig(), "sample", "helloworld")
	if _, err := mcsclient.NewForConfigOrDie(B.RESTConfig()).MulticlusterV1alpha1().ServiceExports("sample").Create(ctx,
		&mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "helloworld"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := remote.CreateRemoteSecret(ctx, B.RESTConfig(), remote.CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(Config{ClusterID: "cluster-a", ServiceExports: true, RemoteSyncTimeout: time.Minute, Holdoff: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond},
		Options{REST: A.RESTConfig(), Logger: log, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Controller().SetSecret(remote.SourceKubernetes, res.Secret); err != nil {
		t.Fatal(err)
	}
	w, err := mcs.New(mcs.Config{ClusterID: "cluster-a"}, mcs.Options{REST: A.RESTConfig(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{t: t, changed: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		if err := s.Run(ctx, func(m *model.MeshState, errs []error, err error) { w.Update(m); rec.publish(m, errs, err) }); err != nil {
			t.Errorf("source: %v", err)
		}
	})
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("mcs writer: %v", err)
		}
	})
	rec.waitFor(ctx, "cluster-b's export in the clusterset", func(m *model.MeshState) bool {
		set := model.ClusterSet(m)
		return len(set) == 1 && set[0].Name == "helloworld" && slices.Equal(set[0].Clusters, []string{"cluster-b"})
	})
	mc := mcsclient.NewForConfigOrDie(A.RESTConfig())
	for {
		si, err := mc.MulticlusterV1alpha1().ServiceImports("sample").Get(ctx, "helloworld", metav1.GetOptions{})
		if err == nil && slices.Equal(si.Status.Clusters, []mcsv1alpha1.ClusterStatus{{Cluster: "cluster-b"}}) {
			break
		}
		// the writer gives no event to wait on: ask again, bounded by ctx
		select {
		case <-ctx.Done():
			t.Fatalf("cluster-a never imported helloworld from cluster-b: %+v, %v", si, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
