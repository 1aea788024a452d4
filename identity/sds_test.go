package identity

import (
	"bytes"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

func TestCertificateSecret(t *testing.T) {
	root := newCA(t, tdA)
	inter, err := root.NewIntermediate(tdA, 0)
	if err != nil {
		t.Fatal(err)
	}
	svid := issue(t, inter, gatewayID, time.Hour)
	s, err := CertificateSecret(svid)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ValidateAll(); err != nil {
		t.Fatalf("ValidateAll: %v", err)
	}
	if s.GetName() != "default" {
		t.Errorf("name %q, want default", s.GetName())
	}
	tc := s.GetTlsCertificate()
	chainPEM := tc.GetCertificateChain().GetInlineBytes()
	keyPEM := tc.GetPrivateKey().GetInlineBytes()
	back, err := x509svid.Parse(chainPEM, keyPEM)
	if err != nil {
		t.Fatalf("secret does not parse back as an SVID: %v", err)
	}
	if back.ID != gatewayID || len(back.Certificates) != 2 || !back.Certificates[0].Equal(svid.Certificates[0]) || !back.Certificates[1].Equal(inter.Certificate()) {
		t.Fatalf("parsed SVID differs: %s, %d certificates", back.ID, len(back.Certificates))
	}
	if _, err := CertificateSecret(&x509svid.SVID{}); err == nil {
		t.Error("empty SVID accepted")
	}
}

func TestRootCASecret(t *testing.T) {
	a1, a2, b := newCA(t, tdA), newCA(t, tdA), newCA(t, tdB)
	s, err := RootCASecret(NewBundleSet(a1.Bundle(), a2.Bundle(), b.Bundle()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ValidateAll(); err != nil {
		t.Fatalf("ValidateAll: %v", err)
	}
	if s.GetName() != "ROOTCA" {
		t.Errorf("name %q, want ROOTCA", s.GetName())
	}
	certs, err := ParseCertificatesPEM(s.GetValidationContext().GetTrustedCa().GetInlineBytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 3 {
		t.Fatalf("trusted_ca holds %d roots, want 3", len(certs))
	}
	for _, ca := range []*CA{a1, a2, b} {
		if !containsCert(certs, ca.Certificate()) {
			t.Errorf("trusted_ca lacks the root of %s", ca.TrustDomain())
		}
	}
	if _, err := RootCASecret(NewBundleSet()); err == nil {
		t.Error("empty bundle set accepted")
	}
}

func TestRedactSecret(t *testing.T) {
	svid := issue(t, newCA(t, tdA), gatewayID, time.Hour)
	s, err := CertificateSecret(svid)
	if err != nil {
		t.Fatal(err)
	}
	orig := proto.Clone(s)
	r := RedactSecret(s)
	if !proto.Equal(s, orig) {
		t.Fatal("RedactSecret modified its input")
	}
	if got := string(r.GetTlsCertificate().GetPrivateKey().GetInlineBytes()); got != Redacted {
		t.Errorf("private key = %q, want %q", got, Redacted)
	}
	if !bytes.Equal(r.GetTlsCertificate().GetCertificateChain().GetInlineBytes(), s.GetTlsCertificate().GetCertificateChain().GetInlineBytes()) {
		t.Error("certificate chain was changed")
	}
	secrets := keySecrets(t, svid)
	for name, dump := range map[string]string{
		"prototext": prototext.Format(r),
		"protojson": protojson.Format(r),
	} {
		if strings.Contains(dump, "PRIVATE KEY") {
			t.Errorf("%s dump contains a PEM private key", name)
		}
		for _, sec := range secrets {
			if strings.Contains(dump, sec) {
				t.Errorf("%s dump contains key material", name)
			}
		}
	}
	// The unredacted dumps do contain it: the checks above can see a leak.
	for _, dump := range []string{prototext.Format(s), protojson.Format(s)} {
		found := 0
		for _, sec := range secrets {
			if strings.Contains(dump, sec) {
				found++
			}
		}
		if found == 0 {
			t.Fatalf("test cannot detect the key in an unredacted dump:\n%s", dump)
		}
	}

	// Other secret kinds.
	inline := func(b string) *corev3.DataSource {
		return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: b}}
	}
	file := &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/certs/key.pem"}}
	others := []*tlsv3.Secret{
		{Name: "tickets", Type: &tlsv3.Secret_SessionTicketKeys{SessionTicketKeys: &tlsv3.TlsSessionTicketKeys{Keys: []*corev3.DataSource{inline("t1"), inline("t2")}}}},
		{Name: "generic", Type: &tlsv3.Secret_GenericSecret{GenericSecret: &tlsv3.GenericSecret{Secret: inline("g"), Secrets: map[string]*corev3.DataSource{"k": inline("v")}}}},
		{Name: "tls", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			PrivateKey: file, Password: inline("pw"), Pkcs12: inline("p12"),
			PrivateKeyProvider: &tlsv3.PrivateKeyProvider{ProviderName: "cryptomb"},
		}}},
	}
	for _, o := range others {
		dump := prototext.Format(RedactSecret(o))
		for _, secret := range []string{`"t1"`, `"t2"`, `"g"`, `"v"`, `"pw"`, `"p12"`} {
			if strings.Contains(dump, secret) {
				t.Errorf("%s: redacted dump contains %s:\n%s", o.Name, secret, dump)
			}
		}
	}
	tls := RedactSecret(others[2]).GetTlsCertificate()
	if tls.GetPrivateKey().GetFilename() != "/etc/certs/key.pem" {
		t.Error("a key file name (not secret) was removed")
	}
	if RedactSecret(nil) != nil {
		t.Error("RedactSecret(nil) != nil")
	}
}
