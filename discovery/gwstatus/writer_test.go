//go:build integration

package gwstatus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/kubeapply"
	"github.com/meshgate/meshgate/test/kubetest"
)

const world = `
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: Service
metadata: {name: gw-svc, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: gw-svc-1, namespace: istio-system, labels: {kubernetes.io/service-name: gw-svc}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: [10.0.0.5], conditions: {ready: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: apps}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: gw-svc}]
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: good, namespace: apps}
spec:
  parentRefs: [{name: web, namespace: istio-system}, {name: elsewhere, namespace: istio-system}]
  hostnames: [echo.example.com]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: missing, namespace: apps}
spec:
  parentRefs: [{name: web, namespace: istio-system}]
  rules: [{backendRefs: [{name: nosuch, port: 80}]}]
`

// TestWriter runs the Kubernetes source and the Writer against a real API
// server with the Gateway API CRDs: the GatewayClass istio is Accepted; the
// Gateway, whose Service has endpoints on the listener's port, is Accepted
// and Programmed with its Service's hostname as its address and one route
// per listener; a route to an existing backend is Accepted with
// ResolvedRefs True, one to a missing Service ResolvedRefs False
// BackendNotFound. Another controller's parent entry on a route stays as
// it was. A second Run (a new leadership term) writes a new route's status
// and does not write again the objects whose status did not change.
func TestWriter(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "gwstatus"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := kubetest.InstallGatewayAPICRDs(ctx, c.RESTConfig(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyYAML(ctx, []byte(world)); err != nil {
		t.Fatal(err)
	}
	gc := gwclient.NewForConfigOrDie(c.RESTConfig())
	// another controller already wrote its parent into the route's status
	good, err := gc.GatewayV1().HTTPRoutes("apps").Get(ctx, "good", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	theirs := gwv1.RouteParentStatus{ParentRef: good.Spec.ParentRefs[1], ControllerName: "example.com/other",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: "True", Reason: "Accepted", Message: "theirs", LastTransitionTime: metav1.Now()}}}
	good.Status.Parents = []gwv1.RouteParentStatus{theirs}
	if _, err := gc.GatewayV1().HTTPRoutes("apps").UpdateStatus(ctx, good, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	w, err := New(Config{ClusterID: "cluster-a"}, Options{REST: c.RESTConfig(), Logger: log, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	src, err := kube.New(kube.Config{ClusterID: "cluster-a"}, kube.Options{REST: c.RESTConfig(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = src.Run(ctx, func(m *model.MeshState, _ []error, _ error) { w.Update(m) }) })
	// the first term: a Run of its own
	term, endTerm := context.WithCancel(ctx)
	termDone := make(chan struct{})
	go func() {
		defer close(termDone)
		if err := w.Run(term); err != nil {
			t.Errorf("writer: %v", err)
		}
	}()

	wait := watcher(t, ctx, gc)
	var rv map[string]string
	wait("Gateway Programmed, routes' parents written", func(o objects) string {
		cls, gw, good, missing := o.classes["istio"], o.gateways["istio-system/web"], o.routes["apps/good"], o.routes["apps/missing"]
		if cls == nil || gw == nil || good == nil || missing == nil {
			return "objects not cached yet"
		}
		if got := condString(cls.Status.Conditions, "Accepted"); got != "True/Accepted: Handled by Istio controller" {
			return "class: " + got
		}
		for typ, want := range map[string]string{
			"Accepted":     "True/Accepted: Resource accepted",
			"Programmed":   "True/Programmed: Resource programmed, assigned to service(s) gw-svc.istio-system.svc.cluster.local:80",
			"ResolvedRefs": "True/ResolvedRefs: All references resolved",
		} {
			if got := condString(gw.Status.Conditions, typ); got != want {
				return fmt.Sprintf("gateway %s: %s", typ, got)
			}
		}
		if c := meta.FindStatusCondition(gw.Status.Conditions, "Programmed"); c.ObservedGeneration != gw.Generation {
			return fmt.Sprintf("gateway observedGeneration %d, generation %d", c.ObservedGeneration, gw.Generation)
		}
		if len(gw.Status.Addresses) != 1 || gw.Status.Addresses[0].Value != "gw-svc.istio-system.svc.cluster.local" ||
			*gw.Status.Addresses[0].Type != gwv1.HostnameAddressType {
			return fmt.Sprintf("gateway addresses %+v", gw.Status.Addresses)
		}
		if len(gw.Status.Listeners) != 1 || gw.Status.Listeners[0].AttachedRoutes != 2 ||
			condString(gw.Status.Listeners[0].Conditions, "Programmed") != "True/Programmed: No errors found" {
			return fmt.Sprintf("gateway listeners %+v", gw.Status.Listeners)
		}
		if n := len(good.Status.Parents); n != 2 {
			return fmt.Sprintf("good: %d parents", n)
		}
		if good.Status.Parents[0].ControllerName != "example.com/other" || good.Status.Parents[0].Conditions[0].Message != "theirs" {
			return fmt.Sprintf("good: the other controller's parent changed: %+v", good.Status.Parents[0])
		}
		ours := good.Status.Parents[1]
		if ours.ControllerName != "istio.io/gateway-controller" || ours.ParentRef.Name != "web" ||
			condString(ours.Conditions, "Accepted") != "True/Accepted: Route was valid" ||
			condString(ours.Conditions, "ResolvedRefs") != "True/ResolvedRefs: All references resolved" {
			return fmt.Sprintf("good: %+v", ours)
		}
		if len(missing.Status.Parents) != 1 {
			return fmt.Sprintf("missing: %d parents", len(missing.Status.Parents))
		}
		m := missing.Status.Parents[0]
		if condString(m.Conditions, "Accepted") != "True/Accepted: Route was valid" ||
			condString(m.Conditions, "ResolvedRefs") != "False/BackendNotFound: backend(nosuch.apps.svc.cluster.local) not found" {
			return fmt.Sprintf("missing: %+v", m.Conditions)
		}
		rv = o.versions()
		return ""
	})
	// A new term (the daemon runs Run again each time the replica leads):
	// new informers, the newest state written.
	endTerm()
	<-termDone
	writes := testutil.ToFloat64(w.writes.WithLabelValues("Gateway", "ok"))
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("writer, second term: %v", err)
		}
	})

	// A new route: written, and (the same reconcile pass) nothing else.
	if err := a.ApplyYAML(ctx, []byte(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: later, namespace: apps}
spec:
  parentRefs: [{name: web, namespace: istio-system, sectionName: nope}]
`)); err != nil {
		t.Fatal(err)
	}
	wait("the new route's parent, and attachedRoutes unchanged", func(o objects) string {
		later := o.routes["apps/later"]
		if later == nil || len(later.Status.Parents) != 1 {
			return "later: no status"
		}
		if got := condString(later.Status.Parents[0].Conditions, "Accepted"); got != `False/NoMatchingParent: sectionName "nope" not found` {
			return "later: " + got
		}
		for k, v := range rv {
			if o.versions()[k] != v {
				return fmt.Sprintf("%s written again (resourceVersion %s → %s)", k, v, o.versions()[k])
			}
		}
		return ""
	})
	cancel()
	wg.Wait() // the writer has counted its last write (a watcher may see a write before the writer counts it)
	if got := testutil.ToFloat64(w.writes.WithLabelValues("Gateway", "ok")); got != writes {
		t.Errorf("Gateway writes %v → %v with its status unchanged", writes, got)
	}
	t.Logf("FIGURE gatewayapi status writes: Gateway %v ok %v stale, HTTPRoute %v ok %v stale, GatewayClass %v ok",
		testutil.ToFloat64(w.writes.WithLabelValues("Gateway", "ok")), testutil.ToFloat64(w.writes.WithLabelValues("Gateway", "stale")),
		testutil.ToFloat64(w.writes.WithLabelValues("HTTPRoute", "ok")), testutil.ToFloat64(w.writes.WithLabelValues("HTTPRoute", "stale")),
		testutil.ToFloat64(w.writes.WithLabelValues("GatewayClass", "ok")))
}

func condString(cs []metav1.Condition, typ string) string {
	c := meta.FindStatusCondition(cs, typ)
	if c == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
}

// objects are the cached Gateway API objects, by [namespace/]name.
type objects struct {
	classes  map[string]*gwv1.GatewayClass
	gateways map[string]*gwv1.Gateway
	routes   map[string]*gwv1.HTTPRoute
}

func (o objects) versions() map[string]string {
	out := map[string]string{}
	for k, v := range o.classes {
		out["GatewayClass "+k] = v.ResourceVersion
	}
	for k, v := range o.gateways {
		out["Gateway "+k] = v.ResourceVersion
	}
	for k, v := range o.routes {
		if !strings.HasSuffix(k, "/later") {
			out["HTTPRoute "+k] = v.ResourceVersion
		}
	}
	return out
}

// watcher returns wait(what, check): check runs on the cached objects at
// every change until it returns "" (or the test's context ends: fatal with
// its last answer).
func watcher(t *testing.T, ctx context.Context, gc gwclient.Interface) func(string, func(objects) string) {
	f := gwinformers.NewSharedInformerFactory(gc, 0)
	v1 := f.Gateway().V1()
	changed := make(chan struct{}, 1)
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke(changed) },
		UpdateFunc: func(any, any) { poke(changed) },
		DeleteFunc: func(any) { poke(changed) },
	}
	for _, inf := range []cache.SharedIndexInformer{v1.GatewayClasses().Informer(), v1.Gateways().Informer(), v1.HTTPRoutes().Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			t.Fatal(err)
		}
	}
	f.Start(ctx.Done())
	t.Cleanup(f.Shutdown)
	f.WaitForCacheSync(ctx.Done())
	return func(what string, check func(objects) string) {
		t.Helper()
		last := ""
		for {
			o := objects{classes: map[string]*gwv1.GatewayClass{}, gateways: map[string]*gwv1.Gateway{}, routes: map[string]*gwv1.HTTPRoute{}}
			cls, _ := v1.GatewayClasses().Lister().List(everything())
			for _, x := range cls {
				o.classes[x.Name] = x
			}
			gws, _ := v1.Gateways().Lister().List(everything())
			for _, x := range gws {
				o.gateways[x.Namespace+"/"+x.Name] = x
			}
			rs, _ := v1.HTTPRoutes().Lister().List(everything())
			for _, x := range rs {
				o.routes[x.Namespace+"/"+x.Name] = x
			}
			if last = check(o); last == "" {
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("%s: never; last: %s", what, last)
			}
		}
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func everything() labels.Selector { return labels.Everything() }

// TestWriterCRDsInstalledLater starts the Kubernetes source and the Writer
// on an API server without the Gateway API CRDs, then installs them and
// applies a Gateway and routes: both notice the CRDs at their next recheck
// (no restart, no new term) and the status is written as in TestWriter.
func TestWriterCRDsInstalledLater(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "gwstatus-later"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var core, gwapi []string
	for _, doc := range strings.Split(world, "\n---\n") {
		if strings.Contains(doc, "gateway.networking.k8s.io/") {
			gwapi = append(gwapi, doc)
		} else {
			core = append(core, doc)
		}
	}
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyYAML(ctx, []byte(strings.Join(core, "\n---\n"))); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	const recheck = 300 * time.Millisecond
	w, err := New(Config{ClusterID: "cluster-a", RecheckInterval: recheck}, Options{REST: c.RESTConfig(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	src, err := kube.New(kube.Config{ClusterID: "cluster-a", GatewayAPIRecheck: recheck}, kube.Options{REST: c.RESTConfig(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		_ = src.Run(ctx, func(m *model.MeshState, _ []error, _ error) { w.Update(m); poke(published) })
	})
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("writer: %v", err)
		}
	})
	select { // both run without the CRDs: the source has published its first state
	case <-published:
	case <-ctx.Done():
		t.Fatal("the source never published")
	}

	start := time.Now()
	if err := kubetest.InstallGatewayAPICRDs(ctx, c.RESTConfig(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyYAML(ctx, []byte(strings.Join(gwapi, "\n---\n"))); err != nil {
		t.Fatal(err)
	}
	wait := watcher(t, ctx, gwclient.NewForConfigOrDie(c.RESTConfig()))
	wait("status written after the CRDs appeared", func(o objects) string {
		cls, gw, missing := o.classes["istio"], o.gateways["istio-system/web"], o.routes["apps/missing"]
		if cls == nil || gw == nil || missing == nil {
			return "objects not cached yet"
		}
		if got := condString(cls.Status.Conditions, "Accepted"); got != "True/Accepted: Handled by Istio controller" {
			return "class: " + got
		}
		if got := condString(gw.Status.Conditions, "Programmed"); !strings.HasPrefix(got, "True/Programmed:") {
			return "gateway Programmed: " + got
		}
		if len(missing.Status.Parents) != 1 ||
			condString(missing.Status.Parents[0].Conditions, "ResolvedRefs") != "False/BackendNotFound: backend(nosuch.apps.svc.cluster.local) not found" {
			return fmt.Sprintf("missing: %+v", missing.Status.Parents)
		}
		return ""
	})
	t.Logf("FIGURE gatewayapi status after CRD install: %s (recheck every %s; includes installing the CRDs)",
		time.Since(start).Round(time.Millisecond), recheck)
}
