package remote

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/discovery/model"
)

const waitTimeout = 2 * time.Minute

// sink records what a Controller publishes and removes.
type sink struct {
	mu        sync.Mutex
	states    map[string]*model.ClusterState
	publishes map[string]int
	removed   []string
}

func newSink() *sink {
	return &sink{states: map[string]*model.ClusterState{}, publishes: map[string]int{}}
}

func (s *sink) publish(cs *model.ClusterState, _ []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states[cs.ID] = cs
	s.publishes[cs.ID]++
}

func (s *sink) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.states, id)
	s.removed = append(s.removed, id)
}

func (s *sink) state(id string) (*model.ClusterState, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.states[id], s.publishes[id]
}

// waitFor polls cond (which returns "" when satisfied, else what it saw).
func waitFor(t testing.TB, what string, cond func() string) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		why := cond()
		if why == "" {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waiting for %s: %s", what, why)
		}
	}
}

// hasService is a waitFor condition: cluster id's state has host.
func (s *sink) hasService(id, host string) func() string {
	return func() string {
		cs, _ := s.state(id)
		if cs == nil {
			return "no state of " + id
		}
		if cs.Service(host) == nil {
			return fmt.Sprintf("%s has no %s", id, host)
		}
		return ""
	}
}

// runController runs a Controller (and, with watchCfg, its secret watch)
// until the test ends.
func runController(t *testing.T, cfg Config, opts Options, watchCfg *rest.Config) (*Controller, *sink) {
	t.Helper()
	s := newSink()
	opts.Publish, opts.Remove = s.publish, s.remove
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			opts.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
		}
	}
	c, err := NewController(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	if watchCfg != nil {
		wg.Go(func() {
			if err := c.WatchSecrets(ctx, watchCfg); err != nil {
				t.Errorf("WatchSecrets: %v", err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return c, s
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func clientFor(t testing.TB, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 1000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// addService creates namespace ns (if needed), a Service and its
// EndpointSlice with one address.
func addService(t testing.TB, kc kubernetes.Interface, ns, name, addr string) {
	t.Helper()
	ctx := context.Background()
	_, _ = kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := kc.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	port, ready, pname := int32(80), true, "http"
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &port}},
	}
	if _, err := kc.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func debugJSON(t testing.TB, c *Controller) string {
	t.Helper()
	rec := httptest.NewRecorder()
	c.Handler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/clusters", nil))
	return rec.Body.String()
}
