//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
	"github.com/meshgate/meshgate/test/kubetest"
)

// EnvAPIServerOutage sets how long TestChaosAPIServerDown keeps the API
// server down (a Go duration; default 2m, the CI setting).
const EnvAPIServerOutage = "MESHGATE_E2E_APISERVER_OUTAGE"

// TestAPIServerInNetworkObjects starts a real kube-apiserver and etcd
// inside a network namespace (kubetest with the namespace's exec prefix),
// reached from this process through the router, and writes the objects the
// suite gives a cluster with the harness's Store: Services (with
// load-balancer status), Pods (with status), EndpointSlices and Istio
// resources. This is how every cluster's objects are written with the
// Kubernetes source.
func TestAPIServerInNetworkObjects(t *testing.T) {
	lab := newLab(t, 1)
	n := lab.Networks[0]
	kc := kubetest.New(t, kubetest.Options{Name: "e2e-objects", BindAddress: n.NodeIP.String(), ExecPrefix: n.Exec(),
		Dir: t.TempDir()})
	api, err := dynamic.NewForConfig(kc.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	objs := []string{
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: e2e}",
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: echo, namespace: e2e}",
		`apiVersion: v1
kind: Service
metadata: {name: istio-eastwestgateway, namespace: e2e, labels: {topology.istio.io/network: net1}}
spec: {type: LoadBalancer, ports: [{name: tls, port: 15443}]}
status: {loadBalancer: {ingress: [{ip: ` + n.EastWestIP.String() + `}]}}`,
		`apiVersion: v1
kind: Pod
metadata: {name: echo-1, namespace: e2e, labels: {app: echo, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: echo, containers: [{name: echo, image: echo}]}
status: {phase: Running, podIP: 10.9.9.9, podIPs: [{ip: 10.9.9.9}]}`,
		`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-e2e, namespace: e2e, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: tcp-echo, port: 8080}]
endpoints: [{addresses: [10.9.9.9], conditions: {ready: true}, targetRef: {kind: Pod, name: echo-1, namespace: e2e}}]`,
		`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: cross-network-gateway, namespace: e2e}
spec:
  selector: {istio: eastwestgateway}
  servers: [{port: {number: 15443, name: tls, protocol: TLS}, tls: {mode: AUTO_PASSTHROUGH}, hosts: ["*.local"]}]`,
	}
	store := meshlab.NewStore(api, filepath.Join(t.TempDir(), "objects.yaml"))
	if err := store.Set(strings.Join(objs, "\n---\n")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(kc.RESTConfig())
	svc, err := cs.CoreV1().Services("e2e").Get(ctx, "istio-eastwestgateway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ing := svc.Status.LoadBalancer.Ingress; len(ing) != 1 || ing[0].IP != n.EastWestIP.String() {
		t.Errorf("gateway Service load-balancer status %v, want %s", ing, n.EastWestIP)
	}
	pod, err := cs.CoreV1().Pods("e2e").Get(ctx, "echo-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Status.Phase != "Running" || pod.Status.PodIP != "10.9.9.9" {
		t.Errorf("pod status %s %s, want Running 10.9.9.9", pod.Status.Phase, pod.Status.PodIP)
	}
	gw := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}
	if _, err := api.Resource(gw).Namespace("e2e").Get(ctx, "cross-network-gateway", metav1.GetOptions{}); err != nil {
		t.Errorf("Gateway: %v", err)
	}
	// A withdrawn object is deleted from the API server.
	store.Delete("EndpointSlice", "e2e", "echo-e2e")
	if err := store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("e2e").Get(ctx, "echo-e2e", metav1.GetOptions{}); err == nil {
		t.Error("EndpointSlice still exists after the store withdrew it")
	}
}

// TestChaosAPIServerDown runs chaosAPIServerDown in the shared mesh
// (built-in gateways), with cluster2's local client calling echo v1 (its
// own pod and cluster1's gateway).
func TestChaosAPIServerDown(t *testing.T) {
	m := mesh(t)
	chaosAPIServerDown(t, m, target(m, tgtEchoV1, "echo"), "v1")
}

