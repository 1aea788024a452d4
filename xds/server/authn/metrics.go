package authn

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	authn   *prometheus.CounterVec
	reviews *prometheus.CounterVec
	cache   *prometheus.CounterVec
	cached  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		authn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_xds_authn_total",
			Help: "Callers of the secure xDS port by method (x509-svid, kube-token, none), result (accepted, refused) and reason (ok or why refused, including node_mismatch).",
		}, []string{"method", "result", "reason"}),
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_xds_authn_token_reviews_total",
			Help: "TokenReview calls by result (authenticated, unauthenticated, error).",
		}, []string{"result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_xds_authn_token_cache_total",
			Help: "Token review cache lookups by result (hit, miss).",
		}, []string{"result"}),
		cached: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshgate_xds_authn_token_cache_entries",
			Help: "Reviewed tokens held in the cache (by hash).",
		}),
	}
	for _, c := range []prometheus.Collector{m.authn, m.reviews, m.cache, m.cached} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
