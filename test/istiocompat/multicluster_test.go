//go:build integration

package istiocompat

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/kube/kclient"
	"istio.io/istio/pkg/kube/multicluster"

	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/test/kubetest"
)

// registry is what istiod's Kubernetes service registry
// (pilot/pkg/serviceregistry/kube/controller: NewController and
// newEndpointSliceController) builds on each cluster of its remote-secret
// controller: informers for Services, EndpointSlices, Pods and Nodes, with
// the same filters and transforms. It is the component Istio's
// multicluster.Controller runs for every remote cluster.
type registry struct {
	cluster  *multicluster.Cluster
	services kclient.Client[*corev1.Service]
	slices   kclient.Client[*discoveryv1.EndpointSlice]
	pods     kclient.Client[*corev1.Pod]
	nodes    kclient.Client[*corev1.Node]
}

func newRegistry(c *multicluster.Cluster) *registry {
	client := c.Client
	return &registry{
		cluster:  c,
		services: kclient.NewFiltered[*corev1.Service](client, kclient.Filter{ObjectFilter: client.ObjectFilter()}),
		slices:   kclient.NewFiltered[*discoveryv1.EndpointSlice](client, kclient.Filter{ObjectFilter: client.ObjectFilter()}),
		pods: kclient.NewFiltered[*corev1.Pod](client, kclient.Filter{
			ObjectFilter:    client.ObjectFilter(),
			ObjectTransform: kube.StripPodUnusedFields,
			FieldSelector:   "status.phase!=Failed",
		}),
		nodes: kclient.NewFiltered[*corev1.Node](client, kclient.Filter{ObjectTransform: kube.StripNodeUnusedFields}),
	}
}

func (r *registry) HasSynced() bool {
	return r.services.HasSynced() && r.slices.HasSynced() && r.pods.HasSynced() && r.nodes.HasSynced()
}

func (r *registry) Close() {
	r.services.ShutdownHandlers()
	r.slices.ShutdownHandlers()
	r.pods.ShutdownHandlers()
	r.nodes.ShutdownHandlers()
}

// token is the bearer token the registry's cluster client uses.
func (r *registry) token() string { return r.cluster.Client.RESTConfig().BearerToken }

// sees says what the registry lacks of a Service with an endpoint ip ("" if
// nothing).
func (r *registry) sees(ns, name, ip string) string {
	if r.services.Get(name, ns) == nil {
		return fmt.Sprintf("no Service %s/%s", ns, name)
	}
	for _, s := range r.slices.List(ns, labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})) {
		for _, e := range s.Endpoints {
			if slices.Contains(e.Addresses, ip) {
				return ""
			}
		}
	}
	return fmt.Sprintf("no endpoint %s of %s/%s", ip, ns, name)
}

// istiod runs Istio's remote-secret controller (pkg/kube/multicluster) as
// istiod does, with config cluster c: it watches c's remote secrets
// (istio-system, istio/multiCluster=true), checks each kubeconfig with
// Istio's sanitiser and builds the cluster's client with Istio's builder
// (DefaultBuildClientsFromConfig), then runs a registry on it.
type istiod struct {
	ctl       *multicluster.Controller
	component *multicluster.Component[*registry]
}

func startIstiod(t *testing.T, c *kubetest.Cluster) *istiod {
	t.Helper()
	client, err := kube.NewClient(kube.NewClientConfigForRestConfig(rest.CopyConfig(c.RESTConfig())), "cluster-a")
	if err != nil {
		t.Fatal(err)
	}
	client = kube.EnableCrdWatcher(client) // as istiod's own cluster client (bootstrap)
	ctl := multicluster.NewController(multicluster.ControllerOptions{
		Client:          client,
		ClusterID:       "cluster-a",
		SystemNamespace: "istio-system",
		MeshConfig:      meshwatcher.NewTestWatcher(nil),
	})
	ist := &istiod{ctl: ctl, component: multicluster.BuildMultiClusterComponent(ctl, newRegistry)}
	stop := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(stop) }); client.Shutdown() })
	if err := ctl.Run(stop); err != nil {
		t.Fatal(err)
	}
	client.RunAndWait(stop)
	return ist
}

// remoteRegistry waits for the registry of cluster-b whose client uses token
// and that has synced, and returns it.
func (ist *istiod) remoteRegistry(ctx context.Context, t *testing.T, token string) *registry {
	t.Helper()
	var r *registry
	poll(ctx, t, "Istio's registry of cluster-b", func() string {
		p := ist.component.ForCluster("cluster-b")
		switch {
		case p == nil:
			return fmt.Sprintf("no cluster-b (clusters %v)", ist.ctl.ListClusters())
		case (*p).token() != token:
			return "cluster-b's client does not use the expected token (yet)"
		case (*p).cluster.SyncDidTimeout():
			return "cluster-b's initial sync timed out"
		case !(*p).cluster.HasSynced() || !(*p).HasSynced():
			return fmt.Sprintf("cluster-b %s", (*p).cluster.SyncStatus())
		}
		r = *p
		return ""
	})
	return r
}

// secretToken is the bearer token of the remote secret's only cluster.
func secretToken(t *testing.T, yaml []byte) string {
	t.Helper()
	s, err := remote.ReadRemoteSecret(yaml)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := remote.ValidateRemoteSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return cl.Config.BearerToken
}

