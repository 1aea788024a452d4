package federation

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
)

// Reasons a record's proof is rejected (label "reason" of
// meshgate_federation_rejected_messages_total).
const (
	// ReasonUnsigned: a record without a proof, or of a cluster whose
	// bundle is unknown and that carries none (nothing to verify against).
	ReasonUnsigned = "unsigned"
	// ReasonBadSignature: a proof that does not verify against the
	// cluster's pinned trust bundle (or, at first contact or on a bundle
	// change, against the bundle the record carries).
	ReasonBadSignature = "bad_signature"
)

// How a cluster's trust bundle got pinned (label "how" of
// meshgate_federation_trust_pins_total).
const (
	pinFirstContact = "first_contact"
	pinRotation     = "rotation"
	pinOperator     = "operator"
)

// trustPin is the trust bundle a cluster's records must verify under.
type trustPin struct {
	pem    []byte
	how    string // how it was pinned or last replaced (pinFirstContact, pinRotation, pinOperator)
	origin string // bundleSum of the operator pin it descends from; "" if taken at first contact
}

// Pin sets the trust bundle (PEM) cluster's records must verify under, as
// an operator decision (e.g. learned through the remote-secret join): it
// admits the cluster (admit.go) and replaces a bundle pinned at first
// contact. A record signed under it may
// still rotate it (see the package doc); pinning the same bundle again
// (the same remote secret seen after a restart) keeps the bundle it was
// rotated to. The pin is persisted (Config.TrustPinsFile). Safe for
// concurrent use.
func (n *Node) Pin(cluster string, bundle []byte) error {
	if err := wire.CheckName(cluster); err != nil {
		return fmt.Errorf("federation: pin: cluster %q: %w", cluster, err)
	}
	if _, err := identity.ParseCertificatesPEM(bundle); err != nil {
		return fmt.Errorf("federation: pin: cluster %s: trust bundle: %w", cluster, err)
	}
	sum := bundleSum(bundle)
	n.pinMu.Lock()
	if p := n.pins[cluster]; p != nil && p.origin == sum {
		n.pinMu.Unlock()
		n.log.Debug("trust bundle already pinned by the operator (or rotated from it)", "remoteCluster", cluster)
		return nil
	}
	n.pins[cluster] = &trustPin{pem: bytes.Clone(bundle), how: pinOperator, origin: sum}
	n.savePinsLocked()
	n.admitRefusedLocked(cluster)
	n.pinMu.Unlock()
	n.met.pins.WithLabelValues(cluster, pinOperator).Inc()
	n.log.Info("trust bundle pinned by the operator", "remoteCluster", cluster)
	return nil
}

// pinnedBundle returns the bundle pinned for cluster (nil if none).
func (n *Node) pinnedBundle(cluster string) []byte {
	n.pinMu.Lock()
	defer n.pinMu.Unlock()
	if p := n.pins[cluster]; p != nil {
		return p.pem
	}
	return nil
}

// verifyLocked checks r's proof (n.pinMu held). A record verifies under the
// bundle pinned for its cluster; at first contact (no pin) under the bundle
// it carries (trust on first use); and a record that carries a bundle other
// than the pinned one must verify under both, so that its bundle, once
// pinned, verifies it too. It returns the bundle to pin after acceptance
// (nil: keep the pin) and how.
func (n *Node) verifyLocked(r *wire.Record, bundle []byte) (newPin []byte, how string, reason string, err error) {
	if r.Proof.Empty() {
		return nil, "", ReasonUnsigned, errUnsigned
	}
	msg := r.SignedBytes(n.cfg.MeshID)
	pin := n.pins[r.Cluster]
	switch {
	case pin == nil && len(bundle) == 0:
		return nil, "", ReasonUnsigned, errors.New("first contact with a record that carries no trust bundle: nothing to verify it against")
	case pin == nil:
		how, newPin = pinFirstContact, bundle
	default:
		if err := n.auth.Verify(r.Cluster, pin.pem, msg, r.Proof); err != nil {
			return nil, "", ReasonBadSignature, fmt.Errorf("under the pinned trust bundle: %w", err)
		}
		if len(bundle) == 0 || bytes.Equal(bundle, pin.pem) {
			return nil, "", "", nil
		}
		how, newPin = pinRotation, bundle
	}
	if err := n.auth.Verify(r.Cluster, bundle, msg, r.Proof); err != nil {
		return nil, "", ReasonBadSignature, fmt.Errorf("under the trust bundle it carries: %w", err)
	}
	return newPin, how, "", nil
}

// setPinLocked records the pin a verified record brought (n.pinMu held).
func (n *Node) setPinLocked(cluster string, bundle []byte, how string) {
	if bundle == nil {
		return
	}
	p := &trustPin{pem: bytes.Clone(bundle), how: how}
	if old := n.pins[cluster]; old != nil && how == pinRotation {
		p.origin = old.origin // verified under the old pin: still the operator's choice
	}
	n.pins[cluster] = p
	n.savePinsLocked()
	n.met.pins.WithLabelValues(cluster, how).Inc()
	n.log.Info("trust bundle of a remote cluster pinned", "remoteCluster", cluster, "how", how)
}

// rejectRecord counts and logs a record whose proof failed, and stops
// fetching it from the holder that sent it.
func (n *Node) rejectRecord(r *wire.Record, holder, reason string, err error) {
	n.mu.Lock()
	if f := n.fetches[r.Cluster]; f != nil && f.from == holder && f.want <= r.Generation {
		f.want, f.from = 0, ""
	}
	n.noteRejectedLocked(r.Cluster, r.Generation, holder, reason, err)
	n.mu.Unlock()
	n.reject(reason, wire.TypeState, fmt.Errorf("cluster %s generation %d: %w", r.Cluster, r.Generation, err),
		"from", holder, "remoteCluster", r.Cluster, "origin", r.Origin)
}

// signLocked signs the local record (n.mu held) and checks that the
// bundle it carries verifies the proof, as receivers will.
func (n *Node) signLocked() {
	rec := &n.local.rec
	proof, err := n.auth.Sign(rec.SignedBytes(n.cfg.MeshID))
	if err == nil {
		rec.Proof = proof
		err = n.auth.Verify(rec.Cluster, n.local.bundle, rec.SignedBytes(n.cfg.MeshID), proof)
	}
	if err != nil && (n.signErr == nil || n.signErr.Error() != err.Error()) {
		n.log.Error("the local cluster's record cannot be signed so that peers accept it", "err", err)
	}
	n.signErr = err
}

// Resign publishes the local state again at a new generation, signed with
// the RecordAuth's current key (after a certificate renewal or a CA
// rotation). It does nothing before SetLocal.
func (n *Node) Resign() {
	n.mu.Lock()
	if n.local == nil {
		n.mu.Unlock()
		return
	}
	gen := n.republishLocked()
	n.mu.Unlock()
	n.met.generation.WithLabelValues(n.cfg.ClusterID).Set(float64(gen))
}
