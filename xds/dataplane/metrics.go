package dataplane

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus metrics (prefix meshgate_gateway_).
// Listener and cluster labels are resource names.
type metrics struct {
	cxTotal                      *prometheus.CounterVec
	cxActive                     *prometheus.GaugeVec
	noChainMatch                 *prometheus.CounterVec
	bytesRx, bytesTx             *prometheus.CounterVec
	inspectorErrors              *prometheus.CounterVec
	downstreamTLSFail            *prometheus.CounterVec
	drainClosed                  *prometheus.CounterVec
	upCx, upConnectFail, upRetry *prometheus.CounterVec
	upNoHealthy, upOverflow      *prometheus.CounterVec
	upTLSConfig                  *prometheus.CounterVec
	ejections                    *prometheus.CounterVec
	ejectedActive                *prometheus.GaugeVec
	xdsApplied, xdsNACKs         *prometheus.CounterVec
	xdsVersion                   *prometheus.GaugeVec
	xdsConnected                 prometheus.Gauge
	xdsStreams                   prometheus.Counter
	xdsServer                    *prometheus.GaugeVec
	xdsFailovers                 prometheus.Counter
	listenersDraining            prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry) *metrics {
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "meshgate", Subsystem: "gateway", Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	gv := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "meshgate", Subsystem: "gateway", Name: name, Help: help}, labels)
		reg.MustRegister(g)
		return g
	}
	g := func(name, help string) prometheus.Gauge {
		x := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "meshgate", Subsystem: "gateway", Name: name, Help: help})
		reg.MustRegister(x)
		return x
	}
	m := &metrics{
		cxTotal:           cv("downstream_cx_total", "Downstream connections accepted.", "listener"),
		cxActive:          gv("downstream_cx_active", "Downstream connections open.", "listener"),
		noChainMatch:      cv("downstream_cx_no_filter_chain_match_total", "Connections closed because no filter chain matched.", "listener"),
		bytesRx:           cv("downstream_cx_rx_bytes_total", "Bytes received from downstream.", "listener"),
		bytesTx:           cv("downstream_cx_tx_bytes_total", "Bytes sent to downstream.", "listener"),
		inspectorErrors:   cv("tls_inspector_errors_total", "Connections the TLS inspector could not read (reason: timeout, too_large, malformed, read).", "listener", "reason"),
		downstreamTLSFail: cv("downstream_tls_handshake_failures_total", "Failed downstream TLS handshakes (terminating filter chains).", "listener"),
		drainClosed:       cv("downstream_cx_drain_closed_total", "Connections closed when their drain timeout expired.", "listener"),
		upCx:              cv("upstream_cx_total", "Upstream connections established.", "cluster"),
		upConnectFail:     cv("upstream_cx_connect_fail_total", "Failed upstream connects (TCP or TLS handshake).", "cluster"),
		upRetry:           cv("upstream_cx_retries_total", "Upstream connect attempts after the first.", "cluster"),
		upNoHealthy:       cv("upstream_cx_none_healthy_total", "Connections closed because the cluster was unknown or had no endpoint left.", "cluster"),
		upOverflow:        cv("upstream_cx_overflow_total", "Connections refused by the cluster's max_connections circuit breaker.", "cluster"),
		upTLSConfig:       cv("upstream_tls_config_errors_total", "Upstream connects abandoned because TLS settings could not be built (e.g. SDS secret missing).", "cluster"),
		ejections:         cv("outlier_ejections_total", "Endpoints ejected by outlier detection.", "cluster"),
		ejectedActive:     gv("outlier_ejections_active", "Endpoints currently ejected.", "cluster"),
		xdsApplied:        cv("xds_config_applied_total", "xDS responses accepted and applied (type: lds, cds, eds, sds).", "type"),
		xdsNACKs:          cv("xds_nacks_total", "xDS responses rejected (NACKs sent).", "type"),
		xdsVersion:        gv("xds_config_version_info", "Version of the applied config per type (value 1).", "type", "version"),
		xdsConnected:      g("xds_connected", "1 while the ADS stream is up."),
		xdsStreams:        prometheus.NewCounter(prometheus.CounterOpts{Namespace: "meshgate", Subsystem: "gateway", Name: "xds_streams_total", Help: "ADS streams opened."}),
		xdsServer:         gv("xds_server", "1 for the xDS address in use, 0 for the other addresses given (replicas of the daemon).", "address"),
		xdsFailovers:      prometheus.NewCounter(prometheus.CounterOpts{Namespace: "meshgate", Subsystem: "gateway", Name: "xds_failovers_total", Help: "ADS streams that ended and moved at once to the next xDS address."}),
		listenersDraining: g("listeners_draining", "Removed or replaced listeners whose connections are still draining."),
	}
	reg.MustRegister(m.xdsStreams, m.xdsFailovers)
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// clusterObserver feeds lb ejection events into metrics.
type clusterObserver struct {
	m       *metrics
	cluster string
	log     func(msg string, args ...any)
}

func (o *clusterObserver) OnEject(addr string, d time.Duration) {
	o.m.ejections.WithLabelValues(o.cluster).Inc()
	o.m.ejectedActive.WithLabelValues(o.cluster).Inc()
	o.log("endpoint ejected", "cluster", o.cluster, "endpoint", addr, "for", d)
}

func (o *clusterObserver) OnUneject(addr string) {
	o.m.ejectedActive.WithLabelValues(o.cluster).Dec()
	o.log("endpoint back from ejection", "cluster", o.cluster, "endpoint", addr)
}
