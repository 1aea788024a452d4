//go:build integration

package kube

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/metrictest"
)

// waitStatus polls s.Status until cond holds (bounded by waitTimeout).
func waitStatus(t testing.TB, what string, status func() Status, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st := status()
		if cond(st) {
			return st
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waiting for %s: status %+v", what, st)
		}
	}
}

// Nothing is published before the initial sync: with etcd stopped the API
// server cannot answer lists, the source reports timeout (then error when
// the API server gives up) and publishes nothing; once etcd is back, the
// first state it publishes already holds every object.
func TestNothingPublishedBeforeSync(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "presync", SkipIstioCRDs: false})
	kc := clientset(t, c.RESTConfig())
	ctx := ctxT(t)
	ensureNamespace(t, kc, "bulk", nil)
	const n = 100
	for i := range n {
		must[any](t)(kc.CoreV1().Services("bulk").Create(ctx, service("bulk", fmt.Sprintf("s%03d", i), 80), metav1.CreateOptions{}))
	}
	if err := c.StopEtcd(); err != nil {
		t.Fatal(err)
	}
	reg := newRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, rec := runSource(t, Config{ClusterID: "c-pre", SyncTimeout: time.Second}, Options{REST: c.RESTConfig(), Metrics: m})
	st := waitStatus(t, "timeout", s.Status, func(st Status) bool { return st.State == StateTimeout || st.State == StateError })
	t.Logf("without etcd: %s (last error %q)", st.State, st.LastError)
	if st.State == StateTimeout {
		if v, ok := metrictest.Get(t, reg, "meshgate_discovery_cluster_state", map[string]string{"cluster": "c-pre", "state": "timeout"}); !ok || v != 1 {
			t.Errorf("state metric timeout = %v", v)
		}
	}
	if rec.count() != 0 || s.HasSynced() {
		t.Fatalf("published before the initial sync: %d states", rec.count())
	}
	if err := c.StartEtcd(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "the first state", func(*model.ClusterState, []error) string { return "" })
	rec.mu.Lock()
	first := rec.states[0]
	rec.mu.Unlock()
	got := 0
	for _, svc := range first.Services {
		if svc.Namespace == "bulk" {
			got++
		}
	}
	if got != n {
		t.Errorf("the first published state has %d of the %d services", got, n)
	}
	waitStatus(t, "synced", s.Status, func(st Status) bool { return st.State == StateSynced })
}

// The local API server killed and restarted: the source keeps its last
// good state (nothing is published while it is down), reports error with
// the failed request, and recovers: changes made after the restart arrive.
func TestAPIServerRestart(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "restart"})
	kc := clientset(t, c.RESTConfig())
	ctx := ctxT(t)
	ensureNamespace(t, kc, "r", nil)
	must[any](t)(kc.CoreV1().Services("r").Create(ctx, service("r", "before", 80), metav1.CreateOptions{}))
	reg := newRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, rec := runSource(t, Config{ClusterID: "c-r"}, Options{REST: c.RESTConfig(), Metrics: m})
	rec.waitFor(t, "before", func(cs *model.ClusterState, _ []error) string {
		if cs.Service("before.r.svc.cluster.local") == nil {
			return "missing"
		}
		return ""
	})
	n := rec.count()
	if err := c.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	// The first failure a killed server causes may be a reset of an open
	// watch ("connection reset by peer"); every request after it (the
	// reconnect probe runs each second) is refused, and LastError is the most
	// recent one: wait for that, it is what the status says while down.
	st := waitStatus(t, "error", s.Status, func(st Status) bool {
		return st.State == StateError && strings.Contains(st.LastError, "connection refused")
	})
	if len(st.Failing) == 0 {
		t.Errorf("status while down = %+v", st)
	}
	if v, ok := metrictest.Get(t, reg, "meshgate_discovery_cluster_state", map[string]string{"cluster": "c-r", "state": "error"}); !ok || v != 1 {
		t.Errorf("state metric error = %v", v)
	}
	if v, ok := metrictest.Get(t, reg, "meshgate_discovery_api_errors_total", map[string]string{"cluster": "c-r"}); !ok || v < 1 {
		t.Errorf("api errors metric = %v", v)
	}
	if rec.count() != n || s.Last().Service("before.r.svc.cluster.local") == nil {
		t.Fatalf("state changed while the API server was down: %d publishes, last %+v", rec.count()-n, s.Last().Services)
	}
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	must[any](t)(kc.CoreV1().Services("r").Create(ctx, service("r", "after", 80), metav1.CreateOptions{}))
	rec.waitFor(t, "after, and before kept", func(cs *model.ClusterState, _ []error) string {
		if cs.Service("before.r.svc.cluster.local") == nil || cs.Service("after.r.svc.cluster.local") == nil {
			return "missing"
		}
		return ""
	})
	st = waitStatus(t, "synced", s.Status, func(st Status) bool { return st.State == StateSynced })
	if st.LastSyncTime.IsZero() || st.LastError == "" {
		t.Errorf("status after recovery = %+v", st)
	}
}

