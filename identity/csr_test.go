package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

func csrPEM(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"ignored.example"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignCSR(t *testing.T) {
	ca := newCA(t, tdA)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSRPEM(csrPEM(t, key))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.SignCSR(csr, gatewayID, SVIDOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := x509svid.Verify(certs, ca.Bundle())
	if err != nil || id != gatewayID {
		t.Fatalf("Verify: %v %v", id, err)
	}
	leaf := certs[0]
	if len(leaf.DNSNames) != 0 || len(leaf.URIs) != 1 {
		t.Fatalf("leaf names: DNS %v URIs %v; want only the SPIFFE ID", leaf.DNSNames, leaf.URIs)
	}
	if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatal("leaf does not carry the CSR's key")
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got != time.Hour+DefaultBackdate {
		t.Fatalf("validity %v", got)
	}
}

func TestSignCSRRefusals(t *testing.T) {
	ca := newCA(t, tdA)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSRPEM(csrPEM(t, weak))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.SignCSR(csr, gatewayID, SVIDOptions{}); err == nil || !strings.Contains(err.Error(), "too weak") {
		t.Fatalf("weak RSA key: %v", err)
	}
	if _, err := ca.SignCSR(csr, westID, SVIDOptions{}); err == nil || !strings.Contains(err.Error(), "trust domain") {
		t.Fatalf("foreign trust domain: %v", err)
	}
	for name, in := range map[string]string{
		"not PEM":     "hello",
		"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})),
		"garbage DER": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2}})),
	} {
		if _, err := ParseCSRPEM([]byte(in)); err == nil {
			t.Errorf("%s: ParseCSRPEM accepted it", name)
		}
	}
}
