package federation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
)

// RecordAuth signs the local cluster's records and verifies other
// clusters'. It is a Node's collaborator (Options.Auth); X509Auth is the
// implementation the daemon uses. Its methods may be called concurrently,
// from memberlist's goroutines and under the Node's lock: they must not
// block on the network.
type RecordAuth interface {
	// Sign returns the proof over msg (wire.Record.SignedBytes) that this
	// node speaks for its cluster.
	Sign(msg []byte) (wire.Proof, error)
	// Anchors is the PEM trust bundle under which this node's proofs
	// verify: the trust bundle of the local cluster when its state has
	// none.
	Anchors() []byte
	// Verify checks that proof over msg was made by a key certified, under
	// the PEM trust anchors (the bundle pinned for cluster), to speak for
	// cluster.
	Verify(cluster string, anchors, msg []byte, proof wire.Proof) error
}

// FederationIDPath is the SPIFFE ID path of a cluster's federation signing
// key: spiffe://<trust domain>/meshgate-federation/<cluster id>. The
// cluster id must then be a valid SPIFFE path segment (letters, digits,
// '.', '-', '_').
const FederationIDPath = "/meshgate-federation/"

// FederationID is the SPIFFE ID that cluster's signing certificate carries.
func FederationID(td spiffeid.TrustDomain, cluster string) (spiffeid.ID, error) {
	id, err := spiffeid.FromPath(td, FederationIDPath+cluster)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("federation signing identity of cluster %q: %w", cluster, err)
	}
	return id, nil
}

// X509Auth signs with an ECDSA key whose X.509 certificate (URI SAN
// FederationID of the local cluster) is issued by the cluster's CA, and
// verifies a proof by checking its chain against the pinned bundle, the
// leaf's SPIFFE ID against the claimed cluster, and the signature.
type X509Auth struct {
	mu      sync.RWMutex
	key     crypto.Signer
	chain   [][]byte // DER, leaf first, without the root
	anchors []byte   // PEM
	now     func() time.Time

	poolMu sync.Mutex
	pools  map[string]*x509.CertPool // parsed anchors by their PEM (a few pinned bundles)
	chains map[[32]byte]time.Time    // verified (anchors, chain) → when the chain expires
}

var _ RecordAuth = (*X509Auth)(nil)

// DefaultSigningTTL is the lifetime of a signing certificate IssueSigner
// asks for; the daemon renews it at half life.
const DefaultSigningTTL = 24 * time.Hour

// NewX509Auth returns an X509Auth signing for cluster with a key issued by
// ca (TTL ttl, 0 means DefaultSigningTTL); its anchors are ca's roots.
func NewX509Auth(ca *identity.CA, cluster string, ttl time.Duration) (*X509Auth, error) {
	a := &X509Auth{now: time.Now}
	if err := a.Renew(ca, cluster, ttl); err != nil {
		return nil, err
	}
	return a, nil
}

// Renew replaces the signing key and certificate by new ones issued by ca,
// and the anchors by ca's roots. For a CA rotation, keep signing under the
// old CA until the peers hold a bundle with both roots (publish it first),
// then Renew with the new CA: see the package doc.
func (a *X509Auth) Renew(ca *identity.CA, cluster string, ttl time.Duration) error {
	id, err := FederationID(ca.TrustDomain(), cluster)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		ttl = DefaultSigningTTL
	}
	svid, err := ca.IssueX509SVID(id, identity.SVIDOptions{TTL: ttl})
	if err != nil {
		return fmt.Errorf("federation signing key: %w", err)
	}
	chain := make([][]byte, 0, len(svid.Certificates))
	for _, c := range svid.Certificates {
		chain = append(chain, c.Raw)
	}
	a.mu.Lock()
	a.key, a.chain, a.anchors = svid.PrivateKey, chain, identity.EncodeCertificatesPEM(ca.Roots())
	a.mu.Unlock()
	return nil
}

// SetAnchors replaces the bundle Anchors returns (e.g. old and new roots
// during a CA rotation) without changing the key.
func (a *X509Auth) SetAnchors(pem []byte) {
	a.mu.Lock()
	a.anchors = slices.Clone(pem)
	a.mu.Unlock()
}

// Anchors implements RecordAuth.
func (a *X509Auth) Anchors() []byte {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.anchors
}

// Sign implements RecordAuth: ECDSA over SHA-256 of msg.
func (a *X509Auth) Sign(msg []byte) (wire.Proof, error) {
	a.mu.RLock()
	key, chain := a.key, a.chain
	a.mu.RUnlock()
	sum := sha256.Sum256(msg)
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return wire.Proof{}, fmt.Errorf("signing a record: %w", err)
	}
	return wire.Proof{Chain: chain, Sig: sig}, nil
}

