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
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/test/kubeapply"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/logtest"
)

// readerUser is the API server's name for a token of the reader.
const readerUser = "system:serviceaccount:istio-system:" + remote.ReaderServiceAccount

// istiodOnly are the reader's grants that meshgate's own remote watches do
// not use: istiod's remote-cluster code watches CustomResourceDefinitions
// (it starts informers of optional APIs once their CRD exists, and never
// syncs without them) and Gateway API Gateways. test/istiocompat runs
// Istio's own code with the reader, checks that it syncs and that it reads
// each of these. (Nodes, which istiod reads too, meshgate reads itself.)
var istiodOnly = []string{"apiextensions.k8s.io/customresourcedefinitions", "gateway.networking.k8s.io/gateways"}

// The reader of deploy/meshgate/15-remote-reader.yaml (the identity
// create-remote-secret sets up) against a real API server: with a token of
// it, meshgate's remote-cluster controller syncs the cluster (both informer
// modes) with its ServiceExports, join verifies the secret and the gossip Service is found, and the
// API server's audit log shows every one of their requests allowed and
// within the grants; every granted resource is read by meshgate or by
// istiod (istiodOnly); every grant is read-only; and the token is refused
// Secrets, ConfigMaps, Istio configuration, tokens and writes.
func TestReaderRBAC(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "reader", Audit: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"00-namespace.yaml", "15-remote-reader.yaml"} {
		data, err := os.ReadFile(filepath.Join(manifestDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.ApplyYAML(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.ApplyYAML(ctx, []byte(world+readerWorld)); err != nil {
		t.Fatal(err)
	}
	// the MCS CRDs and an export: a daemon with --multicluster-services
	// reads them with the reader's token
	crds, err := os.ReadFile(filepath.Join(mcsDir, "00-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubetest.InstallCRDs(ctx, c.RESTConfig(), crds, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyYAML(ctx, []byte("apiVersion: multicluster.x-k8s.io/v1alpha1\nkind: ServiceExport\nmetadata: {name: echo, namespace: app}\n")); err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	gossip, err := admin.CoreV1().Services("istio-system").Get(ctx, remote.GossipServiceName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gossip.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
	if _, err := admin.CoreV1().Services("istio-system").UpdateStatus(ctx, gossip, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, remote.ReaderServiceAccount,
		&authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := remote.BuildRemoteSecret("cluster-b", "istio-system", c.URL(), c.CAData(), tr.Status.Token)
	if err != nil {
		t.Fatal(err)
	}

	// join's check of the secret (it lists services with it); the secret
	// is written with the admin's rights, in this same cluster
	if _, err := remote.Join(ctx, c.RESTConfig(), secret, remote.JoinOptions{Verify: true}); err != nil {
		t.Fatal(err)
	}
	// the gossip seeds, read with the reader's token
	if seeds, err := remote.GossipSeeds(ctx, c.TokenConfig(tr.Status.Token), "istio-system"); err != nil || !slices.Equal(seeds, []string{"192.0.2.10:7946"}) {
		t.Errorf("gossip seeds with the reader's token: %v, %v", seeds, err)
	}
	for _, watchList := range []bool{true, false} {
		t.Run(fmt.Sprintf("WatchListClient=%v", watchList), func(t *testing.T) {
			clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, watchList)
			runRemoteController(t, secret)
		})
	}

	// every request of the reader: allowed and within the grants
	grants := readerGrants(t)
	events, err := c.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, e := range events {
		if e.User != readerUser || e.Resource == "" {
			continue
		}
		if e.Code == 403 || !grants[e.APIGroup+"/"+e.Resource+" "+e.Verb] {
			t.Errorf("the reader asked for %s (answer %d): beyond its grants", e, e.Code)
		}
		read[e.APIGroup+"/"+e.Resource] = true
	}
	t.Logf("meshgate read with the reader's token: %v", slices.Sorted(maps.Keys(read)))
	for _, r := range istiodOnly {
		read[r] = true
	}
	for g := range grants {
		res, verb, _ := strings.Cut(g, " ")
		if !read[res] {
			t.Errorf("grant %s: neither meshgate nor istiod reads %s", g, res)
		}
		if verb != "get" && verb != "list" && verb != "watch" {
			t.Errorf("grant %s is not read-only", g)
		}
	}

	// and everything else is refused
	reader, err := kubernetes.NewForConfig(c.TokenConfig(tr.Status.Token))
	if err != nil {
		t.Fatal(err)
	}
	readerDyn, err := dynamic.NewForConfig(c.TokenConfig(tr.Status.Token))
	if err != nil {
		t.Fatal(err)
	}
	for what, call := range map[string]func() error{
		"list Secrets cluster-wide": func() error { _, err := reader.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err },
		"list the remote secrets of istio-system": func() error {
			_, err := reader.CoreV1().Secrets("istio-system").List(ctx, metav1.ListOptions{LabelSelector: remote.LabelMultiCluster + "=true"})
			return err
		},
		"get Secret istio-system/gw-cert": func() error {
			_, err := reader.CoreV1().Secrets("istio-system").Get(ctx, "gw-cert", metav1.GetOptions{})
			return err
		},
		"list ConfigMaps": func() error { _, err := reader.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{}); return err },
		"list Gateways": func() error {
			_, err := readerDyn.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}).List(ctx, metav1.ListOptions{})
			return err
		},
		"create a Service": func() error {
			_, err := reader.CoreV1().Services("app").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
			return err
		},
		"delete a Pod": func() error { return reader.CoreV1().Pods("app").Delete(ctx, "echo-0", metav1.DeleteOptions{}) },
		"update a Node": func() error {
			n, err := reader.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = reader.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		},
		"mint its own token": func() error {
			_, err := reader.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, remote.ReaderServiceAccount, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
			return err
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s with the reader's token: %v, want Forbidden", what, err)
		}
	}

	// A reader made before it was granted ServiceExports (an older
	// meshgate's remote secret): the cluster still syncs, without its
	// exports, and the daemon says what to do about it.
	t.Run("ReaderWithoutServiceExports", func(t *testing.T) {
		role, err := admin.RbacV1().ClusterRoles().Get(ctx, "meshgate-reader", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := len(role.Rules)
		role.Rules = slices.DeleteFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "serviceexports") })
		if len(role.Rules) != n-1 {
			t.Fatalf("the reader's ServiceExports rule not found in %d rules", n)
		}
		if _, err := admin.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(ctx, t, "the reader refused ServiceExports", func() string {
			_, err := readerDyn.Resource(schema.GroupVersionResource{Group: "multicluster.x-k8s.io", Version: "v1alpha1", Resource: "serviceexports"}).
				List(ctx, metav1.ListOptions{})
			if !apierrors.IsForbidden(err) {
				return fmt.Sprintf("list: %v", err)
			}
			return ""
		})
		logs := &logtest.Buffer{}
		got := runRemoteControllerLogged(t, secret, slog.New(slog.NewTextHandler(logs, nil)), false)
		if got.ServiceExport("app", "echo") != nil {
			t.Error("an export read without the grant")
		}
		if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "may not list ServiceExports") ||
			!strings.Contains(l, "meshgate create-remote-secret") || !strings.Contains(l, "cluster=cluster-b") {
			t.Errorf("no warning that names the cluster and the remedy:\n%s", l)
		}
	})
}

