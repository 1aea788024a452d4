package federation

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/meshgate/meshgate/federation/wire"
)

// Remote secrets are sealed per recipient cluster with HPKE (RFC 9180, base
// mode, crypto/hpke): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
// Each daemon has a sealing key pair, made at New: derived from
// Options.SealingSeed (the daemon derives it from its CA key, so the
// replicas of a cluster, which share the CA, share the sealing key and each
// opens what is sealed for the cluster), else random (a restart rotates it),
// whose public key travels in its cluster's signed record (wire.Body
// SealingKey), so it is bound to the cluster's signing identity like the
// rest of the record. See the package doc, "Remote secrets".
var (
	sealKEM  = hpke.DHKEM(ecdh.X25519())
	sealKDF  = hpke.HKDFSHA256()
	sealAEAD = hpke.AES256GCM()
)

// sealInfoPrefix separates remote-secret envelopes from any other use of
// HPKE (and names the suite: a new suite is a new prefix).
const sealInfoPrefix = "meshgate remote secret v1 x25519-hkdf-sha256-aes256gcm\x00"

// keyIDLen is the length of a sealing key's id (wire.SealedSecret.KeyID).
const keyIDLen = 8

// sealer is this node's sealing key pair.
type sealer struct {
	priv hpke.PrivateKey
	pub  []byte // the public key as it travels (32 bytes)
	id   []byte // keyID(pub)
}

// sealSeedPrefix separates sealing keys derived from a seed from any other
// use of it.
const sealSeedPrefix = "meshgate sealing key v1 x25519\x00"

// minSealingSeed is the shortest Options.SealingSeed accepted.
const minSealingSeed = 32

// newSealer makes this node's sealing key pair: derived from seed for mesh
// and cluster (HPKE DeriveKeyPair), so that the replicas of a cluster that
// share the seed share the key; a new random one without a seed.
func newSealer(seed []byte, mesh, cluster string) (*sealer, error) {
	var priv hpke.PrivateKey
	var err error
	switch {
	case len(seed) == 0:
		priv, err = sealKEM.GenerateKey()
	case len(seed) < minSealingSeed:
		return nil, fmt.Errorf("federation: the sealing seed has %d bytes, fewer than %d", len(seed), minSealingSeed)
	default:
		ikm := make([]byte, 0, len(sealSeedPrefix)+len(mesh)+len(cluster)+2+len(seed))
		ikm = append(append(append(append(append(ikm, sealSeedPrefix...), mesh...), 0), cluster...), 0)
		priv, err = sealKEM.DeriveKeyPair(append(ikm, seed...))
	}
	if err != nil {
		return nil, fmt.Errorf("federation: sealing key: %w", err)
	}
	pub := priv.PublicKey().Bytes()
	return &sealer{priv: priv, pub: pub, id: keyID(pub)}, nil
}

// keyID names a sealing public key in envelopes.
func keyID(pub []byte) []byte {
	sum := sha256.Sum256(pub)
	return sum[:keyIDLen]
}

// parseSealingKey checks a record's sealing key.
func parseSealingKey(b []byte) (hpke.PublicKey, error) {
	return sealKEM.NewPublicKey(b)
}

// sealInfo is the HPKE info of an envelope: the mesh, the sender and
// recipient clusters and the generation it was sealed at. An envelope opens
// only with the recipient's private key and exactly this context, so it
// cannot be moved to another recipient, sender, mesh or sealing generation.
func sealInfo(mesh, sender, recipient string, sealedAt uint64) []byte {
	b := make([]byte, 0, len(sealInfoPrefix)+3+len(mesh)+len(sender)+len(recipient)+8)
	b = append(b, sealInfoPrefix...)
	for _, s := range []string{mesh, sender, recipient} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return binary.BigEndian.AppendUint64(b, sealedAt)
}

// sealRecipient is a remote cluster the local secret is sealed for.
type sealRecipient struct {
	cluster string
	key     []byte // sealing public key, as its record carries it
}

// sealSecret seals secret (compressed first) for each recipient.
func sealSecret(mesh, sender string, sealedAt uint64, secret []byte, to []sealRecipient) ([]wire.SealedSecret, error) {
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestCompression) // a valid level: no error
	_, _ = zw.Write(secret)                             // bytes.Buffer writes do not fail
	if err := zw.Close(); err != nil {
		return nil, err
	}
	out := make([]wire.SealedSecret, 0, len(to))
	for _, r := range to {
		pk, err := parseSealingKey(r.key)
		if err != nil {
			return nil, fmt.Errorf("sealing key of cluster %s: %w", r.cluster, err)
		}
		ct, err := hpke.Seal(pk, sealKDF, sealAEAD, sealInfo(mesh, sender, r.cluster, sealedAt), z.Bytes())
		if err != nil {
			return nil, fmt.Errorf("sealing the remote secret for cluster %s: %w", r.cluster, err)
		}
		out = append(out, wire.SealedSecret{Recipient: r.cluster, KeyID: keyID(r.key), Sealed: ct})
	}
	return out, nil
}