// Without Istio's CRDs the source cannot sync: it says why (error naming
// the missing resource) instead of waiting silently, and publishes nothing.
func TestMissingIstioCRDs(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "nocrds", SkipIstioCRDs: true})
	s, rec := runSource(t, Config{ClusterID: "c-nocrd"}, Options{REST: c.RESTConfig()})
	st := waitStatus(t, "error", s.Status, func(st Status) bool { return st.State == StateError })
	if !strings.Contains(st.LastError, "networking.istio.io") || !strings.Contains(st.LastError, "CRDs installed") {
		t.Errorf("status = %+v", st)
	}
	if rec.count() != 0 {
		t.Error("published without the Istio configuration")
	}
	// a remote cluster (ServicesOnly) needs no Istio CRDs
	r, rrec := runSource(t, Config{ClusterID: "c-remote", ServicesOnly: true}, Options{REST: c.RESTConfig()})
	rrec.waitFor(t, "a services-only state", func(*model.ClusterState, []error) string { return "" })
	if st := r.Status(); st.State != StateSynced {
		t.Errorf("services-only status = %+v", st)
	}
}

// After a long outage client-go's reflectors wait 30–60 s between retries.
// The source probes the API server and, once it answers, replaces its
// watches (informers and credential Secret watches): a Service and a
// rotated certificate written right after the server returns arrive within
// seconds, the last good state was kept throughout, and Status and the
// metric count the reconnect.
func TestReconnectAfterOutage(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "reconnect"})
	kc := clientset(t, c.RESTConfig())
	a := newApplier(t, c.RESTConfig())
	ctx := ctxT(t)
	ensureNamespace(t, kc, "r", nil)
	ensureNamespace(t, kc, "istio-system", nil)
	cert := func(v string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-cert", Namespace: "istio-system"},
			Data: map[string][]byte{"tls.crt": []byte(v), "tls.key": []byte("key")}}
	}
	must[any](t)(kc.CoreV1().Secrets("istio-system").Create(ctx, cert("v1"), metav1.CreateOptions{}))
	applyYAML(t, a, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["web.example.com"]
    tls: {mode: SIMPLE, credentialName: web-cert}
`)
	certIs := func(v string) func(*model.ClusterState) bool {
		return func(cs *model.ClusterState) bool {
			for _, s := range cs.Secrets {
				if s.Name == "web-cert" && string(s.Data["tls.crt"]) == v {
					return true
				}
			}
			return false
		}
	}
	reg := newRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, rec := runSource(t, Config{ClusterID: "c-rc", ReconnectProbe: 200 * time.Millisecond}, Options{REST: c.RESTConfig(), Metrics: m})
	rec.waitFor(t, "the certificate", func(cs *model.ClusterState, _ []error) string {
		if !certIs("v1")(cs) {
			return "missing"
		}
		return ""
	})
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, "error", s.Status, func(st Status) bool { return st.State == StateError })
	// The outage itself, not a wait for an outcome: it must last long
	// enough for the reflectors' retry backoff to grow past 10 s, which is
	// what the reconnect exists to cut short. No event marks that point.
	time.Sleep(30 * time.Second)
	if !certIs("v1")(s.Last()) {
		t.Fatal("the last good state was not kept during the outage")
	}
	restart := time.Now()
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	must[any](t)(kc.CoreV1().Services("r").Create(ctx, service("r", "after", 80), metav1.CreateOptions{}))
	must[any](t)(kc.CoreV1().Secrets("istio-system").Update(ctx, cert("v2"), metav1.UpdateOptions{}))
	rec.waitFor(t, "the Service and the certificate written after the outage", func(cs *model.ClusterState, _ []error) string {
		if cs.Service("after.r.svc.cluster.local") == nil || !certIs("v2")(cs) {
			return "missing"
		}
		return ""
	})
	took := time.Since(back)
	st := waitStatus(t, "synced", s.Status, func(st Status) bool { return st.State == StateSynced })
	if st.Reconnects < 1 {
		t.Errorf("status after the outage = %+v: want a reconnect", st)
	}
	if v, ok := metrictest.Get(t, reg, "meshgate_discovery_reconnects_total", map[string]string{"cluster": "c-rc"}); !ok || v < 1 {
		t.Errorf("reconnects metric = %v", v)
	}
	t.Logf("FIGURE reconnect: after a 30 s outage, changes written when the API server was ready (%s after its start) were published %s later (%d reconnects)",
		back.Sub(restart).Round(time.Millisecond), took.Round(time.Millisecond), st.Reconnects)
}
