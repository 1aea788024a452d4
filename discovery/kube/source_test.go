//go:build integration

package kube

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/metrictest"
)

// Objects created, changed and deleted in a real API server appear in the
// published ClusterState: Services, EndpointSlices joined with Pods,
// Namespaces (network label) and Istio configuration.
func TestCreateChangeDelete(t *testing.T) {
	c := sharedCluster(t)
	kc := clientset(t, c.RESTConfig())
	a := newApplier(t, c.RESTConfig())
	ctx := ctxT(t)
	ensureNamespace(t, kc, "ccd", map[string]string{model.LabelNetwork: "net-ccd"})
	_, rec := runSource(t, Config{ClusterID: "c1", Network: "n1"}, Options{REST: c.RESTConfig()})
	rec.waitFor(t, "initial state", func(cs *model.ClusterState, _ []error) string {
		if cs.ID != "c1" || cs.Network != "n1" {
			return fmt.Sprintf("id %q network %q", cs.ID, cs.Network)
		}
		return ""
	})
	host := "cart.ccd.svc.cluster.local"

	// create: a Service, its slice and the Pod behind the address
	applyYAML(t, a, `
apiVersion: v1
kind: ServiceAccount
metadata: {name: cart, namespace: ccd}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: ccd, labels: {app: cart}}
spec:
  selector: {app: cart}
  ports: [{name: http, port: 8080, targetPort: 9090}]
---
apiVersion: v1
kind: Pod
metadata: {name: cart-v1, namespace: ccd, labels: {app: cart, version: v1, security.istio.io/tlsMode: istio}}
spec:
  serviceAccountName: cart
  containers: [{name: app, image: cart}]
status:
  phase: Running
  podIP: 10.1.0.1
  podIPs: [{ip: 10.1.0.1}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: cart-1, namespace: ccd, labels: {kubernetes.io/service-name: cart}}
addressType: IPv4
endpoints:
- addresses: [10.1.0.1]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: cart-v1, namespace: ccd}
ports: [{name: http, port: 9090}]
`)
	rec.waitFor(t, "cart with its pod's endpoint", func(cs *model.ClusterState, _ []error) string {
		s := cs.Service(host)
		if s == nil || len(s.Endpoints) != 1 {
			return fmt.Sprintf("service %+v", s)
		}
		e := s.Endpoints[0]
		want := model.Endpoint{Address: "10.1.0.1", Ports: []model.EndpointPort{{Name: "http", Port: 9090}}, Ready: true,
			PodName: "cart-v1", Labels: map[string]string{"app": "cart", "version": "v1", model.LabelTLSMode: "istio"},
			ServiceAccount: "cart", TLSMode: "istio", Network: "net-ccd"}
		if mustJSON(e) != mustJSON(want) {
			return "endpoint " + mustJSON(e)
		}
		if s.Ports[0].TargetPort != 9090 || s.Labels["app"] != "cart" || s.Source != "kube:c1" {
			return "service " + mustJSON(s)
		}
		return ""
	})

	// change: a second address, a new service label
	es := must[*discoveryv1.EndpointSlice](t)(kc.DiscoveryV1().EndpointSlices("ccd").Get(ctx, "cart-1", metav1.GetOptions{}))
	es.Endpoints = append(es.Endpoints, slice("ccd", "cart", "x", 9090, "10.1.0.2").Endpoints...)
	must[any](t)(kc.DiscoveryV1().EndpointSlices("ccd").Update(ctx, es, metav1.UpdateOptions{}))
	svc := must[*corev1.Service](t)(kc.CoreV1().Services("ccd").Get(ctx, "cart", metav1.GetOptions{}))
	svc.Labels["tier"] = "front"
	must[any](t)(kc.CoreV1().Services("ccd").Update(ctx, svc, metav1.UpdateOptions{}))
	rec.waitFor(t, "two endpoints and the new label", func(cs *model.ClusterState, _ []error) string {
		if got := addresses(cs, host); !slices.Equal(got, []string{"10.1.0.1", "10.1.0.2"}) {
			return fmt.Sprint("endpoints ", got)
		}
		if cs.Service(host).Labels["tier"] != "front" {
			return "labels " + mustJSON(cs.Service(host).Labels)
		}
		return ""
	})

	// Istio configuration: create, change, delete
	applyYAML(t, a, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: ccd}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["cart.example.com"]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: cart, namespace: ccd}
spec:
  hosts: ["cart.example.com"]
  gateways: [gw]
  http:
  - route:
    - destination: {host: cart, port: {number: 8080}}
