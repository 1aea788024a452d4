package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"k8s.io/utils/clock"
)

// Defaults for certificate lifetimes.
const (
	// DefaultRootTTL is the lifetime of a self-signed root (Istio uses 10 years).
	DefaultRootTTL = 10 * 365 * 24 * time.Hour
	// DefaultIntermediateTTL is the lifetime of an intermediate made by NewIntermediate.
	DefaultIntermediateTTL = 5 * 365 * 24 * time.Hour
	// DefaultSVIDTTL is the lifetime of a gateway SVID (Istio's default workload TTL).
	DefaultSVIDTTL = 24 * time.Hour
	// DefaultBackdate is how far NotBefore is set before the issuing time, to
	// tolerate clock skew between clusters.
	DefaultBackdate = time.Minute
)

// CA signs X.509 SVIDs for one trust domain. Its signing certificate is either
// a self-signed root or an intermediate under a root shared by several clusters
// (Istio's plug-in "cacerts"). A CA is immutable and safe for concurrent use.
type CA struct {
	td    spiffeid.TrustDomain
	cert  *x509.Certificate   // signing certificate
	key   crypto.Signer       // private key of cert
	chain []*x509.Certificate // certificates sent after a leaf: cert and intermediates, never a root
	roots []*x509.Certificate // trust anchors of td
	clock clock.PassiveClock
}

// CAConfig is the settings of a self-signed CA (NewSelfSignedCA,
// LoadOrCreateCA).
type CAConfig struct {
	// TrustDomain the CA issues SVIDs for. Required.
	TrustDomain spiffeid.TrustDomain
	// TTL of the root certificate. Default DefaultRootTTL.
	TTL time.Duration
}

// withDefaults returns c with every zero field set to its default.
func (c CAConfig) withDefaults() CAConfig {
	if c.TTL <= 0 {
		c.TTL = DefaultRootTTL
	}
	return c
}

// CAOptions are a CA's collaborators. The zero value is usable.
type CAOptions struct {
	// Clock gives the issuing time; nil means the real clock.
	Clock clock.PassiveClock
}

// NewSelfSignedCA creates a root CA with a new ECDSA P-256 key. The root's
// subject organization is the trust domain, like Istio's self-signed root, and
// it carries the trust domain's SPIFFE ID as URI SAN.
func NewSelfSignedCA(cfg CAConfig, opts CAOptions) (*CA, error) {
	cfg = cfg.withDefaults()
	if cfg.TrustDomain.IsZero() {
		return nil, errors.New("CA: trust domain is required")
	}
	clk := clockOrReal(opts.Clock)
	ttl := cfg.TTL
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA: generating key: %w", err)
	}
	tmpl, err := caTemplate(cfg.TrustDomain, "meshgate root CA", clk.Now(), ttl)
	if err != nil {
		return nil, err
	}
	cert, err := createCert(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("CA: self-signing root: %w", err)
	}
	return &CA{td: cfg.TrustDomain, cert: cert, key: key, roots: []*x509.Certificate{cert}, clock: clk}, nil
}

// NewIntermediate creates an intermediate CA signed by ca, for the given trust
// domain (the zero value means ca's own), with a new ECDSA P-256 key. Two
// intermediates of one root trust each other's SVIDs: this is how several
// clusters share a root (write each with WriteMaterial into a cacerts directory).
// ttl 0 means DefaultIntermediateTTL; it is capped at the parent's NotAfter.
func (ca *CA) NewIntermediate(td spiffeid.TrustDomain, ttl time.Duration) (*CA, error) {
	if td.IsZero() {
		td = ca.td
	}
	if ttl == 0 {
		ttl = DefaultIntermediateTTL
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA: generating key: %w", err)
	}
	tmpl, err := caTemplate(td, "meshgate intermediate CA", ca.clock.Now(), ttl)
	if err != nil {
		return nil, err
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	cert, err := createCert(tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("CA: signing intermediate: %w", err)
	}
	chain := append([]*x509.Certificate{cert}, ca.chain...)
	return &CA{td: td, cert: cert, key: key, chain: chain, roots: slices.Clone(ca.roots), clock: ca.clock}, nil
}

// caTemplate returns a CA certificate template without a path length
// constraint, so an intermediate may sign further intermediates.
func caTemplate(td spiffeid.TrustDomain, cn string, now time.Time, ttl time.Duration) (*x509.Certificate, error) {
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{td.Name()}, CommonName: cn},
		NotBefore:             now.Add(-DefaultBackdate),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		URIs:                  []*url.URL{td.ID().URL()},
	}
	return tmpl, nil
}

// SVIDOptions configures one issuance.
type SVIDOptions struct {
	// TTL of the leaf; 0 means DefaultSVIDTTL. Capped at the CA certificate's NotAfter.
	TTL time.Duration
	// DNSNames are added as DNS SANs (optional).
	DNSNames []string
}

