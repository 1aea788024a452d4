package daemon

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/gwhealth"
	"github.com/meshgate/meshgate/identity"
)

// gatewayHealth probes the east-west gateways of the other networks
// (gwhealth.Prober) and marks the unreachable ones in each composed mesh
// before it is served (the translator leaves them out of every load
// assignment that has anything else); the Prober's verdicts make the mesher
// serve again.
//
//	serve(mesh) ─apply─▶ SetTargets(Targets(mesh)) ; Mark(mesh, Down) ─▶ xds Update ─▶ translate
//	Prober: a gateway up⇄down ─OnChange─▶ mesher.again ─▶ serve(the same mesh) ─▶ apply
//	apply: the down set changed ─reported─▶ mesher.localChanged ─▶ publishLocal: local + report() ─▶ federation
//
// What this daemon finds down travels in its cluster's record
// (model.ClusterState.UnreachableGateways); what the others report is
// shown in /debug/gateways next to this daemon's own verdicts, as
// corroboration only: a gateway is left out here only when the probes
// from here fail (another network's path to it says nothing about this
// one's), and never kept because others reach it.
type gatewayHealth struct {
	probe       *gwhealth.Prober
	log         *slog.Logger
	unreachable prometheus.Gauge
	// withdrawal and restore time each change of the served set (below).
	withdrawal, restore *prometheus.HistogramVec
	// reported is called (on the mesher's goroutine, must not block) when
	// the set of gateways found down changes: the local cluster's record
	// must carry the new report.
	reported func()

	mu    sync.Mutex // guards last and peers (apply runs on the mesher's goroutine, handler on admin's)
	last  []model.NetworkGateway
	peers map[string][]string // gateway (address:port) → clusters whose daemons report it down
}

// newGatewayHealth builds the prober (nil when cfg turns probing off). Its
// probes offer a certificate of the daemon's own mesh identity
// (spiffe://<trust domain>/ns/<namespace>/sa/meshgate) when a gateway asks
// for one; an AUTO_PASSTHROUGH gateway closes after the ClientHello.
func newGatewayHealth(cfg Config, ca *identity.CA, again, reported func(), log *slog.Logger, reg prometheus.Registerer) (*gatewayHealth, error) {
	if cfg.GatewayProbeInterval == 0 {
		return nil, nil
	}
	pc := gwhealth.DefaultConfig()
	pc.Interval = cfg.GatewayProbeInterval.D()
	pc.Timeout = max(pc.Timeout, 2*pc.Interval)
	id, err := spiffeid.FromSegments(ca.TrustDomain(), "ns", cfg.Namespace, "sa", "meshgate")
	if err != nil {
		return nil, err
	}
	cert := &probeCert{ca: ca, id: id}
	p, err := gwhealth.New(pc, gwhealth.Options{Logger: log, Registerer: reg, OnChange: again,
		TLS: func() *tls.Config {
			return &tls.Config{MinVersion: tls.VersionTLS12, GetClientCertificate: cert.get}
		}})
	if err != nil {
		return nil, err
	}
	buckets := []float64{.25, .5, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 60}
	h := &gatewayHealth{probe: p, log: log, reported: reported,
		unreachable: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshgate_gateway_unreachable",
			Help: "East-west gateways of other networks left out of the served endpoints because they do not answer from here " +
				"(kept where nothing else would be left)."}),
		withdrawal: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "meshgate_gateway_withdrawal_seconds",
			Help: "Time from an east-west gateway's last answer to probes to the first configuration handed to the xDS server " +
				"without it (an upper bound of the time from its failure; the push to the proxies is meshgate_xds_push_seconds).",
			Buckets: buckets}, []string{"gateway"}),
		restore: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "meshgate_gateway_restore_seconds",
			Help: "Time from the first of the answers that made an unreachable east-west gateway up again to the first " +
				"configuration handed to the xDS server with it (flap damping included).",
			Buckets: buckets}, []string{"gateway"}),
	}
	return h, errors.Join(reg.Register(h.unreachable), reg.Register(h.withdrawal), reg.Register(h.restore))
}

// apply probes the gateways of m's other networks and returns m with the
// down ones marked unreachable. It runs on the mesher's goroutine.
func (h *gatewayHealth) apply(m *model.MeshState, network string) *model.MeshState {
	if h == nil || m == nil {
		return m
	}
	if l := m.Cluster(m.LocalCluster); l != nil && l.Network != "" {
		network = l.Network
	}
	h.probe.SetTargets(gwhealth.Targets(m, network))
	out, down := gwhealth.Mark(m, network, func(g model.NetworkGateway) bool { return h.probe.Down(gwhealth.Key(g)) })
	peers := peerReports(m)
	h.mu.Lock()
	changed := !slices.Equal(down, h.last)
	prev := h.last
	h.last, h.peers = down, peers
	h.mu.Unlock()
	if changed {
		h.observe(prev, down)
		if h.reported != nil {
			h.reported()
		}
		h.unreachable.Set(float64(len(down)))
		if len(down) == 0 {
			h.log.Info("every probed east-west gateway answers: serving all of them again")
		} else {
			h.log.Info("serving without the unreachable east-west gateways (kept where nothing else is left)", "unreachable", down)
		}
	}
	return out
}