`)
	rec.waitFor(t, "gateway and virtual service", func(cs *model.ClusterState, _ []error) string {
		if !hasMeta(cs.Gateways, "ccd/gw") || !hasMeta(cs.VirtualServices, "ccd/cart") {
			return "istio config " + mustJSON([]any{cs.Gateways, cs.VirtualServices})
		}
		return ""
	})
	applyYAML(t, a, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: ccd}
spec:
  hosts: ["shop.example.com"]
  gateways: [gw]
  http:
  - route:
    - destination: {host: cart, port: {number: 8080}}
`)
	must[any](t)(0, a.delete(ctx, objOf("networking.istio.io/v1", "Gateway", "ccd", "gw")))
	rec.waitFor(t, "changed virtual service, gateway gone", func(cs *model.ClusterState, _ []error) string {
		i := slices.IndexFunc(cs.VirtualServices, func(v model.VirtualService) bool { return v.NamespacedName() == "ccd/cart" })
		if i < 0 || !slices.Equal(cs.VirtualServices[i].Hosts, []string{"shop.example.com"}) || hasMeta(cs.Gateways, "ccd/gw") {
			return "istio config " + mustJSON([]any{cs.Gateways, cs.VirtualServices})
		}
		return ""
	})

	// delete: the slice, then the service
	must[any](t)(0, kc.DiscoveryV1().EndpointSlices("ccd").Delete(ctx, "cart-1", metav1.DeleteOptions{}))
	rec.waitFor(t, "no endpoints", func(cs *model.ClusterState, _ []error) string {
		if s := cs.Service(host); s == nil || len(s.Endpoints) != 0 {
			return "service " + mustJSON(s)
		}
		return ""
	})
	must[any](t)(0, kc.CoreV1().Services("ccd").Delete(ctx, "cart", metav1.DeleteOptions{}))
	rec.waitFor(t, "service gone", func(cs *model.ClusterState, _ []error) string {
		if s := cs.Service(host); s != nil {
			return "still there"
		}
		return ""
	})
}

// hasMeta reports whether objs holds an object namespace/name.
func hasMeta[T any](objs []T, nsName string) bool {
	for i := range objs {
		var m model.Meta
		switch o := any(&objs[i]).(type) {
		case *model.Gateway:
			m = o.Meta
		case *model.VirtualService:
			m = o.Meta
		case *model.DestinationRule:
			m = o.Meta
		case *model.Secret:
			m = o.Meta
		}
		if m.NamespacedName() == nsName {
			return true
		}
	}
	return false
}

// An invalid object is left out and reported as a *model.FieldError naming
// it and the field, in the published errors, the Status and the metrics;
// the rest of the state is kept. Fixing it brings it in.
func TestInvalidObjectReported(t *testing.T) {
	c := sharedCluster(t)
	kc := clientset(t, c.RESTConfig())
	a := newApplier(t, c.RESTConfig())
	ensureNamespace(t, kc, "inv", nil)
	reg := newRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, rec := runSource(t, Config{ClusterID: "c-inv"}, Options{REST: c.RESTConfig(), Metrics: m})
	applyYAML(t, a, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad, namespace: inv}
spec:
  hosts: ["bookinfo.*"]
  http:
  - route:
    - destination: {host: reviews}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: good, namespace: inv}
spec:
  hosts: ["bookinfo.com"]
  http:
  - route:
    - destination: {host: reviews}
`)
	rec.waitFor(t, "bad reported, good kept", func(cs *model.ClusterState, errs []error) string {
		if !hasMeta(cs.VirtualServices, "inv/good") || hasMeta(cs.VirtualServices, "inv/bad") {
			return "virtual services " + mustJSON(cs.VirtualServices)
		}
		var fe *model.FieldError
		if len(errs) != 1 || !errors.As(errs[0], &fe) || fe.Object.String() != "VirtualService inv/bad" || fe.Field != "spec.hosts[0]" {
			return fmt.Sprint("errors ", errs)
		}
		return ""
	})
	if st := s.Status(); st.InvalidObjects != 1 || st.State != StateSynced {
		t.Errorf("status = %+v", st)
	}
	if v, ok := metrictest.Get(t, reg, "meshgate_discovery_invalid_objects", map[string]string{"cluster": "c-inv"}); !ok || v != 1 {
		t.Errorf("invalid objects metric = %v", v)
	}
	applyYAML(t, a, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad, namespace: inv}
spec:
  hosts: ["bookinfo.org"]
  http:
  - route:
    - destination: {host: reviews}
`)
	rec.waitFor(t, "fixed", func(cs *model.ClusterState, errs []error) string {
		if !hasMeta(cs.VirtualServices, "inv/bad") || len(errs) != 0 {
			return fmt.Sprint("errors ", errs)
		}
		return ""
	})
	if v, ok := metrictest.Get(t, reg, "meshgate_discovery_invalid_objects", map[string]string{"cluster": "c-inv"}); !ok || v != 0 {
		t.Errorf("invalid objects metric = %v", v)
	}
}

