package identity

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// TrustDomainHeader is the PEM header naming a root's trust domain in the
// bundle-set encoding (EncodeBundleSetPEM).
const TrustDomainHeader = "Trust-Domain"

// ParseBundlePEM reads the PEM roots of one trust domain (a root-cert.pem, or
// the TrustBundle a cluster publishes). Every certificate must be a CA.
func ParseBundlePEM(td spiffeid.TrustDomain, data []byte) (*x509bundle.Bundle, error) {
	if td.IsZero() {
		return nil, errors.New("trust bundle: trust domain is required")
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("trust bundle of %q: %w", td, err)
	}
	for i, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("trust bundle of %q: certificate %d (%q) is not a CA", td, i+1, c.Subject)
		}
	}
	return x509bundle.FromX509Authorities(td, certs), nil
}

// EncodeBundlePEM returns the roots of b as PEM, sorted (see RootsPEM).
func EncodeBundlePEM(b *x509bundle.Bundle) []byte {
	return EncodeCertificatesPEM(sortedCerts(b.X509Authorities()))
}

// AddBundle adds b to set. If set already holds a bundle for b's trust
// domain, the roots are merged (clusters sharing a trust domain but not a
// root each contribute theirs) instead of replaced. b itself is not modified
// and not retained.
func AddBundle(set *x509bundle.Set, b *x509bundle.Bundle) {
	cur, ok := set.Get(b.TrustDomain())
	if !ok {
		set.Add(b.Clone())
		return
	}
	merged := cur.Clone()
	for _, c := range b.X509Authorities() {
		merged.AddX509Authority(c)
	}
	set.Add(merged)
}

// NewBundleSet returns a set holding bundles, merged per trust domain.
func NewBundleSet(bundles ...*x509bundle.Bundle) *x509bundle.Set {
	set := x509bundle.NewSet()
	for _, b := range bundles {
		AddBundle(set, b)
	}
	return set
}

// RootsPEM returns the roots of every trust domain of set as one PEM blob, the
// form of Envoy's trusted_ca. The output is deterministic: trust domains in
// order, each one's roots sorted by their DER bytes, a root held by several
// trust domains written once.
func RootsPEM(set *x509bundle.Set) []byte {
	var all []*x509.Certificate
	for _, b := range set.Bundles() {
		for _, c := range sortedCerts(b.X509Authorities()) {
			if !containsCert(all, c) {
				all = append(all, c)
			}
		}
	}
	return EncodeCertificatesPEM(all)
}

// EncodeBundleSetPEM encodes every root of set as a CERTIFICATE block with a
// Trust-Domain header, so that DecodeBundleSetPEM restores the set. The
// output is deterministic (see RootsPEM). Use RootsPEM, not this, for Envoy:
// PEM headers are not accepted everywhere.
func EncodeBundleSetPEM(set *x509bundle.Set) []byte {
	var buf bytes.Buffer
	for _, b := range set.Bundles() {
		for _, c := range sortedCerts(b.X509Authorities()) {
			_ = pem.Encode(&buf, &pem.Block{
				Type:    pemCertificate,
				Headers: map[string]string{TrustDomainHeader: b.TrustDomain().Name()},
				Bytes:   c.Raw,
			})
		}
	}
	return buf.Bytes()
}

// DecodeBundleSetPEM reads the output of EncodeBundleSetPEM. Every block must
// be a CERTIFICATE of a CA with a valid Trust-Domain header.
func DecodeBundleSetPEM(data []byte) (*x509bundle.Set, error) {
	set := x509bundle.NewSet()
	rest := data
	for i := 1; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != pemCertificate {
			return nil, fmt.Errorf("bundle set: PEM block %d is %q, want %q", i, block.Type, pemCertificate)
		}
		td, err := spiffeid.TrustDomainFromString(block.Headers[TrustDomainHeader])
		if err != nil {
			return nil, fmt.Errorf("bundle set: PEM block %d: header %s: %w", i, TrustDomainHeader, err)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("bundle set: PEM block %d: %w", i, err)
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("bundle set: PEM block %d (%q) is not a CA", i, c.Subject)
		}
		AddBundle(set, x509bundle.FromX509Authorities(td, []*x509.Certificate{c}))
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("bundle set: trailing data that is not a PEM block")
	}
	if set.Len() == 0 {
		return nil, errors.New("bundle set: no PEM certificate found")
	}
	return set, nil
}

func sortedCerts(certs []*x509.Certificate) []*x509.Certificate {
	out := slices.Clone(certs)
	slices.SortFunc(out, func(a, b *x509.Certificate) int { return bytes.Compare(a.Raw, b.Raw) })
	return out
}
