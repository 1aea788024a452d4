package remote

import "github.com/prometheus/client_golang/prometheus"

// metrics of the controller (the remote clusters' own state, services and
// API errors are the kube source's metrics, labelled by cluster):
//
//	meshgate_remote_secret_rejections_total{source,reason}  remote secret keys rejected; reason unsafe (exec,
//	                                                 auth-provider, file references), insecure (http://,
//	                                                 insecure-skip-tls-verify, proxy-url, no CA data) or invalid
//	meshgate_remote_secret_insecure_admitted_total{source}  insecure keys let through by allow-insecure-remote
//	meshgate_remote_secret_invalid_keys              keys currently rejected
//	meshgate_remote_clusters                         remote clusters running
//	meshgate_remote_cluster_reloads_total            kubeconfig reloads (new credentials)
type metrics struct {
	rejections *prometheus.CounterVec
	admitted   *prometheus.CounterVec
	c          *Controller
	invalid    *prometheus.Desc
	clusters   *prometheus.Desc
	reloads    *prometheus.Desc
}

func newMetrics(reg prometheus.Registerer, c *Controller) (*metrics, error) {
	m := &metrics{
		c: c,
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_remote_secret_rejections_total",
			Help: "Remote secret keys rejected because their kubeconfig is unsafe, insecure or malformed.",
		}, []string{"source", "reason"}),
		admitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_remote_secret_insecure_admitted_total",
			Help: "Insecure remote secret keys (http://, insecure-skip-tls-verify, proxy-url, no CA data) admitted because allow-insecure-remote is set.",
		}, []string{"source"}),
		invalid:  prometheus.NewDesc("meshgate_remote_secret_invalid_keys", "Remote secret keys currently rejected.", nil, nil),
		clusters: prometheus.NewDesc("meshgate_remote_clusters", "Remote clusters being watched.", nil, nil),
		reloads:  prometheus.NewDesc("meshgate_remote_cluster_reloads_total", "Kubeconfig reloads of the remote clusters now watched.", nil, nil),
	}
	for _, col := range []prometheus.Collector{m.rejections, m.admitted, m} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) rejected(source SecretSource, reason string) {
	if m != nil {
		m.rejections.WithLabelValues(string(source), reason).Inc()
	}
}

func (m *metrics) admittedInsecure(source SecretSource) {
	if m != nil {
		m.admitted.WithLabelValues(string(source)).Inc()
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.invalid
	ch <- m.clusters
	ch <- m.reloads
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	invalid := len(m.c.SecretErrors())
	m.c.mu.Lock()
	n, reloads := len(m.c.clusters), 0
	for _, cl := range m.c.clusters {
		reloads += cl.reloads
	}
	m.c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(m.invalid, prometheus.GaugeValue, float64(invalid))
	ch <- prometheus.MustNewConstMetric(m.clusters, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(m.reloads, prometheus.CounterValue, float64(reloads))
}