// open opens an envelope sealed for this node's key by sender's cluster at
// sealedAt for recipient self; the plaintext is at most limit bytes.
func (s *sealer) open(mesh, sender, self string, sealedAt uint64, e wire.SealedSecret, limit int) ([]byte, error) {
	z, err := hpke.Open(s.priv, sealKDF, sealAEAD, sealInfo(mesh, sender, self, sealedAt), e.Sealed)
	if err != nil {
		return nil, err
	}
	plain, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if len(plain) > limit {
		return nil, fmt.Errorf("over %d bytes", limit)
	}
	return plain, nil
}

// Results of reading a received record's remote secret (label "result" of
// meshgate_federation_remote_secrets_total; a secret that does not open is
// a rejection, reason bad_seal).
const (
	secretOpened    = "opened"     // sealed for this node's key, opened
	secretPlaintext = "plaintext"  // in clear: the sender predates sealing
	secretNotForUs  = "not_for_us" // no envelope for this cluster (yet)
	secretOldKey    = "old_key"    // sealed for a previous key of this cluster (before a restart)
	secretNone      = "none"       // the cluster publishes no remote secret
	// ReasonBadSeal: a remote secret sealed for this cluster that does not
	// open (tampered, or moved from another recipient or generation).
	ReasonBadSeal = "bad_seal"
)

// openSecret reads the remote secret of a received (verified) record for
// this node. keep reports that the held secret of the cluster stays (fail
// static: an envelope not for us, for our previous key or that does not
// open changes nothing we hold).
func (n *Node) openSecret(r *wire.Record, part wire.Secret) (secret []byte, keep bool) {
	var mine *wire.SealedSecret
	for i := range part.Sealed {
		if part.Sealed[i].Recipient == n.cfg.ClusterID {
			mine = &part.Sealed[i]
		}
	}
	res := secretOpened
	switch {
	case len(part.Sealed) == 0 && len(part.SealingKey) == 0 && len(part.Plain) > 0:
		res, secret = secretPlaintext, part.Plain
		n.warnOnce("plaintext/"+r.Cluster, "a remote cluster's daemon predates sealed remote secrets: its remote secret "+
			"travels in clear (any holder of the gossip key can read it) and it gets no remote secret from this cluster; upgrade it",
			"remoteCluster", r.Cluster)
	case len(part.Sealed) == 0:
		res = secretNone
		keep = true
	case mine == nil:
		res, keep = secretNotForUs, true
	case !bytes.Equal(mine.KeyID, n.sealer.id):
		res, keep = secretOldKey, true
	default:
		var err error
		if secret, err = n.sealer.open(n.cfg.MeshID, r.Cluster, n.cfg.ClusterID, part.SealedAt, *mine, n.limits.MaxBody); err != nil {
			n.reject(ReasonBadSeal, wire.TypeState, fmt.Errorf("cluster %s generation %d: the remote secret sealed for this cluster does not open: %w",
				r.Cluster, r.Generation, err), "remoteCluster", r.Cluster, "origin", r.Origin)
			return nil, true
		}
	}
	n.met.secrets.WithLabelValues(r.Cluster, res).Inc()
	return secret, keep
}

// warnOnce logs msg once per key for the life of the node.
func (n *Node) warnOnce(key, msg string, args ...any) {
	n.mu.Lock()
	done := n.warned[key]
	n.warned[key] = true
	n.mu.Unlock()
	if !done {
		n.log.Warn(msg, args...)
	}
}

// recipientsLocked returns the remote clusters the local secret is sealed
// for: every cluster in the remote set (its record verified under its pin,
// its owner alive or within the fail-static window) whose record carries a
// sealing key, sorted; and the ones without a key (older daemons: they get
// nothing).
func (n *Node) recipientsLocked(now time.Time) (to []sealRecipient, noKey []string) {
	for _, id := range sortedKeys(n.records) {
		r := n.records[id]
		if vis, _ := n.visibleLocked(r, now); !vis {
			continue
		}
		if len(r.sealKey) == 0 {
			noKey = append(noKey, id)
			continue
		}
		to = append(to, sealRecipient{cluster: id, key: r.sealKey})
	}
	return to, noKey
}

// sealedSet names the keys a secret is sealed for: cluster → key id (hex).
func sealedSet(to []sealRecipient) map[string]string {
	m := make(map[string]string, len(to))
	for _, r := range to {
		m[r.cluster] = hex.EncodeToString(keyID(r.key))
	}
	return m
}

// sealLoop re-seals the local remote secret when the recipients change (a
// cluster enters or leaves the remote set, or publishes a new sealing key).
// The notifier kicks it after each change of the remote set; a burst of
// changes (a join brings every record at once) coalesces over
// FetchInterval into one new generation.
func (n *Node) sealLoop(ctx context.Context) {
	for {
		if !wait(ctx, n.kickSeal, 0) || !wait(ctx, nil, n.cfg.FetchInterval) {
			return
		}
		if gen, err := n.publishLocal(nil); err != nil {
			n.log.Error("re-sealing the remote secret for the remote clusters", "err", err)
		} else if gen != 0 {
			n.log.Debug("remote secret re-sealed", "generation", gen)
		}
	}
}

// SealedFor lists the remote clusters the local remote secret is sealed for
// now (names only: what /debug may show of it).
func (n *Node) SealedFor() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.local == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(n.local.sealedFor))
}
