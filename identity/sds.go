package identity

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/protobuf/proto"
)

// SDS resource names Istio uses for mesh mTLS.
const (
	// SecretDefault is the workload's (here: the gateway's) certificate and key.
	SecretDefault = "default"
	// SecretRootCA is the validation context holding the trust bundle.
	SecretRootCA = "ROOTCA"
)

// Redacted replaces key material in RedactSecret's output (what Envoy's own
// config dump shows for inline private keys).
const Redacted = "[redacted]"

// CertificateSecret returns the SDS secret "default": a tls_certificate with
// the SVID's certificate chain (leaf first, then intermediates) and its
// PKCS#8 private key, both as inline PEM bytes. The result holds the private
// key: log or dump it only through RedactSecret.
func CertificateSecret(svid *x509svid.SVID) (*tlsv3.Secret, error) {
	return NamedCertificateSecret(SecretDefault, svid)
}

// NamedCertificateSecret is CertificateSecret with another resource name.
func NamedCertificateSecret(name string, svid *x509svid.SVID) (*tlsv3.Secret, error) {
	if svid == nil || len(svid.Certificates) == 0 || svid.PrivateKey == nil {
		return nil, fmt.Errorf("SDS secret %q: SVID without certificate or key", name)
	}
	key, err := EncodePrivateKeyPEM(svid.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("SDS secret %q: %w", name, err)
	}
	return &tlsv3.Secret{
		Name: name,
		Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: inlineBytes(EncodeCertificatesPEM(svid.Certificates)),
			PrivateKey:       inlineBytes(key),
		}},
	}, nil
}

// RootCASecret returns the SDS secret "ROOTCA": a validation_context whose
// trusted_ca holds the PEM roots of every trust domain of set (RootsPEM).
func RootCASecret(set *x509bundle.Set) (*tlsv3.Secret, error) {
	return NamedRootCASecret(SecretRootCA, set)
}

// NamedRootCASecret is RootCASecret with another resource name.
func NamedRootCASecret(name string, set *x509bundle.Set) (*tlsv3.Secret, error) {
	if set == nil {
		return nil, fmt.Errorf("SDS secret %q: no trust bundle", name)
	}
	roots := RootsPEM(set)
	if len(roots) == 0 {
		return nil, fmt.Errorf("SDS secret %q: the trust bundle holds no roots", name)
	}
	return &tlsv3.Secret{
		Name: name,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(roots),
		}},
	}, nil
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// RedactSecret returns a copy of s in which every piece of secret material
// given inline is replaced by "[redacted]": a tls_certificate's private key,
// password and PKCS#12 bundle, session ticket keys, and generic secrets; a
// private key provider's configuration is dropped. File names and environment
// variable names (which are not secret) are kept, and so are certificates and
// trusted CAs. s is not modified. Use it on everything that is logged or served
// on a debug endpoint.
func RedactSecret(s *tlsv3.Secret) *tlsv3.Secret {
	if s == nil {
		return nil
	}
	c := proto.Clone(s).(*tlsv3.Secret)
	switch t := c.GetType().(type) {
	case *tlsv3.Secret_TlsCertificate:
		RedactTLSCertificate(t.TlsCertificate)
	case *tlsv3.Secret_SessionTicketKeys:
		if t.SessionTicketKeys != nil {
			for _, k := range t.SessionTicketKeys.Keys {
				redactDataSource(k)
			}
		}
	case *tlsv3.Secret_GenericSecret:
		if g := t.GenericSecret; g != nil {
			redactDataSource(g.Secret)
			for _, v := range g.Secrets {
				redactDataSource(v)
			}
		}
	}
	return c
}

// RedactTLSCertificate blanks, in place, the secret parts of tc (see
// RedactSecret). It is exported for TLS contexts that embed certificates.
func RedactTLSCertificate(tc *tlsv3.TlsCertificate) {
	if tc == nil {
		return
	}
	redactDataSource(tc.PrivateKey)
	redactDataSource(tc.Password)
	redactDataSource(tc.Pkcs12)
	if tc.PrivateKeyProvider != nil {
		tc.PrivateKeyProvider.ConfigType = nil
	}
}

func redactDataSource(d *corev3.DataSource) {
	if d == nil {
		return
	}
	switch d.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes, *corev3.DataSource_InlineString:
		d.Specifier = &corev3.DataSource_InlineBytes{InlineBytes: []byte(Redacted)}
	}
}
