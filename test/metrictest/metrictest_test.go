package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFindGetSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"cluster", "result"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "g"})
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"}, []string{"kind"})
	reg.MustRegister(c, g, h)
	c.WithLabelValues("a", "ok").Add(2)
	c.WithLabelValues("a", "error").Add(3)
	c.WithLabelValues("b", "ok").Add(5)
	g.Set(7)
	h.WithLabelValues("endpoints").Observe(0.1)
	h.WithLabelValues("endpoints").Observe(0.2)

	if n := len(Find(t, reg, "c_total", nil)); n != 3 {
		t.Errorf("Find all = %d series, want 3", n)
	}
	if v, ok := Get(t, reg, "c_total", map[string]string{"cluster": "a", "result": "error"}); !ok || v != 3 {
		t.Errorf("Get exact = %v %v, want 3 true", v, ok)
	}
	if _, ok := Get(t, reg, "c_total", map[string]string{"cluster": "a"}); ok {
		t.Error("Get with a subset of the labels found a series; want exact labels only")
	}
	if _, ok := Get(t, reg, "c_total", map[string]string{"cluster": "c", "result": "ok"}); ok {
		t.Error("Get found an absent series")
	}
	if v := Sum(t, reg, "c_total", map[string]string{"cluster": "a"}); v != 5 {
		t.Errorf("Sum cluster=a = %v, want 5", v)
	}
	if v := Sum(t, reg, "c_total", map[string]string{"result": "ok"}); v != 7 {
		t.Errorf("Sum result=ok = %v, want 7", v)
	}
	if v := Sum(t, reg, "c_total", map[string]string{"result": "nope"}); v != 0 {
		t.Errorf("Sum of nothing = %v, want 0", v)
	}
	if v, ok := Get(t, reg, "g", nil); !ok || v != 7 {
		t.Errorf("gauge = %v %v, want 7", v, ok)
	}
	if v := Sum(t, reg, "h_seconds", map[string]string{"kind": "endpoints"}); v != 2 {
		t.Errorf("histogram count = %v, want 2", v)
	}
}
