package file

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the file source's Prometheus metrics (Options.Metrics):
//
//	meshgate_discovery_debounce_seconds{cluster}   stage source: first file event of a change → the state holding it published
//
// The name and meaning are the Kubernetes source's (discovery/kube): a
// daemon runs one of the two, so the source stage of convergence reads the
// same whichever it runs. Safe for concurrent use; a nil *Metrics records
// nothing.
type Metrics struct {
	debounce *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{debounce: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "meshgate_discovery_debounce_seconds",
		Help:    "Stage source: time from the first file event of a change (fsnotify) to the publication of the state holding it (holdoff, max delay, reload).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"cluster"})}
	if err := reg.Register(m.debounce); err != nil {
		return nil, err
	}
	return m, nil
}

// published records, for a cluster whose content a reload changed, the
// time from the first event of the burst to now (the publication).
func (m *Metrics) published(cluster string, firstEvent time.Time) {
	if m != nil {
		m.debounce.WithLabelValues(cluster).Observe(time.Since(firstEvent).Seconds())
	}
}
