package federation

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
)

// SetLocal publishes the local cluster's state and remote secret (a
// kubeconfig Secret, opaque here; it travels only sealed for each remote
// cluster, see seal.go, and is never logged). The node keeps what travels
// (exported services with their endpoints, network gateways, network, trust
// domain and bundle) and drops the routing configuration; state.Generation
// is ignored. A new generation is assigned, and announced, only when that
// content changed (or the clusters the secret is sealed for did):
// generation = max(previous+1, now in unix nanoseconds, a previous
// incarnation's generation seen in the mesh + 1). state.ObservedAt (on the
// clock of Options.Now; zero: now) travels as the record's observedAt, the
// start of the convergence peers measure; a new time with the same content
// publishes nothing. SetLocal does not block on
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
	body := wire.BuildBody(c, nil, wire.BodyOptions{ExportMode: n.cfg.ExportMode}) // the secret travels sealed, never in clear
	if body.ObservedAt == 0 {
		body.ObservedAt = n.now().UnixNano() // the source gave no time: now is the closest known
	}
	own := &localContent{body: &body, secret: bytes.Clone(remoteSecret), bundle: bytes.Clone(c.TrustBundle)}
	n.mu.Lock()
	secretChanged := n.local == nil || !bytes.Equal(n.local.secret, remoteSecret)
	n.mu.Unlock()
	gen, err := n.publishLocal(own)
	if err != nil || gen == 0 {
		return err
	}
	n.log.Debug("local cluster state published", "generation", gen,
		"services", len(body.Services), "remoteSecretChanged", secretChanged)
	return nil
}

// localContent is what SetLocal was given, kept to seal it again when the
// recipients change.
type localContent struct {
	body   *wire.Body // without the remote secret
	secret []byte
	bundle []byte
}

// publishLocal publishes own (nil: the current local content again) at a
// new generation, its remote secret sealed for the recipients of now; it
// does nothing (and returns 0) when neither the content nor the recipients
// changed. The secret is sealed again only when it or the recipients
// changed: otherwise the new record carries the previous envelopes (and
// their SealedAt, below its generation), so a change of endpoints costs no
// sealing. n.pubMu serialises it (lock order: pubMu, then mu); sealing and
// encoding run outside n.mu.
func (n *Node) publishLocal(own *localContent) (uint64, error) {
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	now := n.now()
	n.mu.Lock()
	prev := n.local
	var lease *wire.Lease
	if n.lease != nil {
		cp := *n.lease
		lease = &cp
	}
	if own == nil && prev != nil {
		own = prev.own
	}
	if own == nil {
		n.mu.Unlock()
		return 0, nil
	}
	to, noKey := n.recipientsLocked(now)
	if len(own.secret) == 0 {
		to, noKey = nil, nil // nothing to seal: the recipients do not matter
	}
	sealed := sealedSet(to)
	reuse := prev != nil && prev.own != nil && bytes.Equal(prev.own.secret, own.secret) && maps.Equal(prev.sealedFor, sealed)
	var sealedAt uint64
	var envs []wire.SealedSecret
	if reuse {
		sealedAt, envs = prev.sealedAt, prev.sealed
	} else if len(to) > 0 {
		sealedAt = max(n.localGen+1, uint64(now.UnixNano()), n.seenOwnGen+1)
	}
	n.mu.Unlock()
	n.met.sealedFor.WithLabelValues("sealed").Set(float64(len(to)))
	n.met.sealedFor.WithLabelValues("no_sealing_key").Set(float64(len(noKey)))
	for _, c := range noKey {
		n.warnOnce("nokey/"+c, "a remote cluster's daemon publishes no sealing key (it predates sealed remote secrets): "+
			"this cluster's remote secret is not sent to it until it is upgraded", "remoteCluster", c)
	}
	if reuse && prev.own == own && equalLease(prev.lease, lease) {
		return 0, nil // the sealer: same content, same recipients, same lease
	}
	if !reuse && len(to) > 0 {
		var err error
		if envs, err = sealSecret(n.cfg.MeshID, n.cfg.ClusterID, sealedAt, own.secret, to); err != nil {
			return 0, fmt.Errorf("federation: publishing the local cluster: %w", err)
		}
	}
	b := *own.body
	b.SealingKey, b.SealedAt, b.SealedSecrets, b.Lease = n.sealer.pub, sealedAt, envs, lease
	b.Deltas = !n.cfg.noDeltas
	if reuse && prev.own != nil && prev.own.body.ObservedAt != b.ObservedAt {
		// A new observation time alone is no change: same content as
		// published (under the time it was first observed) is not
		// published again.
		same := b
		same.ObservedAt = prev.own.body.ObservedAt
		if _, h, err := wire.EncodeBody(&same); err == nil && h == prev.rec.Hash {
			return 0, nil
		}
	}
	z, h, err := wire.EncodeBody(&b)
	if err != nil {
		return 0, fmt.Errorf("federation: publishing the local cluster: %w", err)
	}
	if reuse && h == prev.rec.Hash {
		return 0, nil // same content, same envelopes
	}
	if len(z) > n.cfg.MaxFrameBytes-1024 {
		return 0, fmt.Errorf("federation: publishing the local cluster: cluster %s state is %d bytes compressed (remote secret sealed for %d clusters), over maxFrameBytes %d",
			n.cfg.ClusterID, len(z), len(to), n.cfg.MaxFrameBytes)
	}
	n.mu.Lock()
	n.local = &record{rec: wire.Record{Cluster: n.cfg.ClusterID, Origin: n.name, Hash: h, Body: z}, secret: own.secret,
		bundle: own.bundle, own: own, sealedFor: sealed, sealedAt: sealedAt, sealed: envs, lease: lease, prev: previousOf(n.local, h)}
	gen := n.republishLocked()
	signErr := n.signErr
	n.mu.Unlock()
	if signErr != nil {
		return gen, fmt.Errorf("federation: published generation %d of the local cluster, but peers will reject it: %w", gen, signErr)
	}
	n.met.generation.WithLabelValues(n.cfg.ClusterID).Set(float64(gen))
	n.met.stateBytes.WithLabelValues(n.cfg.ClusterID).Set(float64(len(z)))
	n.log.Debug("local record published", "generation", gen, "hash", h.Short(), "bytes", len(z),
		"sealedFor", slices.Sorted(maps.Keys(sealed)), "resealed", !reuse && len(to) > 0)
	return gen, nil
}

// republishLocked replaces the local record by a copy at the next generation
// (records handed out are never modified) and queues its digest; it returns
// the generation.
func (n *Node) republishLocked() uint64 {
	// Never below the generation the remote secret was sealed at: the
	// envelopes name it, and receivers require it to be at most the record's.
	gen := max(n.localGen+1, uint64(n.now().UnixNano()), n.seenOwnGen+1, n.local.sealedAt)
	n.localGen = gen
	cp := *n.local
	n.local = &cp
	n.local.rec.Generation = gen
	n.local.rec.Origin = n.name
	n.local.acceptedAt = n.now()
	if n.auth != nil {
		n.signLocked()
	}
	if n.publishingLocked() { // an elected replica that does not lead keeps it ready, unsent
		n.queueDigest(&n.local.rec)
	}
	return gen
}

func equalLease(a, b *wire.Lease) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// localGeneration is the generation of the local state (0 before SetLocal).
func (n *Node) localGeneration() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.localGen
}

// LocalGeneration is the generation of the last local state published.
func (n *Node) LocalGeneration() uint64 { return n.localGeneration() }