// meshgate → Istio, and its renewal: meshgate create-remote-secret against
// cluster B, meshgate join of its output into cluster A, and Istio's
// remote-secret controller in A connects to B with it, syncs within Istio's
// remote-cluster timeout (PILOT_REMOTE_CLUSTER_TIMEOUT) and its registry
// sees B's service, endpoint, pod and node. Then B's daemon renews the
// secret (discovery/remote's SecretRenewer) and it is joined again: Istio
// replaces the cluster's client with one using the new token, syncs again
// and sees what changed in B after the renewal. B's audit log shows every
// request of Istio's code with the reader's token allowed and within the
// reader's grants (discovery/remote.ReaderRules), and reading the grants
// meshgate does not use itself: Nodes, CRDs and Gateway API Gateways (B
// has that CRD, so Istio's delayed Gateway informer starts).
func TestIstioReadsMeshgateRemoteSecret(t *testing.T) {
	meshgateBin := meshgate(t)
	cs := kubetest.NewN(t, 2, kubetest.Options{Name: "istiod", Audit: true})
	A, B := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	apply(t, ctx, A, "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n")
	apply(t, ctx, B, echoWorld)
	if _, err := kubetest.InstallCRDs(ctx, B.RESTConfig(), []byte(gatewayCRD), time.Minute); err != nil {
		t.Fatal(err)
	}

	secret := run(t, ctx, meshgateBin, "create-remote-secret", "--kubeconfig", B.KubeconfigPath(), "--cluster-id", "cluster-b", "--token-ttl", "1h")
	dir := t.TempDir()
	join := func(yaml []byte) {
		t.Helper()
		file := filepath.Join(dir, "remote-secret.yaml")
		if err := os.WriteFile(file, yaml, 0o600); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, meshgateBin, "join", "--kubeconfig", A.KubeconfigPath(), "--remote-secret", file)
	}
	join(secret)

	ist := startIstiod(t, A)
	start := time.Now()
	r := ist.remoteRegistry(ctx, t, secretToken(t, secret))
	t.Logf("Istio synced cluster-b in %v (its timeout: %v)", time.Since(start).Round(time.Millisecond), features.RemoteClusterTimeout)
	if st := r.cluster.SyncStatus(); st != multicluster.SyncStatusSynced {
		t.Errorf("cluster-b's sync status %q, want %q", st, multicluster.SyncStatusSynced)
	}
	if why := r.sees("app", "echo", "10.2.0.7"); why != "" {
		t.Error(why)
	}
	if r.pods.Get("echo-0", "app") == nil {
		t.Error("Istio's registry lacks the pod app/echo-0")
	}
	if n := r.nodes.Get("node-1", ""); n == nil || n.Labels[corev1.LabelTopologyZone] != "zone1" {
		t.Errorf("Istio's registry lacks node-1 with its zone: %v", n)
	}

	// B's daemon renews its remote secret
	renewer, err := remote.NewSecretRenewer(remote.RenewerConfig{Cluster: "cluster-b", Server: B.URL(), TTL: 10 * time.Minute},
		remote.RenewerOptions{REST: B.RESTConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := renewer.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := renewer.Secret()
	if secretToken(t, renewed) == secretToken(t, secret) {
		t.Fatal("the renewed secret holds the old token")
	}
	join(renewed)
	apply(t, ctx, B, echo2World)
	r = ist.remoteRegistry(ctx, t, secretToken(t, renewed))
	poll(ctx, t, "Istio's registry seeing B's change after the renewal", func() string { return r.sees("app", "echo2", "10.2.0.9") })
	if why := r.sees("app", "echo", "10.2.0.7"); why != "" {
		t.Errorf("after the renewal: %s", why)
	}
	if !ist.ctl.HasSynced() {
		t.Error("Istio's remote-secret controller is not synced")
	}

	// everything Istio's code asked of B with the reader's token
	grants := map[string]bool{}
	for _, rule := range remote.ReaderRules {
		for _, g := range rule.APIGroups {
			for _, res := range rule.Resources {
				for _, v := range rule.Verbs {
					grants[g+"/"+res+" "+v] = true
				}
			}
		}
	}
	events, err := B.AuditEvents()
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, e := range events {
		if e.User != "system:serviceaccount:istio-system:"+remote.ReaderServiceAccount || e.Resource == "" {
			continue
		}
		if e.Code == 403 || !grants[e.APIGroup+"/"+e.Resource+" "+e.Verb] {
			t.Errorf("a request with the reader's token beyond its grants: %s (answer %d)", e, e.Code)
		}
		read[e.APIGroup+"/"+e.Resource] = true
	}
	t.Logf("read with the reader's token: %v", slices.Sorted(maps.Keys(read)))
	// the grants meshgate itself does not use (deploy's istiodOnly)
	for _, r := range []string{"/nodes", "apiextensions.k8s.io/customresourcedefinitions", "gateway.networking.k8s.io/gateways"} {
		if !read[r] {
			t.Errorf("Istio's code never read %s: the reader's grant of it (for istiod) is unproven", r)
		}
	}
}

// echo2World is a change in cluster B after the renewal.
const echo2World = `
apiVersion: v1
kind: Service
metadata: {name: echo2, namespace: app}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo2-1, namespace: app, labels: {kubernetes.io/service-name: echo2}}
addressType: IPv4
endpoints: [{addresses: [10.2.0.9], conditions: {ready: true}}]
ports: [{name: http, port: 8080, protocol: TCP}]
`

// gatewayCRD is the Kubernetes Gateway API's Gateway CRD, schema left open:
// its presence starts Istio's delayed Gateway informer in a remote cluster.
const gatewayCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gateways.gateway.networking.k8s.io
  annotations:
    api-approved.kubernetes.io: https://github.com/kubernetes-sigs/gateway-api/pull/3328
    gateway.networking.k8s.io/bundle-version: v1.4.0
spec:
  group: gateway.networking.k8s.io
  names: {kind: Gateway, listKind: GatewayList, plural: gateways, singular: gateway}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`
