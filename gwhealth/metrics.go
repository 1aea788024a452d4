package gwhealth

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	up          *prometheus.GaugeVec
	probes      *prometheus.CounterVec
	transitions *prometheus.CounterVec
	rtt         *prometheus.HistogramVec
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshgate_gateway_probe_up",
			Help: "1 while a probed east-west gateway of another network is not down (up or unknown), 0 while it is down."}, []string{"gateway"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_gateway_probes_total",
			Help: "Probes of east-west gateways by result (ok, refused, connect_timeout, no_answer, unreachable, error)."}, []string{"gateway", "result"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_gateway_probe_transitions_total",
			Help: "Changes of a probed gateway's state between up and down, by the state entered."}, []string{"gateway", "state"}),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "meshgate_gateway_probe_rtt_seconds",
			Help:    "Connect + answer time of answered gateway probes.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2}}, []string{"gateway"}),
	}
	if r == nil {
		return m, nil
	}
	return m, errors.Join(r.Register(m.up), r.Register(m.probes), r.Register(m.transitions), r.Register(m.rtt))
}

func (m *metrics) setState(gw string, s State) {
	v := 1.0
	if s == Down {
		v = 0
	}
	m.up.WithLabelValues(gw).Set(v)
}

// forget drops a gateway that is no longer probed.
func (m *metrics) forget(gw string) {
	l := prometheus.Labels{"gateway": gw}
	m.up.DeletePartialMatch(l)
	m.probes.DeletePartialMatch(l)
	m.transitions.DeletePartialMatch(l)
	m.rtt.DeletePartialMatch(l)
}
