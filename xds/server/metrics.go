package server

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics (prefix meshgate_xds_).
type metrics struct {
	connected           prometheus.Gauge
	pushes              *prometheus.CounterVec
	nacks               *prometheus.CounterVec
	rejected            *prometheus.CounterVec
	rebuilds            prometheus.Counter
	rebuildDuration     *prometheus.HistogramVec
	objectErrors        prometheus.Counter
	objectErrorsCurrent prometheus.Gauge
	translateFailures   prometheus.Counter
	ackLatency          *prometheus.HistogramVec
	push                *prometheus.HistogramVec
	ack                 *prometheus.HistogramVec
	convergence         *prometheus.HistogramVec
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshgate_xds_connected_proxies",
			Help: "Proxies (distinct node ids) with at least one open xDS stream.",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_xds_pushes_total",
			Help: "xDS responses sent, by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_xds_nacks_total",
			Help: "xDS responses rejected by proxies (NACK), by resource type.",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_xds_rejected_streams_total",
			Help: "xDS streams refused because of their node (missing, malformed id or metadata, unsupported generator, conflicting metadata).",
		}, []string{"reason"}),
		rebuilds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshgate_xds_rebuilds_total",
			Help: "Debounced rebuild passes.",
		}),
		rebuildDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshgate_xds_rebuild_duration_seconds",
			Help:    "Duration of a rebuild pass: full (translation of every affected group), routes (only the route configurations a VirtualService change touches) or endpoints only.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"kind"}),
		objectErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshgate_xds_object_errors_total",
			Help: "Configuration objects skipped by the translator, counted once per distinct error per rebuild.",
		}),
		objectErrorsCurrent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshgate_xds_object_errors",
			Help: "Distinct configuration object errors in the current configuration.",
		}),
		translateFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshgate_xds_translate_failures_total",
			Help: "Translations that failed as a whole; the proxies kept their last good configuration.",
		}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshgate_xds_config_ack_latency_seconds",
			Help:    "Time from a configuration change reaching the server to a proxy acknowledging the resulting resources, by type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"type"}),
		push: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshgate_xds_push_seconds",
			Help:    "Stage push: time from a configuration change reaching the server to the response carrying it being sent to a proxy, by type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"type"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshgate_xds_ack_seconds",
			Help:    "Stage ack: time from a response being sent to the proxy acknowledging it, by type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"type"}),
		convergence: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "meshgate_mesh_convergence_seconds",
			Help:    "End to end: time from a change observed in its own cluster (the source event there, moved onto this daemon's clock by the estimated clock offset) to a gateway of this daemon acknowledging a version that carries it; once per gateway and change, by origin cluster.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"origin_cluster"}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.connected, m.pushes, m.nacks, m.rejected, m.rebuilds, m.rebuildDuration,
		m.objectErrors, m.objectErrorsCurrent, m.translateFailures, m.ackLatency, m.push, m.ack, m.convergence} {
		errs = append(errs, r.Register(c))
	}
	return m, errors.Join(errs...)
}
