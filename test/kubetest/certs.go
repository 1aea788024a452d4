package kubetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// pki is the key material a cluster needs besides the serving certificate
// (which kube-apiserver generates itself in --cert-dir): a CA for client
// certificates, the admin client certificate signed by it, and the key pair
// that signs service-account tokens.
type pki struct {
	clientCAFile string // --client-ca-file
	saKeyFile    string // --service-account-signing-key-file
	saPubFile    string // --service-account-key-file

	clientCA *x509.Certificate
	caKey    crypto.Signer

	adminCertPEM, adminKeyPEM []byte
}

// certValidity is long enough for any test run; the files live in a
// temporary directory.
const certValidity = 7 * 24 * time.Hour

// newPKI generates the key material and writes the files the apiserver reads
// into dir.
func newPKI(dir, clusterName string) (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest-client-ca-" + clusterName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &pki{
		clientCAFile: filepath.Join(dir, "client-ca.crt"),
		saKeyFile:    filepath.Join(dir, "service-account.key"),
		saPubFile:    filepath.Join(dir, "service-account.pub"),
		clientCA:     ca,
		caKey:        caKey,
	}
	if err := os.WriteFile(p.clientCAFile, pemBlock("CERTIFICATE", caDER), 0o600); err != nil {
		return nil, err
	}
	p.adminCertPEM, p.adminKeyPEM, err = p.clientCert("kubetest-admin", []string{"system:masters"})
	if err != nil {
		return nil, fmt.Errorf("admin client certificate: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// kube-apiserver reads public keys from PUBLIC KEY or EC/RSA PRIVATE
	// KEY blocks, not PKCS#8.
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.saKeyFile, pemBlock("EC PRIVATE KEY", saDER), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.saPubFile, pemBlock("PUBLIC KEY", pubDER), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

// clientCert issues a client certificate for user (CN) in groups (O), signed
// by the cluster's client CA. It returns PEM certificate and key.
func (p *pki) clientCert(user string, groups []string) (certPEM, keyPEMBytes []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: user, Organization: groups},
		NotBefore:    p.clientCA.NotBefore,
		NotAfter:     p.clientCA.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.clientCA, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, err
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("CERTIFICATE", der), kp, nil
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