// IssueX509SVID issues an X.509 SVID for id with a new ECDSA P-256 key. The
// leaf has id as its only URI SAN, digitalSignature and keyEncipherment key
// usage, server and client auth, NotBefore = now - DefaultBackdate and
// NotAfter = now + TTL. Certificates holds the leaf and the CA's chain up to,
// not including, the root.
func (ca *CA) IssueX509SVID(id spiffeid.ID, opts SVIDOptions) (*x509svid.SVID, error) {
	if err := ca.checkLeaf(id); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issuing SVID for %q: generating key: %w", id, err)
	}
	certs, err := ca.signLeaf(id, key.Public(), opts)
	if err != nil {
		return nil, err
	}
	return &x509svid.SVID{ID: id, Certificates: certs, PrivateKey: key}, nil
}

// checkLeaf refuses an ID the CA may not issue, or a CA that has expired.
func (ca *CA) checkLeaf(id spiffeid.ID) error {
	if !id.MemberOf(ca.td) {
		return fmt.Errorf("issuing SVID for %q: not in the CA's trust domain %q", id, ca.td)
	}
	if id.Path() == "" {
		return fmt.Errorf("issuing SVID for %q: a workload SPIFFE ID needs a path", id)
	}
	if now := ca.clock.Now(); !now.Before(ca.cert.NotAfter) {
		return fmt.Errorf("issuing SVID for %q: CA certificate expired at %s", id, ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// signLeaf signs the SVID leaf of id for pub (see IssueX509SVID) and returns
// it followed by the CA's chain up to, not including, the root.
func (ca *CA) signLeaf(id spiffeid.ID, pub crypto.PublicKey, opts SVIDOptions) ([]*x509.Certificate, error) {
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = DefaultSVIDTTL
	}
	now := ca.clock.Now()
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-DefaultBackdate),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{id.URL()},
		DNSNames:              slices.Clone(opts.DNSNames),
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	leaf, err := createCert(tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issuing SVID for %q: %w", id, err)
	}
	certs := make([]*x509.Certificate, 0, 1+len(ca.chain))
	certs = append(certs, leaf)
	return append(certs, ca.chain...), nil
}

// TrustDomain returns the trust domain the CA issues for.
func (ca *CA) TrustDomain() spiffeid.TrustDomain { return ca.td }

// Certificate returns the CA's signing certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Roots returns a copy of the CA's trust anchors.
func (ca *CA) Roots() []*x509.Certificate { return slices.Clone(ca.roots) }

// Bundle returns the X.509 bundle (the roots) of the CA's trust domain.
func (ca *CA) Bundle() *x509bundle.Bundle { return x509bundle.FromX509Authorities(ca.td, ca.roots) }

// WithClock returns a copy of ca that takes the time from clk.
func (ca *CA) WithClock(clk clock.PassiveClock) *CA {
	c := *ca
	c.clock = clockOrReal(clk)
	return &c
}

// DerivedSecretSize is the length of DeriveSecret's keys.
const DerivedSecretSize = 32

// DeriveSecret derives a 32-byte key for purpose from the CA's private key
// (HKDF-SHA256 over its PKCS#8 encoding, info naming the purpose): every
// daemon that loads the same CA (the replicas of a cluster, which share the
// cacerts Secret) derives the same key, nothing else does, and a key of one
// purpose says nothing of the CA key or of another purpose's key. Whoever
// holds the CA key can derive it, as they can already sign for the cluster.
// It fails for a signer whose key cannot be exported (a hardware key).
func (ca *CA) DeriveSecret(purpose string) ([]byte, error) {
	if purpose == "" {
		return nil, errors.New("identity: a derived secret needs a purpose")
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return nil, fmt.Errorf("identity: the CA key cannot be exported to derive a secret: %w", err)
	}
	return hkdf.Key(sha256.New, der, nil, "meshgate identity derived secret v1\x00"+purpose, DerivedSecretSize)
}

// Material returns the CA in Istio's cacerts layout: ca-cert.pem (signing
// certificate), ca-key.pem (PKCS#8 key), cert-chain.pem (signing certificate,
// intermediates, then the roots, as Istio's tooling writes it) and root-cert.pem.
func (ca *CA) Material() (*Material, error) {
	key, err := EncodePrivateKeyPEM(ca.key)
	if err != nil {
		return nil, err
	}
	chain := append(slices.Clone(ca.chain), ca.roots...)
	if len(ca.chain) == 0 {
		chain = ca.roots // self-signed: the chain is the root itself
	}
	return &Material{
		CACert:    EncodeCertificatesPEM([]*x509.Certificate{ca.cert}),
		CAKey:     key,
		CertChain: EncodeCertificatesPEM(chain),
		RootCert:  EncodeCertificatesPEM(ca.roots),
	}, nil
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// serialLimit bounds random serial numbers to 128 bits.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, serialLimit)
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil // never zero
}

func clockOrReal(c clock.PassiveClock) clock.PassiveClock {
	if c == nil {
		return clock.RealClock{}
	}
	return c
}
