package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// TestIssueX509SVID checks the shape of an SVID against the SPIFFE X509-SVID
// rules via go-spiffe's own parser and verifier.
func TestIssueX509SVID(t *testing.T) {
	fc := fakeClockAt(0)
	ca, err := NewSelfSignedCA(CAConfig{TrustDomain: tdA}, CAOptions{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.IssueX509SVID(gatewayID, SVIDOptions{TTL: 3 * time.Hour, DNSNames: []string{"eastwest.istio-system.svc"}})
	if err != nil {
		t.Fatal(err)
	}
	leaf := svid.Certificates[0]
	if len(svid.Certificates) != 1 {
		t.Errorf("self-signed CA: chain has %d certificates, want the leaf only", len(svid.Certificates))
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("leaf key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 || leaf.KeyUsage&x509.KeyUsageCertSign != 0 {
		t.Errorf("leaf usage: IsCA=%v KeyUsage=%v", leaf.IsCA, leaf.KeyUsage)
	}
	if got := leaf.NotAfter.Sub(fc.Now()); got != 3*time.Hour {
		t.Errorf("TTL %v, want 3h", got)
	}
	if got := fc.Now().Sub(leaf.NotBefore); got != DefaultBackdate {
		t.Errorf("backdate %v, want %v", got, DefaultBackdate)
	}
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "eastwest.istio-system.svc" {
		t.Errorf("DNS SANs %v", leaf.DNSNames)
	}
	// Marshal → go-spiffe Parse → Verify.
	certPEM, keyPEM, err := svid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509svid.Parse(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("x509svid.Parse: %v", err)
	}
	if parsed.ID != gatewayID {
		t.Errorf("parsed ID %s", parsed.ID)
	}
	id, _, err := x509svid.Verify(parsed.Certificates, NewBundleSet(ca.Bundle()), x509svid.WithTime(fc.Now()))
	if err != nil || id != gatewayID {
		t.Fatalf("Verify = %s, %v", id, err)
	}
	if svid2 := issue(t, ca, gatewayID, time.Hour); svid2.Certificates[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two SVIDs share a serial number")
	}
}

func TestIssueX509SVIDErrors(t *testing.T) {
	fc := fakeClockAt(0)
	ca, err := NewSelfSignedCA(CAConfig{TrustDomain: tdA, TTL: 2 * time.Hour}, CAOptions{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssueX509SVID(westID, SVIDOptions{}); err == nil || !strings.Contains(err.Error(), "not in the CA's trust domain") {
		t.Errorf("other trust domain: %v", err)
	}
	if _, err := ca.IssueX509SVID(tdA.ID(), SVIDOptions{}); err == nil || !strings.Contains(err.Error(), "needs a path") {
		t.Errorf("trust domain ID: %v", err)
	}
	// TTL is capped at the CA's NotAfter.
	svid := issue(t, ca, gatewayID, 24*time.Hour)
	if !svid.Certificates[0].NotAfter.Equal(ca.Certificate().NotAfter) {
		t.Errorf("leaf NotAfter %v not capped at CA NotAfter %v", svid.Certificates[0].NotAfter, ca.Certificate().NotAfter)
	}
	fc.Step(3 * time.Hour)
	if _, err := ca.IssueX509SVID(gatewayID, SVIDOptions{}); err == nil || !strings.Contains(err.Error(), "CA certificate expired") {
		t.Errorf("expired CA: %v", err)
	}
	if _, err := NewSelfSignedCA(CAConfig{}, CAOptions{}); err == nil {
		t.Error("NewSelfSignedCA without trust domain succeeded")
	}
}

// TestMaterialLayout: a self-signed CA's material follows Istio's layout and
// loads back; an intermediate's cert-chain.pem is ca-cert then root.
func TestMaterialLayout(t *testing.T) {
	root := newCA(t, tdA)
	m, err := root.Material()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.CACert, m.RootCert) || !bytes.Equal(m.CertChain, m.RootCert) {
		t.Error("self-signed: ca-cert, cert-chain and root-cert should all be the root")
	}
	inter, err := root.NewIntermediate(spiffeid.TrustDomain{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := inter.Material()
	chain, err := ParseCertificatesPEM(im.CertChain)
	if err != nil || len(chain) != 2 || !chain[0].Equal(inter.Certificate()) || !chain[1].Equal(root.Certificate()) {
		t.Fatalf("intermediate cert-chain.pem is not ca-cert + root: %v", err)
	}
	if s := im.String(); strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("Material.String leaks the key: %s", s)
	}
	back, err := ParseCA(im, tdA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Certificate().Equal(inter.Certificate()) || len(back.chain) != 1 {
		t.Fatalf("reloaded intermediate differs")
	}
}

// TestSVIDAttrHasNoKey: the log attribute names the SVID, never its key.
func TestSVIDAttrHasNoKey(t *testing.T) {
	svid := issue(t, newCA(t, tdA), gatewayID, time.Hour)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", SVIDAttr("svid", svid))
	out := buf.String()
	if !strings.Contains(out, gatewayID.String()) || !strings.Contains(out, svid.Certificates[0].SerialNumber.Text(16)) {
		t.Errorf("log line lacks ID or serial: %s", out)
	}
	if strings.Contains(out, "PRIVATE") {
		t.Errorf("log line contains a PEM key: %s", out)
	}
	for _, secret := range keySecrets(t, svid) {
		if strings.Contains(out, secret) {
			t.Errorf("log line contains key material %q: %s", secret, out)
		}
	}
}

// keySecrets returns strings that would betray svid's private key if they
// appeared in output: the private scalar in decimal and hex, the base64 of
// the PEM key as a whole (what protojson prints for inline bytes), and the
// parts of the PEM text that encode the scalar (after the 48-character
// PKCS#8 prefix shared by all P-256 keys).
func keySecrets(t *testing.T, svid *x509svid.SVID) []string {
	t.Helper()
	k, ok := svid.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("key is %T", svid.PrivateKey)
	}
	d := new(big.Int).SetBytes(mustBytes(k.Bytes()))
	_, keyPEM, err := svid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(keyPEM), "\n")
	return []string{
		d.Text(10), d.Text(16),
		base64.StdEncoding.EncodeToString(keyPEM),
		lines[1][48:], // first 12 bytes of the scalar
		lines[2][:24], // next 18 bytes of the scalar
	}
}

func mustBytes(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestDeriveSecret: two loads of the same CA material (two replicas of a
// cluster sharing the cacerts Secret) derive the same key for a purpose;
// another purpose or another CA gives another key; no purpose is refused.
func TestDeriveSecret(t *testing.T) {
	ca := newCA(t, tdA)
	m, err := ca.Material()
	if err != nil {
		t.Fatal(err)
	}
	replica, err := ParseCA(m, tdA, nil)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := ca.DeriveSecret("federation sealing key")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := replica.DeriveSecret("federation sealing key")
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != DerivedSecretSize || !bytes.Equal(k1, k2) {
		t.Fatalf("replicas of one CA derive different keys (%d bytes): %x vs %x", len(k1), k1, k2)
	}
	other, _ := ca.DeriveSecret("another purpose")
	otherCA, _ := newCA(t, tdA).DeriveSecret("federation sealing key")
	if bytes.Equal(other, k1) || bytes.Equal(otherCA, k1) || len(other) != DerivedSecretSize || len(otherCA) != DerivedSecretSize {
		t.Fatalf("another purpose or CA derives the same key")
	}
	if _, err := ca.DeriveSecret(""); err == nil {
		t.Fatal("a secret derived for no purpose")
	}
}