// chaosAPIServerDown stops cluster2's API server for
// $MESHGATE_E2E_APISERVER_OUTAGE (default 2m) while cluster1 calls only-b
// (in cluster2; onlyBRuns: a mesh client, and in the Envoy world also HTTP
// through the Envoy ingress) and a client in cluster2 calls local, echo
// pods of version in cluster2 and cluster1's gateway. The daemon keeps its
// last state (informer caches; fail-static), so every request succeeds.
// After the API server is back, a new pod (version) written to it reaches
// the local client: the figures give the time.
func chaosAPIServerDown(t *testing.T, m *meshlab.Mesh, local workload.Target, version string) {
	if m.Opts.Source != meshlab.SourceKube {
		pending(t, "kubeconfig")
	}
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	outage := 2 * time.Minute
	if v := os.Getenv(EnvAPIServerOutage); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvAPIServerOutage, v, err)
		}
		outage = d
	}
	runs := onlyBRuns(t, m, "apiserver-down", true)
	lc := newClient(t, c2, "client-apiserver-local")
	waitEndpoints(t, lc, local, podAddr(podOf(t, c2, "echo", version)), gw(c1))

	if err := c2.Kube.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Kube.StartAPIServer(context.Background()) })
	runs.fault()
	// The load paces the outage: outage × 50 requests at 50 per second.
	during := runs.during(int(outage.Seconds() * 50))
	for i, st := range during {
		if st.Failed != 0 {
			t.Errorf("%s: requests failed while cluster2's API server was down: %s %v", runs[i].load.Name, st, st.Errors)
		}
	}
	runs.heal()
	if err := c2.Kube.StartAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
	runs.recover()
	start := time.Now()
	p, err := c2.AddEchoPod(context.Background(), "echo", version)
	if err != nil {
		t.Fatal(err)
	}
	took := waitEndpoints(t, lc, local, podAddr(podOf(t, c2, "echo", version)), podAddr(p), gw(c1))
	figure(t, "API server down %s: %s; a pod written after it returned reached the client in %s (%s after the write began)",
		outage, during, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// The mesh may be shared by the tests that follow: give the pod back
	// and wait until it is withdrawn, so they see the topology they expect.
	if err := c2.RemovePod(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	gone := waitEndpoints(t, lc, local, podAddr(podOf(t, c2, "echo", version)), gw(c1))
	figure(t, "API server down: the added pod's removal reached the client in %s", gone.Round(time.Millisecond))
}

// pending stops a test whose subject is not in this build yet, naming the
// branch that brings it; the line also goes to the figures file, so the
// tier's output says what did not run.
func pending(t *testing.T, caps ...string) {
	t.Helper()
	msg := "MISSING: " + missingErr(caps).Error()
	figure(t, "%s", msg)
	t.Fatal(msg) // a scenario that cannot run proves nothing: fail, never skip
}

// TestClusterObjectsInAPIServers: every cluster of the shared mesh has its
// own kube-apiserver, inside its network, holding the objects the suite
// wrote: the east-west gateway Service with the network label and the
// gateway's load-balancer address, and the EndpointSlice of echo listing
// exactly that cluster's echo pods.
func TestClusterObjectsInAPIServers(t *testing.T) {
	m := mesh(t)
	ctx := context.Background()
	for _, c := range m.Clusters {
		cs := kubernetes.NewForConfigOrDie(c.Kube.RESTConfig())
		svc, err := cs.CoreV1().Services(meshlab.SystemNS).Get(ctx, "istio-eastwestgateway", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		if svc.Labels["topology.istio.io/network"] != c.Net.Name {
			t.Errorf("%s: gateway Service network label %q, want %q", c.ID, svc.Labels["topology.istio.io/network"], c.Net.Name)
		}
		if ing := svc.Status.LoadBalancer.Ingress; len(ing) != 1 || ing[0].IP != c.Net.EastWestIP.String() {
			t.Errorf("%s: gateway load-balancer status %v, want %s", c.ID, ing, c.Net.EastWestIP)
		}
		es, err := cs.DiscoveryV1().EndpointSlices(meshlab.Namespace).Get(ctx, "echo-e2e", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		var got, want []string
		for _, e := range es.Endpoints {
			got = append(got, e.Addresses...)
		}
		for _, p := range c.Pods() {
			if p.Service == "echo" {
				want = append(want, p.IP.String())
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: EndpointSlice echo-e2e lists %v, want the cluster's echo pods %v", c.ID, got, want)
		}
	}
}
