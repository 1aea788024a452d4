package model

import "time"

// ClusterProvenance is how a daemon came to hold a remote cluster's state
// over federation, and where that state stands now: what `meshgate
// explain` says about an endpoint or service that came from another
// cluster, or that is missing because its cluster was withdrawn or
// refused. Federation produces it (Node.History); the translator's Explain
// reads it; it is never translated. Times are on the daemon's own clock.
type ClusterProvenance struct {
	Cluster string `json:"cluster"`
	Network string `json:"network,omitempty"`
	// Generation is the generation of the held record (0: none held).
	Generation uint64 `json:"generation,omitempty"`
	// Owner is the daemon (gossip member) that published that generation;
	// Peer the member it was received from (the owner itself, or a relay),
	// PeerCluster that member's cluster.
	Owner       string `json:"owner,omitempty"`
	Peer        string `json:"peer,omitempty"`
	PeerCluster string `json:"peerCluster,omitempty"`
	// ReceivedAt is when the record was accepted here; PublishedAt when its
	// owner published it and ObservedAt when its owner's source saw the
	// change it carries (both moved onto this clock by the owner's
	// estimated clock offset; zero when unknown).
	ReceivedAt  time.Time `json:"receivedAt,omitzero"`
	PublishedAt time.Time `json:"publishedAt,omitzero"`
	ObservedAt  time.Time `json:"observedAt,omitzero"`
	// Status is whether the cluster is served, and Since when it has been
	// so (the owner's death for fail-static, the withdrawal, the first
	// refusal); Reason says why in words.
	Status ProvenanceStatus `json:"status"`
	Since  time.Time        `json:"since,omitzero"`
	Reason string           `json:"reason,omitempty"`
	// Rejected is the newest record of the cluster refused after the held
	// one was accepted (fenced, bad signature, ...), if any.
	Rejected *RecordRejection `json:"rejected,omitempty"`
	// State is the held state (also while withdrawn or hidden): where
	// explain looks for what a withdrawn cluster had. Shared; not JSON.
	State *ClusterState `json:"-"`
}

// ProvenanceStatus is where a remote cluster's state stands on a daemon.
type ProvenanceStatus string

const (
	// ProvenanceServing: in the remote set, a daemon owning it alive.
	ProvenanceServing ProvenanceStatus = "serving"
	// ProvenanceFailStatic: in the remote set although its last daemon is
	// down: within the fail-static window, or its data plane still serves.
	ProvenanceFailStatic ProvenanceStatus = "fail-static"
	// ProvenanceWithdrawn: out of the remote set: its daemons stayed down
	// past the fail-static window.
	ProvenanceWithdrawn ProvenanceStatus = "withdrawn"
	// ProvenanceHidden: held but not shown: no daemon owning it was ever
	// seen alive by this one.
	ProvenanceHidden ProvenanceStatus = "hidden"
	// ProvenanceRefused: its gossip is refused (the cluster is not
	// admitted); nothing of it is held.
	ProvenanceRefused ProvenanceStatus = "refused"
)

// RecordRejection is a refused record of a cluster.
type RecordRejection struct {
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	Generation uint64    `json:"generation"`
	From       string    `json:"from"`
	Error      string    `json:"error"`
}
