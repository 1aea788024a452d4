package federation

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a received message is rejected (label "reason" of
// meshgate_federation_rejected_messages_total).
const (
	ReasonOversized   = "oversized"
	ReasonCorrupt     = "corrupt"
	ReasonVersion     = "version"
	ReasonForeignMesh = "foreign_mesh"
	ReasonConflict    = "generation_conflict"
	ReasonUnknownType = "unknown_type"
	ReasonDecrypt     = "decrypt"
	ReasonOverload    = "overload"
	// ReasonUnknownRequester: a state request from a node that is not a
	// live member (it holds the gossip key but has not joined).
	ReasonUnknownRequester = "unknown_requester"
	// ReasonFenced: a record published under a publishing lease older than
	// one already seen for its cluster (a deposed replica's), relayed or not.
	ReasonFenced = "fenced"
)

type metrics struct {
	members       *prometheus.GaugeVec
	msgs          *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	stale         *prometheus.CounterVec
	generation    *prometheus.GaugeVec
	withdrawals   *prometheus.CounterVec
	restores      *prometheus.CounterVec
	remote        prometheus.Gauge
	propagation   prometheus.Histogram
	fetches       *prometheus.CounterVec
	stateBytes    *prometheus.GaugeVec
	joins         *prometheus.CounterVec
	keyOps        *prometheus.CounterVec
	dupOwner      prometheus.Counter
	leading       prometheus.Gauge
	pins          *prometheus.CounterVec
	pinSaveErrors prometheus.Counter
	syncSeconds   prometheus.Gauge
	sealedFor     *prometheus.GaugeVec
	secrets       *prometheus.CounterVec
	deltas        *prometheus.CounterVec
	refused       prometheus.Gauge
	clockOffset   *prometheus.GaugeVec
	clockError    *prometheus.GaugeVec
	gossip        *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "meshgate", "federation"
	m := &metrics{
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "members",
			Help: "Gossip members known to this node, by state (alive, dead, left)."}, []string{"state"}),
		msgs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "messages_total",
			Help: "Federation messages by direction (in, out) and type (digest, request, state, pushpull)."}, []string{"direction", "type"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "message_bytes_total",
			Help: "Bytes of federation messages (before memberlist framing and encryption)."}, []string{"direction", "type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "rejected_messages_total",
			Help: "Received messages rejected, by reason."}, []string{"reason"}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "stale_states_total",
			Help: "Cluster states ignored because this node holds the same or a newer generation."}, []string{"cluster"}),
		generation: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "cluster_generation",
			Help: "Generation of each cluster's state held by this node (unix nanoseconds of the change)."}, []string{"cluster"}),
		withdrawals: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "withdrawals_total",
			Help: "Remote clusters withdrawn after their owner stayed down for the fail-static window."}, []string{"cluster"}),
		restores: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "restores_total",
			Help: "Withdrawn remote clusters restored when their owner came back."}, []string{"cluster"}),
		remote: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "remote_clusters",
			Help: "Remote clusters in the remote set."}),
		propagation: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "propagation_seconds",
			Help:    "Time from a change at its owner (its generation) to its acceptance here; assumes synchronised clocks.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "fetches_total",
			Help: "State requests sent, by result (sent, error)."}, []string{"result"}),
		stateBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "state_bytes",
			Help: "Compressed size of each cluster's state held by this node."}, []string{"cluster"}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "joins_total",
			Help: "Join attempts, by result (ok, error)."}, []string{"result"}),
		keyOps: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "keyring_operations_total",
			Help: "Keyring operations applied (install, use, remove)."}, []string{"op"}),
		leading: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "leading",
			Help: "1 while this daemon publishes its cluster (always without leader election; while it holds the lease with it), else 0."}),
		dupOwner: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "duplicate_owner_total",
			Help: "States of this node's own cluster seen from another live daemon (several daemons for one cluster)."}),
		pins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "trust_pins_total",
			Help: "Trust bundles pinned for remote clusters, by how (first_contact, rotation, operator)."}, []string{"cluster", "how"}),
		syncSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "initial_sync_seconds",
			Help: "Time from start until this node held every live member's cluster, or gave up after the sync timeout (0: not yet)."}),
		sealedFor: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "sealed_recipients",
			Help: "Remote clusters in the remote set the local remote secret is sealed for (state sealed), or not sent to because their daemon publishes no sealing key (state no_sealing_key: an older daemon)."}, []string{"state"}),
		secrets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "remote_secrets_total",
			Help: "Remote secrets of accepted records, by cluster and result: opened (sealed for this cluster), plaintext (an older daemon's), not_for_us, old_key (sealed for this cluster's previous key), none; one that does not open is a rejection (reason bad_seal)."}, []string{"cluster", "result"}),
		deltas: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "state_deltas_total",
			Help: "State deltas (a record's body sent as a delta against the body the requester holds), by result: sent, full (asked for, answered in full: base no longer held or the delta no smaller), applied, base_gone (the base changed before the answer came: dropped, fetched again); one that does not rebuild the signed body is a rejection."}, []string{"result"}),
		refused: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "refused_clusters",
			Help: "Remote clusters whose gossip this node refuses because the operator has not admitted them (each refused message is counted in rejected_messages_total, reason not_admitted)."}),
		clockOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "clock_offset_seconds",
			Help: "Estimated clock offset of a peer daemon (its clock minus this node's), from timed state requests (NTP-style, the exchange of least delay among the last 8)."}, []string{"peer"}),
		clockError: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "clock_offset_error_seconds",
			Help: "Bound of the error of meshgate_federation_clock_offset_seconds: half the round-trip delay of the exchange it comes from."}, []string{"peer"}),
		gossip: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "gossip_seconds",
			Help:    "Time from a cluster state's publication by its owner (its generation, moved by the owner's estimated clock offset) to its acceptance here, by origin cluster.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"origin_cluster"}),
		pinSaveErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "trust_pins_file_errors_total",
			Help: "Failed writes of the trust pins file (the pins stay in memory; logged)."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.members, m.msgs, m.bytes, m.rejected, m.stale, m.generation, m.withdrawals,
		m.restores, m.remote, m.propagation, m.fetches, m.stateBytes, m.joins, m.keyOps, m.dupOwner, m.leading, m.pins, m.syncSeconds, m.pinSaveErrors, m.sealedFor, m.secrets, m.refused,
		m.deltas, m.clockOffset, m.clockError, m.gossip} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("federation: registering metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) count(dir, typ string, size int) {
	m.msgs.WithLabelValues(dir, typ).Inc()
	m.bytes.WithLabelValues(dir, typ).Add(float64(size))
}
