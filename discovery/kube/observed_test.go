//go:build integration

package kube

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/metrictest"
)

// TestObservedAt: a published state's ObservedAt is when the informer
// delivered the change (after the write, before the publication: the
// holdoff lies between), a rebuild keeps no time of its own for an older
// change, and the debounce stage is observed per publication.
func TestObservedAt(t *testing.T) {
	c := sharedCluster(t)
	kc := clientset(t, c.RESTConfig())
	ensureNamespace(t, kc, "obs", nil)
	reg := newRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	_, rec := runSource(t, Config{ClusterID: "c-obs", Holdoff: 200 * time.Millisecond, MaxDelay: time.Second}, Options{REST: c.RESTConfig(), Metrics: m})
	rec.waitFor(t, "initial state", func(*model.ClusterState, []error) string { return "" })
	host := "obs.obs.svc.cluster.local"
	written := time.Now()
	must[any](t)(kc.CoreV1().Services("obs").Create(ctxT(t), service("obs", "obs", 80), metav1.CreateOptions{}))
	cs := rec.waitFor(t, "the new service", func(cs *model.ClusterState, _ []error) string {
		if cs.Service(host) == nil {
			return "no service " + host
		}
		return ""
	})
	published := time.Now()
	if cs.ObservedAt.Before(written) || !cs.ObservedAt.Before(published.Add(-150*time.Millisecond)) {
		t.Fatalf("ObservedAt %v: want after the write (%v) and at least the 200ms holdoff before its publication (%v)",
			cs.ObservedAt, written, published)
	}
	if n := metrictest.Sum(t, reg, "meshgate_discovery_debounce_seconds", map[string]string{"cluster": "c-obs"}); n < 2 {
		t.Fatalf("debounce stage observed %v times, want one per publication (2)", n)
	}
	h := metrictest.Find(t, reg, "meshgate_discovery_debounce_seconds", map[string]string{"cluster": "c-obs"})
	if sum := h[0].GetHistogram().GetSampleSum(); sum < 0.15 {
		t.Fatalf("debounce stage sums to %vs, want at least one holdoff", sum)
	}
}