// observe times the gateways that this configuration leaves out and that
// the previous one served (meshgate_gateway_withdrawal_seconds, from the
// last answer) and those it serves again (meshgate_gateway_restore_seconds,
// from the first answer of the streak that made them up). A gateway without
// such an answer (down since the daemon started) is not timed.
func (h *gatewayHealth) observe(prev, down []model.NetworkGateway) {
	now := time.Now()
	st := map[string]gwhealth.Status{}
	for _, s := range h.probe.Statuses() {
		st[s.Gateway] = s
	}
	keys := func(gws []model.NetworkGateway) map[string]bool {
		out := map[string]bool{}
		for _, g := range gws {
			out[gwhealth.Key(g)] = true
		}
		return out
	}
	was, is := keys(prev), keys(down)
	for k := range is {
		if s, ok := st[k]; ok && !was[k] && !s.LastAnswer.IsZero() {
			h.withdrawal.WithLabelValues(k).Observe(now.Sub(s.LastAnswer).Seconds())
		}
	}
	for k := range was {
		if s, ok := st[k]; ok && !is[k] && !s.AnsweringSince.IsZero() {
			h.restore.WithLabelValues(k).Observe(now.Sub(s.AnsweringSince).Seconds())
		}
	}
}

// report is what this daemon's probes find down, for its cluster's record
// (nil without probes).
func (h *gatewayHealth) report() []model.NetworkGateway {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.last)
}

// peerReports collects the other clusters' gossiped reports: each gateway
// (address:port) with the clusters whose daemons find it down.
func peerReports(m *model.MeshState) map[string][]string {
	var out map[string][]string
	for _, c := range m.Clusters {
		if c.ID == m.LocalCluster {
			continue
		}
		for _, g := range c.UnreachableGateways {
			if out == nil {
				out = map[string][]string{}
			}
			out[gwhealth.Key(g)] = append(out[gwhealth.Key(g)], c.ID) // clusters are sorted
		}
	}
	return out
}

// serving reports whether a cluster's data plane still answers from here:
// one of its gateways is probed and up. False when none is probed (nothing
// to say) or none answers. federation asks it before it withdraws a
// cluster whose daemon is gone.
func (h *gatewayHealth) serving(gws []model.NetworkGateway) bool {
	if h == nil {
		return false
	}
	st := map[string]gwhealth.State{}
	for _, s := range h.probe.Statuses() {
		st[s.Gateway] = s.State
	}
	for _, g := range gws {
		if st[gwhealth.Key(g)] == gwhealth.Up {
			return true
		}
	}
	return false
}

// handler is /debug/gateways: each probed gateway (state, last change,
// RTT, counts) and those the last served configuration left out.
func (h *gatewayHealth) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h == nil {
			http.Error(w, "gateway probes are off (gateway-probe-interval 0)", http.StatusServiceUnavailable)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.mu.Lock()
		unreachable, peers := h.last, h.peers
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Gateways []gwhealth.Status `json:"gateways"`
			// Unreachable: what the last served configuration left out.
			Unreachable []model.NetworkGateway `json:"unreachable"`
			// ReportedDownBy: the gateways other clusters' daemons gossip as
			// down from where they are, with those clusters (corroboration
			// only: nothing is left out here for it).
			ReportedDownBy map[string][]string `json:"reportedDownBy"`
		}{h.probe.Statuses(), unreachable, peers})
	})
}

// probeCert issues the probes' client certificate and renews it at half
// life.
type probeCert struct {
	ca *identity.CA
	id spiffeid.ID

	mu      sync.Mutex
	cert    *tls.Certificate
	renewAt time.Time
}

const probeCertTTL = time.Hour

func (p *probeCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cert != nil && time.Now().Before(p.renewAt) {
		return p.cert, nil
	}
	svid, err := p.ca.IssueX509SVID(p.id, identity.SVIDOptions{TTL: probeCertTTL})
	if err != nil {
		return nil, errors.Join(errors.New("gateway probe certificate"), err)
	}
	c := &tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, x := range svid.Certificates { // the leaf and the CA's chain
		c.Certificate = append(c.Certificate, x.Raw)
	}
	p.cert, p.renewAt = c, time.Now().Add(probeCertTTL/2)
	return c, nil
}