// runRemoteController runs meshgate's remote-cluster controller on secret
// until it publishes the cluster's echo Service with its endpoint and its
// ServiceExport.
func runRemoteController(t *testing.T, secret *corev1.Secret) {
	runRemoteControllerLogged(t, secret, slog.New(slog.NewTextHandler(io.Discard, nil)), true)
}

// runRemoteControllerLogged runs meshgate's remote-cluster controller on
// secret until it publishes the cluster's echo Service with its endpoint
// (and, with export, its ServiceExport), and returns that state.
func runRemoteControllerLogged(t *testing.T, secret *corev1.Secret, log *slog.Logger, export bool) *model.ClusterState {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var got *model.ClusterState
	ctl, err := remote.NewController(remote.Config{LocalClusterID: "cluster-a", SyncTimeout: time.Minute, ServiceExports: true}, remote.Options{
		Logger:  log,
		Publish: func(cs *model.ClusterState, _ []error) { mu.Lock(); got = cs; mu.Unlock() },
		Remove:  func(string) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.SetSecret(remote.SourceKubernetes, secret); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = ctl.Run(ctx) })
	poll(ctx, t, "cluster-b through the reader", func() string {
		mu.Lock()
		defer mu.Unlock()
		if got == nil {
			return "nothing published"
		}
		if svc := got.Service("echo.app.svc.cluster.local"); svc == nil || len(svc.Endpoints) != 1 {
			return "echo or its endpoint missing"
		}
		if export && got.ServiceExport("app", "echo") == nil {
			return "the ServiceExport app/echo missing"
		}
		return ""
	})
	if sts := ctl.Statuses(); len(sts) != 1 || len(sts[0].Failing) > 0 {
		t.Errorf("remote status with the reader's token: %+v", sts)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// readerGrants reads 15-remote-reader.yaml: "group/resource verb" for every
// rule of its ClusterRole.
func readerGrants(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, "15-remote-reader.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubeapply.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, u := range objs {
		if u.GetKind() != "ClusterRole" {
			continue
		}
		var r rbacv1.ClusterRole
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
			t.Fatal(err)
		}
		for _, rule := range r.Rules {
			if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
				t.Errorf("reader rule %+v: resourceNames and nonResourceURLs are not expected", rule)
			}
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						out[g+"/"+res+" "+v] = true
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("15-remote-reader.yaml grants nothing")
	}
	return out
}

// readerWorld adds what only the reader test needs to world: a pod behind
// echo (and the ServiceAccount admission wants for it), a Node, and the
// daemon's gossip Service.
const readerWorld = `
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {topology.kubernetes.io/region: region1, topology.kubernetes.io/zone: zone1}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: app}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: app, labels: {app: echo}}
spec:
  nodeName: node-1
  containers: [{name: echo, image: echo}]
---
apiVersion: v1
kind: Service
metadata: {name: meshgate-gossip, namespace: istio-system}
spec:
  type: LoadBalancer
  ports: [{name: tcp, port: 7946, protocol: TCP}]
`
