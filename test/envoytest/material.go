package envoytest

import (
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/identity"
)

// Material is throwaway key material for what a static bootstrap cannot get
// from meshgate: a self-signed CA of trust domain cluster.local and one
// certificate it signed, both as SDS secrets and as files.
type Material struct {
	CA   *identity.CA
	SVID *x509svid.SVID
	// CertFile, KeyFile and CAFile hold the certificate chain, the private
	// key and the CA certificate (PEM).
	CertFile, KeyFile, CAFile string
}

// NewMaterial creates the key material and writes its files into dir.
func NewMaterial(dir string) (*Material, error) {
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td, TTL: 24 * time.Hour}, identity.CAOptions{})
	if err != nil {
		return nil, err
	}
	id := spiffeid.RequireFromPath(td, "/ns/istio-system/sa/envoytest")
	svid, err := ca.IssueX509SVID(id, identity.SVIDOptions{DNSNames: []string{"envoytest.example.com"}})
	if err != nil {
		return nil, err
	}
	if err := identity.WriteSVIDFiles(dir, svid, identity.NewBundleSet(ca.Bundle())); err != nil {
		return nil, fmt.Errorf("envoytest material: %w", err)
	}
	return &Material{
		CA: ca, SVID: svid,
		CertFile: filepath.Join(dir, identity.SVIDFileCertChain),
		KeyFile:  filepath.Join(dir, identity.SVIDFileKey),
		CAFile:   filepath.Join(dir, identity.SVIDFileRoots),
	}, nil
}

// CertificateSecret is an SDS tls_certificate secret named name.
func (m *Material) CertificateSecret(name string) (*tlsv3.Secret, error) {
	return identity.NamedCertificateSecret(name, m.SVID)
}

// ValidationSecret is an SDS validation_context secret named name that trusts
// the CA.
func (m *Material) ValidationSecret(name string) (*tlsv3.Secret, error) {
	return identity.NamedRootCASecret(name, identity.NewBundleSet(m.CA.Bundle()))
}

// replacePlaceholders returns sec with throwaway material in place of
// certificates, keys and CAs that are not PEM (placeholders such as "foo" in
// test inputs, or "[redacted]"); other fields are kept. replaced says whether
// anything was replaced; sec itself is not modified.
func (m *Material) replacePlaceholders(sec *tlsv3.Secret) (*tlsv3.Secret, bool, error) {
	switch t := sec.GetType().(type) {
	case *tlsv3.Secret_TlsCertificate:
		tc := t.TlsCertificate
		if hasPEM(tc.GetCertificateChain(), "CERTIFICATE") && hasPEM(tc.GetPrivateKey(), "PRIVATE KEY") {
			return sec, false, nil
		}
		gen, err := m.CertificateSecret(sec.GetName())
		if err != nil {
			return nil, false, err
		}
		c := proto.Clone(sec).(*tlsv3.Secret)
		c.GetTlsCertificate().CertificateChain = gen.GetTlsCertificate().GetCertificateChain()
		c.GetTlsCertificate().PrivateKey = gen.GetTlsCertificate().GetPrivateKey()
		return c, true, nil
	case *tlsv3.Secret_ValidationContext:
		ca := t.ValidationContext.GetTrustedCa()
		if ca == nil || hasPEM(ca, "CERTIFICATE") {
			return sec, false, nil
		}
		gen, err := m.ValidationSecret(sec.GetName())
		if err != nil {
			return nil, false, err
		}
		c := proto.Clone(sec).(*tlsv3.Secret)
		c.GetValidationContext().TrustedCa = gen.GetValidationContext().GetTrustedCa()
		return c, true, nil
	}
	return sec, false, nil
}

// hasPEM reports whether an inline data source holds a PEM block whose type
// ends with typ; a data source that is not inline (file, environment) counts
// as present: it is handled where files are substituted.
func hasPEM(ds *corev3.DataSource, typ string) bool {
	var b []byte
	switch s := ds.GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		b = s.InlineBytes
	case *corev3.DataSource_InlineString:
		b = []byte(s.InlineString)
	default:
		return ds != nil
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if strings.HasSuffix(blk.Type, typ) {
			return true
		}
	}
}