func applyYAML(t testing.TB, a *applier, y string) {
	t.Helper()
	objs, err := decodeYAML([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range objs {
		if err := a.apply(ctxT(t), u); err != nil {
			t.Fatal(err)
		}
	}
}

// An object whose new version the API server accepts but meshgate rejects
// keeps its last good version, reported as a kept *discovery.Rejection
// naming the object and field; the fix brings the new version in.
func TestInvalidUpdateKeepsTheLastGood(t *testing.T) {
	c := sharedCluster(t)
	kc := clientset(t, c.RESTConfig())
	a := newApplier(t, c.RESTConfig())
	ensureNamespace(t, kc, "lkg", nil)
	vs := func(host string) string {
		return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: keep, namespace: lkg}
spec:
  hosts: ["` + host + `"]
  http:
  - route:
    - destination: {host: reviews}
`
	}
	hostsOf := func(cs *model.ClusterState) string {
		for _, v := range cs.VirtualServices {
			if v.NamespacedName() == "lkg/keep" {
				return strings.Join(v.Hosts, ",")
			}
		}
		return ""
	}
	_, rec := runSource(t, Config{ClusterID: "c-lkg"}, Options{REST: c.RESTConfig()})
	applyYAML(t, a, vs("bookinfo.com"))
	rec.waitFor(t, "the good version", func(cs *model.ClusterState, errs []error) string {
		if h := hostsOf(cs); h != "bookinfo.com" || len(errs) != 0 {
			return fmt.Sprint("hosts ", h, " errors ", errs)
		}
		return ""
	})

	applyYAML(t, a, vs("bookinfo.*"))
	rec.waitFor(t, "the broken version rejected, the last good one served", func(cs *model.ClusterState, errs []error) string {
		var r *discovery.Rejection
		if h := hostsOf(cs); h != "bookinfo.com" || len(errs) != 1 || !errors.As(errs[0], &r) {
			return fmt.Sprint("hosts ", h, " errors ", errs)
		}
		if !r.Kept || r.Object.String() != "VirtualService lkg/keep" || r.Field != "spec.hosts[0]" || r.Origin != "kube:c-lkg" ||
			r.Cluster != "c-lkg" || r.Reason != discovery.ReasonInvalid || r.Since.IsZero() {
			return fmt.Sprintf("rejection %+v", r)
		}
		return ""
	})

	applyYAML(t, a, vs("bookinfo.net"))
	rec.waitFor(t, "the fix served", func(cs *model.ClusterState, errs []error) string {
		if h := hostsOf(cs); h != "bookinfo.net" || len(errs) != 0 {
			return fmt.Sprint("hosts ", h, " errors ", errs)
		}
		return ""
	})
}

// TestNodeLocality: a pod without a locality label runs where its Node's
// topology labels say (not its own labels); a change of them moves its
// endpoint, and without its Node the pod's own labels are all there is.
func TestNodeLocality(t *testing.T) {
	c := sharedCluster(t)
	kc := clientset(t, c.RESTConfig())
	a := newApplier(t, c.RESTConfig())
	ctx := ctxT(t)
	ensureNamespace(t, kc, "nloc", nil)
	_, rec := runSource(t, Config{ClusterID: "c1"}, Options{REST: c.RESTConfig()})
	applyYAML(t, a, `
apiVersion: v1
kind: Node
metadata: {name: nloc-node, labels: {topology.kubernetes.io/region: r1, topology.kubernetes.io/zone: z1, topology.istio.io/subzone: s1}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: nloc}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: nloc}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: nloc, labels: {app: web, topology.kubernetes.io/region: pod-region}}
spec:
  nodeName: nloc-node
  containers: [{name: app, image: web}]
status:
  phase: Running
  podIP: 10.7.0.1
  podIPs: [{ip: 10.7.0.1}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: nloc, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [10.7.0.1]
  targetRef: {kind: Pod, name: web-1, namespace: nloc}
ports: [{name: http, port: 80}]
`)
	host := "web.nloc.svc.cluster.local"
	locality := func(want model.Locality) func(*model.ClusterState, []error) string {
		return func(cs *model.ClusterState, _ []error) string {
			s := cs.Service(host)
			if s == nil || len(s.Endpoints) != 1 || s.Endpoints[0].Locality != want {
				return "service " + mustJSON(s)
			}
			return ""
		}
	}
	rec.waitFor(t, "the node's locality", locality(model.Locality{Region: "r1", Zone: "z1", Subzone: "s1"}))

	n := must[*corev1.Node](t)(kc.CoreV1().Nodes().Get(ctx, "nloc-node", metav1.GetOptions{}))
	n.Labels = map[string]string{"failure-domain.beta.kubernetes.io/region": "r2", "failure-domain.beta.kubernetes.io/zone": "z2"}
	must[any](t)(kc.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}))
	rec.waitFor(t, "the node's new locality", locality(model.Locality{Region: "r2", Zone: "z2"}))

	if err := kc.CoreV1().Nodes().Delete(ctx, "nloc-node", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// the pod's labels as stored: the API server's PodTopologyLabels
	// admission may have copied the node's region and zone onto it
	pod := must[*corev1.Pod](t)(kc.CoreV1().Pods("nloc").Get(ctx, "web-1", metav1.GetOptions{}))
	own := model.Locality{Region: pod.Labels[model.LabelRegion], Zone: pod.Labels[model.LabelZone]}
	if own.Region == "" || own == (model.Locality{Region: "r2", Zone: "z2"}) {
		t.Fatalf("pod labels %v: want a region label that is not the node's current locality", pod.Labels)
	}
	rec.waitFor(t, "the pod's own labels without its node", locality(own))
}
