package federation

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
)

// SetLocal publishes the local cluster's state and remote secret (a
// kubeconfig Secret, opaque here; it travels only inside encrypted gossip
// and is never logged). The node keeps what travels (exported services with
// their endpoints, network gateways, network, trust domain and bundle) and
// drops the routing configuration; state.Generation is ignored. A new
// generation is assigned, and announced, only when that content changed:
// generation = max(previous+1, now in unix nanoseconds, a previous
// incarnation's generation seen in the mesh + 1). SetLocal does not block on
// the network; state is not modified or retained.
func (n *Node) SetLocal(state *model.ClusterState, remoteSecret []byte) error {
	if state == nil {
		return errors.New("federation: SetLocal: nil state")
	}
	if state.ID != n.cfg.ClusterID {
		return fmt.Errorf("federation: SetLocal: state of cluster %q, but this node owns %q", state.ID, n.cfg.ClusterID)
	}
	c := state.Clone()
	if n.auth != nil && len(c.TrustBundle) == 0 {
		c.TrustBundle = n.auth.Anchors() // what peers pin and verify under
	}
	c.Normalize()
	if err := c.Validate(); err != nil {
		return fmt.Errorf("federation: SetLocal: %w", err)
	}
	body := wire.BodyFromState(c, remoteSecret)
	z, h, err := wire.EncodeBody(&body)
	if err != nil {
		return fmt.Errorf("federation: SetLocal: %w", err)
	}
	if len(z) > n.cfg.MaxFrameBytes-1024 {
		return fmt.Errorf("federation: SetLocal: cluster %s state is %d bytes compressed, over maxFrameBytes %d", c.ID, len(z), n.cfg.MaxFrameBytes)
	}
	n.mu.Lock()
	if n.local != nil && n.local.rec.Hash == h {
		n.mu.Unlock()
		return nil
	}
	secretChanged := n.local == nil || !bytes.Equal(n.local.secret, remoteSecret)
	n.local = &record{rec: wire.Record{Cluster: c.ID, Origin: n.name, Hash: h, Body: z}, secret: bytes.Clone(remoteSecret),
		bundle: bytes.Clone(c.TrustBundle)}
	gen := n.republishLocked()
	signErr := n.signErr
	n.mu.Unlock()
	if signErr != nil {
		return fmt.Errorf("federation: SetLocal: published generation %d, but peers will reject it: %w", gen, signErr)
	}
	n.met.generation.WithLabelValues(c.ID).Set(float64(gen))
	n.met.stateBytes.WithLabelValues(c.ID).Set(float64(len(z)))
	n.log.Debug("local cluster state published", "generation", gen, "hash", h.Short(),
		"services", len(body.Services), "bytes", len(z), "remoteSecretChanged", secretChanged)
	return nil
}

// republishLocked replaces the local record by a copy at the next generation
// (records handed out are never modified) and queues its digest; it returns
// the generation.
func (n *Node) republishLocked() uint64 {
	gen := max(n.localGen+1, uint64(n.now().UnixNano()), n.seenOwnGen+1)
	n.localGen = gen
	cp := *n.local
	n.local = &cp
	n.local.rec.Generation = gen
	n.local.rec.Origin = n.name
	n.local.acceptedAt = n.now()
	if n.auth != nil {
		n.signLocked()
	}
	n.queueDigest(&n.local.rec)
	return gen
}

// localGeneration is the generation of the local state (0 before SetLocal).
func (n *Node) localGeneration() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.localGen
}

// LocalGeneration is the generation of the last local state published.
func (n *Node) LocalGeneration() uint64 { return n.localGeneration() }
