package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ParseCSRPEM parses one PEM "CERTIFICATE REQUEST" and checks its
// signature (the requester holds the key).
func ParseCSRPEM(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("CSR: no PEM block")
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("CSR: PEM block is %q, want CERTIFICATE REQUEST", block.Type)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR: signature: %w", err)
	}
	return csr, nil
}

// SignCSR issues an X.509 SVID for id with the public key of csr: the same
// leaf as IssueX509SVID (id as the only URI SAN, opts.DNSNames, TTL capped
// at the CA's NotAfter), whatever names the CSR asks for; the caller decides
// whether those were acceptable. It returns the leaf and the chain up to,
// not including, the root. The key must be ECDSA (P-256 or larger), RSA
// (2048 bits or more) or Ed25519.
func (ca *CA) SignCSR(csr *x509.CertificateRequest, id spiffeid.ID, opts SVIDOptions) ([]*x509.Certificate, error) {
	if err := ca.checkLeaf(id); err != nil {
		return nil, err
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return nil, fmt.Errorf("CSR for %q: ECDSA key of %d bits is too weak", id, k.Curve.Params().BitSize)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("CSR for %q: RSA key of %d bits is too weak", id, k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("CSR for %q: unsupported public key type %T", id, csr.PublicKey)
	}
	return ca.signLeaf(id, csr.PublicKey, opts)
}
