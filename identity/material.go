package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"
)

// File (and Secret key) names of Istio's cacerts layout.
const (
	FileCACert    = "ca-cert.pem"
	FileCAKey     = "ca-key.pem"
	FileCertChain = "cert-chain.pem"
	FileRootCert  = "root-cert.pem"
)

// Material is a CA's PEM material in Istio's cacerts layout. The same four
// names are the keys of Istio's "cacerts" and "istio-ca-secret" Secrets, so a
// Kubernetes Secret store can map them one to one.
type Material struct {
	// CACert (ca-cert.pem) is the signing certificate. Required.
	CACert []byte
	// CAKey (ca-key.pem) is the signing key: PKCS#8, SEC 1 or PKCS#1. Required.
	CAKey []byte
	// CertChain (cert-chain.pem) is the chain from CACert towards the root.
	// Istio's tooling writes ca-cert + intermediates + root; certificates equal
	// to CACert or to a root are skipped. Optional.
	CertChain []byte
	// RootCert (root-cert.pem) holds the trust anchors. Required.
	RootCert []byte
}

// String never prints key material.
func (m *Material) String() string { return "identity.Material{key redacted}" }

// MaterialError names the file (or Secret key) of a CA that is wrong.
type MaterialError struct {
	// File is one of FileCACert, FileCAKey, FileCertChain, FileRootCert.
	File string
	Err  error
}

func (e *MaterialError) Error() string { return e.File + ": " + e.Err.Error() }
func (e *MaterialError) Unwrap() error { return e.Err }

func fileErr(file string, format string, args ...any) error {
	return &MaterialError{File: file, Err: fmt.Errorf(format, args...)}
}

// ParseCA validates m and returns a CA issuing for td, using clk (nil: the
// real clock) to check validity periods. It checks that every file parses,
// that ca-key.pem matches ca-cert.pem, that ca-cert.pem and every intermediate
// is a CA allowed to sign certificates, that all are currently valid, and that
// ca-cert.pem verifies to a root of root-cert.pem through cert-chain.pem.
// Errors are *MaterialError values naming the file.
func ParseCA(m *Material, td spiffeid.TrustDomain, clk clock.PassiveClock) (*CA, error) {
	if td.IsZero() {
		return nil, errors.New("CA: trust domain is required")
	}
	clk = clockOrReal(clk)
	now := clk.Now()
	cert, err := parseOneCA(FileCACert, m.CACert, now)
	if err != nil {
		return nil, err
	}
	if err := checkCATrustDomain(cert, td); err != nil {
		return nil, &MaterialError{File: FileCACert, Err: err}
	}
	if len(m.CAKey) == 0 {
		return nil, fileErr(FileCAKey, "missing or empty")
	}
	key, err := ParsePrivateKeyPEM(m.CAKey)
	if err != nil {
		return nil, &MaterialError{File: FileCAKey, Err: err}
	}
	if !keyMatches(key, cert) {
		return nil, fileErr(FileCAKey, "private key does not match the public key of %s", FileCACert)
	}
	roots, err := parseRoots(m.RootCert, now)
	if err != nil {
		return nil, err
	}
	chain, err := verifyChain(cert, m.CertChain, roots, now)
	if err != nil {
		return nil, err
	}
	return &CA{td: td, cert: cert, key: key, chain: chain, roots: roots, clock: clk}, nil
}

// checkCATrustDomain rejects a CA certificate whose SPIFFE URI SAN (meshgate
// CAs carry spiffe://<td>) names another trust domain. Certificates without a
// SPIFFE URI SAN (Istio's cacerts) are accepted for any trust domain.
func checkCATrustDomain(cert *x509.Certificate, td spiffeid.TrustDomain) error {
	for _, u := range cert.URIs {
		id, err := spiffeid.FromURI(u)
		if err != nil {
			continue
		}
		if id.TrustDomain() != td {
			return fmt.Errorf("CA certificate belongs to trust domain %q, not %q", id.TrustDomain(), td)
		}
	}
	return nil
}

func parseOneCA(file string, data []byte, now time.Time) (*x509.Certificate, error) {
	if len(data) == 0 {
		return nil, fileErr(file, "missing or empty")
	}
	certs, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, &MaterialError{File: file, Err: err}
	}
	if len(certs) != 1 {
		return nil, fileErr(file, "holds %d certificates, want exactly 1", len(certs))
	}
	if err := checkCA(certs[0], now); err != nil {
		return nil, &MaterialError{File: file, Err: err}
	}
	return certs[0], nil
}

func parseRoots(data []byte, now time.Time) ([]*x509.Certificate, error) {
	if len(data) == 0 {
		return nil, fileErr(FileRootCert, "missing or empty")
	}
	roots, err := ParseCertificatesPEM(data)
	if err != nil {
		return nil, &MaterialError{File: FileRootCert, Err: err}
	}
	for i, r := range roots {
		if err := checkCA(r, now); err != nil {
			return nil, fileErr(FileRootCert, "certificate %d: %w", i+1, err)
		}
	}
	return roots, nil
}

// checkCA checks that c may sign certificates and is valid at now.
func checkCA(c *x509.Certificate, now time.Time) error {
	name := c.Subject.String()
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return fmt.Errorf("certificate %q is not a CA (basic constraints CA:TRUE missing)", name)
	case c.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("certificate %q lacks the keyCertSign key usage", name)
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate %q is not valid before %s", name, c.NotBefore.UTC().Format(time.RFC3339))
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate %q expired at %s", name, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifyChain checks that cert verifies to one of roots through the
// intermediates of chainPEM, and returns the certificates to send after a
// leaf: cert followed by the intermediates of the verified path.
func verifyChain(cert *x509.Certificate, chainPEM []byte, roots []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	isRoot := func(c *x509.Certificate) bool {
		for _, r := range roots {
			if r.Equal(c) {
				return true
			}
		}
		return false
	}
	var inter []*x509.Certificate
	if len(chainPEM) > 0 {
		certs, err := ParseCertificatesPEM(chainPEM)
		if err != nil {
			return nil, &MaterialError{File: FileCertChain, Err: err}
		}
		for i, c := range certs {
			if c.Equal(cert) || isRoot(c) {
				continue
			}
			if err := checkCA(c, now); err != nil {
				return nil, fileErr(FileCertChain, "certificate %d: %w", i+1, err)
			}
			inter = append(inter, c)
		}
	}
	rootPool, interPool := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	for _, c := range inter {
		interPool.AddCert(c)
	}
	if isRoot(cert) {
		return nil, nil // a self-signed root signs directly; nothing to send after the leaf
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots: rootPool, Intermediates: interPool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fileErr(FileCACert, "does not verify to %s through %s: %w", FileRootCert, FileCertChain, err)
	}
	path := chains[0] // cert, intermediates..., root
	for _, c := range inter {
		if !containsCert(path, c) {
			return nil, fileErr(FileCertChain, "certificate %q is not on the path from %s to %s", c.Subject, FileCACert, FileRootCert)
		}
	}
	return path[:len(path)-1], nil
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}