// Verify implements RecordAuth.
func (a *X509Auth) Verify(cluster string, anchors, msg []byte, proof wire.Proof) error {
	if proof.Empty() {
		return errUnsigned
	}
	if len(anchors) == 0 {
		return errors.New("no trust bundle to verify the record's signature against")
	}
	if len(proof.Chain) == 0 {
		return errors.New("proof: no certificate")
	}
	certs := make([]*x509.Certificate, 0, len(proof.Chain))
	for i, der := range proof.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("proof: certificate %d: %w", i, err)
		}
		certs = append(certs, c)
	}
	leaf := certs[0]
	if err := a.verifyChain(anchors, proof.Chain, certs); err != nil {
		return fmt.Errorf("proof: the signing certificate does not chain to cluster %s's pinned trust bundle: %w", cluster, err)
	}
	if len(leaf.URIs) != 1 {
		return fmt.Errorf("proof: the signing certificate has %d URI SANs, want one SPIFFE ID", len(leaf.URIs))
	}
	id, err := spiffeid.FromURI(leaf.URIs[0])
	if err != nil {
		return fmt.Errorf("proof: the signing certificate's URI SAN: %w", err)
	}
	if id.Path() != FederationIDPath+cluster {
		return fmt.Errorf("proof: signed by %s, which does not speak for cluster %s", id, cluster)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("proof: the signing key is %T, want ECDSA", leaf.PublicKey)
	}
	sum := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(pub, sum[:], proof.Sig) {
		return errors.New("proof: the signature does not match the record")
	}
	return nil
}

// verifyChain checks that certs (leaf first) chain to anchors now. A chain
// verified under the same anchors is remembered until its first
// certificate expires, so that a signing key's chain is verified once, not
// for every record it signs.
func (a *X509Auth) verifyChain(anchors []byte, ders [][]byte, certs []*x509.Certificate) error {
	h := sha256.New()
	h.Write(anchors)
	for _, d := range ders {
		h.Write([]byte{0})
		h.Write(d)
	}
	var key [32]byte
	h.Sum(key[:0])
	now := a.clock()
	a.poolMu.Lock()
	exp, ok := a.chains[key]
	a.poolMu.Unlock()
	if ok && now.Before(exp) {
		return nil
	}
	roots, err := a.pool(anchors)
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return err
	}
	exp = certs[0].NotAfter
	for _, c := range chains[0] {
		if c.NotAfter.Before(exp) {
			exp = c.NotAfter
		}
	}
	a.poolMu.Lock()
	if a.chains == nil || len(a.chains) >= maxPools {
		a.chains = map[[32]byte]time.Time{}
	}
	a.chains[key] = exp
	a.poolMu.Unlock()
	return nil
}

// maxPools bounds the parsed-anchors cache: one entry per pinned bundle
// version is all that is ever needed; beyond that it starts over.
const maxPools = 256

// pool returns the parsed anchors, cached by their PEM.
func (a *X509Auth) pool(anchors []byte) (*x509.CertPool, error) {
	a.poolMu.Lock()
	defer a.poolMu.Unlock()
	if p := a.pools[string(anchors)]; p != nil {
		return p, nil
	}
	roots, err := identity.ParseCertificatesPEM(anchors)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	for _, r := range roots {
		p.AddCert(r)
	}
	if a.pools == nil || len(a.pools) >= maxPools {
		a.pools = map[string]*x509.CertPool{}
	}
	a.pools[string(anchors)] = p
	return p, nil
}

func (a *X509Auth) clock() time.Time {
	if a.now == nil {
		return time.Now()
	}
	return a.now()
}

var errUnsigned = errors.New("the record is not signed")

// RenewSigner keeps a's signing certificate fresh until ctx is done: every
// ttl/2 it issues a new one from ca and re-signs the local record at a new
// generation (Node.Resign), so that no record relayed in the mesh outlives
// its certificate by more than half a lifetime. Failures are logged and
// retried at the next tick.
func RenewSigner(ctx context.Context, n *Node, a *X509Auth, ca *identity.CA, cluster string, ttl time.Duration) {
	if ttl <= 0 {
		ttl = DefaultSigningTTL
	}
	t := time.NewTicker(ttl / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.Renew(ca, cluster, ttl); err != nil {
			n.log.Error("renewing the federation signing certificate", "err", err)
			continue
		}
		n.Resign()
	}
}
