package kube

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of Kubernetes sources, one series per
// cluster. One Metrics serves every source of a daemon (the local cluster
// and each remote cluster); it is safe for concurrent use.
//
//	meshgate_discovery_cluster_state{cluster,state}        1 for the cluster's current state, else 0
//	meshgate_discovery_cluster_last_sync_timestamp_seconds{cluster}
//	meshgate_discovery_cluster_services{cluster}           services in the last published state
//	meshgate_discovery_invalid_objects{cluster}            objects skipped by the last rebuild
//	meshgate_discovery_publishes_total{cluster}            states published
//	meshgate_discovery_debounce_seconds{cluster}           first informer event of a change → its state published
//	meshgate_discovery_api_errors_total{cluster}           failed API requests
//	meshgate_discovery_reconnects_total{cluster}           watches replaced after an outage
type Metrics struct {
	mu      sync.Mutex
	sources map[string]*metricsEntry

	publishes  *prometheus.CounterVec
	apiErrors  *prometheus.CounterVec
	reconnects *prometheus.CounterVec
	debounce   *prometheus.HistogramVec

	stateDesc, lastSyncDesc, servicesDesc, invalidDesc *prometheus.Desc
}

type metricsEntry struct{ status func() Status }

var allStates = []State{StateSyncing, StateSynced, StateTimeout, StateError}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		sources: map[string]*metricsEntry{},
		publishes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_discovery_publishes_total",
			Help: "Cluster states published by a Kubernetes source.",
		}, []string{"cluster"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_discovery_api_errors_total",
			Help: "Failed requests to a cluster's API server (connection errors, 401, 403, 5xx).",
		}, []string{"cluster"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_discovery_reconnects_total",
			Help: "Times a source replaced its watches after an API-server outage, once the server answered again.",
		}, []string{"cluster"}),
		debounce: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshgate_discovery_debounce_seconds",
			Help:    "Stage source: time from the informer delivering the first event of a change to the publication of the state holding it (holdoff, max delay, conversion).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"cluster"}),
		stateDesc: prometheus.NewDesc("meshgate_discovery_cluster_state",
			"State of a watched cluster: 1 for its current state (syncing, synced, timeout, error), else 0.",
			[]string{"cluster", "state"}, nil),
		lastSyncDesc: prometheus.NewDesc("meshgate_discovery_cluster_last_sync_timestamp_seconds",
			"When the cluster's state was last rebuilt from synced, healthy watches (Unix time).",
			[]string{"cluster"}, nil),
		servicesDesc: prometheus.NewDesc("meshgate_discovery_cluster_services",
			"Services in the cluster's last published state.", []string{"cluster"}, nil),
		invalidDesc: prometheus.NewDesc("meshgate_discovery_invalid_objects",
			"Objects skipped by the cluster's last rebuild because they are invalid (see the log for each).",
			[]string{"cluster"}, nil),
	}
	for _, c := range []prometheus.Collector{m.publishes, m.apiErrors, m.reconnects, m.debounce, m} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// register adds a source's status; the returned function removes it (and
// the cluster's counters) unless another source registered the same
// cluster since.
func (m *Metrics) register(cluster string, status func() Status) (unregister func()) {
	if m == nil {
		return func() {}
	}
	e := &metricsEntry{status: status}
	m.mu.Lock()
	m.sources[cluster] = e
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.sources[cluster] == e {
			delete(m.sources, cluster)
			m.publishes.DeleteLabelValues(cluster)
			m.apiErrors.DeleteLabelValues(cluster)
			m.reconnects.DeleteLabelValues(cluster)
			m.debounce.DeleteLabelValues(cluster)
		}
	}
}

func (m *Metrics) published(cluster string, observedAt time.Time) {
	if m != nil {
		m.publishes.WithLabelValues(cluster).Inc()
		m.debounce.WithLabelValues(cluster).Observe(time.Since(observedAt).Seconds())
	}
}

func (m *Metrics) reconnected(cluster string) {
	if m != nil {
		m.reconnects.WithLabelValues(cluster).Inc()
	}
}

func (m *Metrics) apiError(cluster string) {
	if m != nil {
		m.apiErrors.WithLabelValues(cluster).Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.stateDesc
	ch <- m.lastSyncDesc
	ch <- m.servicesDesc
	ch <- m.invalidDesc
}

// Collect implements prometheus.Collector: it reads every source's Status.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	entries := make(map[string]*metricsEntry, len(m.sources))
	for k, v := range m.sources {
		entries[k] = v
	}
	m.mu.Unlock()
	for cluster, e := range entries {
		st := e.status()
		for _, s := range allStates {
			v := 0.0
			if st.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(m.stateDesc, prometheus.GaugeValue, v, cluster, string(s))
		}
		if !st.LastSyncTime.IsZero() {
			ch <- prometheus.MustNewConstMetric(m.lastSyncDesc, prometheus.GaugeValue,
				float64(st.LastSyncTime.UnixNano())/1e9, cluster)
		}
		ch <- prometheus.MustNewConstMetric(m.servicesDesc, prometheus.GaugeValue, float64(st.Services), cluster)
		ch <- prometheus.MustNewConstMetric(m.invalidDesc, prometheus.GaugeValue, float64(st.InvalidObjects), cluster)
	}
}
