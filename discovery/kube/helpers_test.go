package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/meshgate/meshgate/test/kubeapply"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/discovery/model"
)

// waitTimeout bounds every wait for a condition in these tests; a test that
// reaches it fails with what it last saw (it is not a performance limit).
const waitTimeout = 90 * time.Second

// recorder collects what a Source publishes.
type recorder struct {
	mu     sync.Mutex
	states []*model.ClusterState
	errs   [][]error
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) publish(mesh *model.MeshState, objErrs []error, err error) {
	r.mu.Lock()
	if err != nil {
		panic("kube source published an error: " + err.Error())
	}
	if len(mesh.Clusters) != 1 {
		panic(fmt.Sprintf("kube source published %d clusters", len(mesh.Clusters)))
	}
	r.states = append(r.states, mesh.Clusters[0])
	r.errs = append(r.errs, objErrs)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.states)
}

func (r *recorder) last() (*model.ClusterState, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return nil, nil
	}
	return r.states[len(r.states)-1], r.errs[len(r.errs)-1]
}

// waitFor waits until the last published state satisfies cond (cond
// returns "" when satisfied, else what is missing) and returns it.
func (r *recorder) waitFor(t testing.TB, what string, cond func(c *model.ClusterState, errs []error) string) *model.ClusterState {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var why string
	for {
		if c, errs := r.last(); c != nil {
			if why = cond(c, errs); why == "" {
				return c
			}
		} else {
			why = "nothing published yet"
		}
		select {
		case <-r.notify:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waiting for %s: %s", what, why)
		}
	}
}

// runSource runs a Source until the test ends.
func runSource(t testing.TB, cfg Config, opts Options) (*Source, *recorder) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rec.publish) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s, rec
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func clientset(t testing.TB, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 1000 // no client-side throttling in tests
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ensureNamespace(t testing.TB, kc kubernetes.Interface, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := kc.CoreV1().Namespaces().Create(ctxT(t), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// service builds a one-port Service.
func service(ns, name string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
}

// slice builds an EndpointSlice for service ns/svc with the given ready addresses.
func slice(ns, svc, name string, port int32, addrs ...string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(port)}},
	}
	for _, a := range addrs {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
	}
	return es
}

func ptr[T any](v T) *T { return &v }

// addresses lists a service's endpoint addresses ("" if the service is absent).
func addresses(c *model.ClusterState, host string) []string {
	s := c.Service(host)
	if s == nil {
		return nil
	}
	var out []string
	for _, e := range s.Endpoints {
		out = append(out, e.Address)
	}
	return out
}

// objOf names an object for applier.delete.
func objOf(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	return kubeapply.Object(apiVersion, kind, ns, name)
}

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

type (
	gatewayT         = networkingv1.Gateway
	destinationRuleT = networkingv1.DestinationRule
)

// decodeIstio decodes Istio objects from YAML with their generated JSON
// decoding (the Kubernetes JSON of their specs).
func decodeIstio[T any](y string) ([]*T, error) {
	docs, err := decodeYAML([]byte(y))
	if err != nil {
		return nil, err
	}
	var out []*T
	for _, d := range docs {
		b, err := d.MarshalJSON()
		if err != nil {
			return nil, err
		}
		v := new(T)
		if err := json.Unmarshal(b, v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
