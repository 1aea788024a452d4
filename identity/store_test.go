package identity

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// TestCAPersistence: a second start loads the CA the first one created.
func TestCAPersistence(t *testing.T) {
	ctx := context.Background()
	store := DirStore{Dir: filepath.Join(t.TempDir(), "ca")}
	first, created, err := LoadOrCreateCA(ctx, store, CAConfig{TrustDomain: tdA}, CAOptions{})
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	second, created, err := LoadOrCreateCA(ctx, store, CAConfig{TrustDomain: tdA}, CAOptions{})
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	if !first.Certificate().Equal(second.Certificate()) {
		t.Fatal("second start loaded a different CA certificate")
	}
	if !keyMatches(second.key, first.Certificate()) {
		t.Fatal("second start loaded a different CA key")
	}
	// An SVID from the reloaded CA verifies against the first CA's bundle.
	svid := issue(t, second, gatewayID, time.Hour)
	if _, _, err := x509svid.Verify(svid.Certificates, NewBundleSet(first.Bundle())); err != nil {
		t.Fatalf("SVID of the reloaded CA does not verify: %v", err)
	}
	info, err := os.Stat(filepath.Join(store.Dir, FileCAKey))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", FileCAKey, info.Mode().Perm())
	}
	// Save never overwrites.
	m, _ := newCA(t, tdA).Material()
	if err := store.Save(ctx, m); !errors.Is(err, ErrExists) {
		t.Fatalf("Save over an existing CA: %v, want ErrExists", err)
	}
	third, err := LoadCA(ctx, store, tdA, nil)
	if err != nil || !third.Certificate().Equal(first.Certificate()) {
		t.Fatalf("CA changed after a refused Save: %v", err)
	}
}

// TestCACorruptFiles: damaged files give an error naming the file, and
// LoadOrCreateCA never replaces a damaged CA.
func TestCACorruptFiles(t *testing.T) {
	ctx := context.Background()
	otherKey, _ := EncodePrivateKeyPEM(mustECKey(t))
	leafPEM := EncodeCertificatesPEM([]*x509.Certificate{issue(t, newCA(t, tdA), gatewayID, time.Hour).Certificates[0]})
	tests := []struct {
		name    string
		damage  func(dir string)
		wantErr []string
	}{
		{"garbage ca-cert.pem", write(FileCACert, []byte("not a certificate")), []string{"ca-cert.pem", "no PEM certificate found"}},
		{"truncated ca-cert.pem", truncate(FileCACert), []string{"ca-cert.pem"}},
		{"garbage ca-key.pem", write(FileCAKey, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")), []string{"ca-key.pem", "cannot parse PRIVATE KEY"}},
		{"empty ca-key.pem", write(FileCAKey, nil), []string{"ca-key.pem", "missing or empty"}},
		{"key of another CA", write(FileCAKey, otherKey), []string{"ca-key.pem", "does not match the public key of ca-cert.pem"}},
		{"missing ca-key.pem", remove(FileCAKey), []string{"ca-key.pem", "missing", "incomplete"}},
		{"missing root-cert.pem", remove(FileRootCert), []string{"root-cert.pem", "missing"}},
		{"leaf as ca-cert.pem", write(FileCACert, leafPEM), []string{"ca-cert.pem", "is not a CA"}},
		{"garbage root-cert.pem", write(FileRootCert, []byte("junk")), []string{"root-cert.pem", "no PEM certificate found"}},
		{"trailing junk in cert-chain.pem", appendTo(FileCertChain, []byte("junk")), []string{"cert-chain.pem", "trailing data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := DirStore{Dir: t.TempDir()}
			if _, _, err := LoadOrCreateCA(ctx, store, CAConfig{TrustDomain: tdA}, CAOptions{}); err != nil {
				t.Fatal(err)
			}
			tt.damage(store.Dir)
			before := snapshotDir(t, store.Dir)
			_, created, err := LoadOrCreateCA(ctx, store, CAConfig{TrustDomain: tdA}, CAOptions{})
			if err == nil || created {
				t.Fatalf("LoadOrCreateCA on a damaged CA: created=%v err=%v", created, err)
			}
			for _, w := range append(tt.wantErr, store.Dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if after := snapshotDir(t, store.Dir); after != before {
				t.Errorf("the damaged CA directory was modified")
			}
		})
	}
}

// TestCACertsValidation checks plug-in cacerts layouts: deeper chains, key
// formats, and chains that do not verify.
func TestCACertsValidation(t *testing.T) {
	root := newCA(t, tdA)
	inter1, err := root.NewIntermediate(spiffeid.TrustDomain{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	inter2, err := inter1.NewIntermediate(spiffeid.TrustDomain{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	otherRoot := newCA(t, tdA)

	t.Run("two intermediates", func(t *testing.T) {
		m, _ := inter2.Material()
		ca := loadMaterial(t, m)
		svid := issue(t, ca, gatewayID, time.Hour)
		if len(svid.Certificates) != 3 || !svid.Certificates[1].Equal(inter2.Certificate()) || !svid.Certificates[2].Equal(inter1.Certificate()) {
			t.Fatalf("SVID chain is not leaf, inter2, inter1")
		}
		if _, _, err := x509svid.Verify(svid.Certificates, NewBundleSet(root.Bundle())); err != nil {
			t.Fatalf("verify against the root only: %v", err)
		}
	})
	t.Run("no cert-chain.pem for a direct intermediate", func(t *testing.T) {
		m, _ := inter1.Material()
		m.CertChain = nil
		ca := loadMaterial(t, m)
		if n := len(issue(t, ca, gatewayID, time.Hour).Certificates); n != 2 {
			t.Fatalf("chain length %d, want 2", n)
		}
	})
	t.Run("missing intermediate in cert-chain.pem", func(t *testing.T) {
		m, _ := inter2.Material()
		m.CertChain = nil
		_, err := ParseCA(m, tdA, nil)
		wantMaterialError(t, err, FileCACert, "does not verify to root-cert.pem")
	})
	t.Run("root of another CA", func(t *testing.T) {
		m, _ := inter1.Material()
		m.RootCert = EncodeCertificatesPEM(otherRoot.Roots())
		m.CertChain = nil
		_, err := ParseCA(m, tdA, nil)
		wantMaterialError(t, err, FileCACert, "certificate signed by unknown authority")
	})
	t.Run("unrelated CA in cert-chain.pem", func(t *testing.T) {
		m, _ := inter1.Material()
		stray, _ := otherRoot.NewIntermediate(spiffeid.TrustDomain{}, 0)
		m.CertChain = append(m.CertChain, EncodeCertificatesPEM([]*x509.Certificate{stray.Certificate()})...)
		_, err := ParseCA(m, tdA, nil)
		wantMaterialError(t, err, FileCertChain, "is not on the path")
	})
	t.Run("expired intermediate", func(t *testing.T) {
		old, err := root.WithClock(fakeClockAt(-48*time.Hour)).NewIntermediate(spiffeid.TrustDomain{}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := old.Material()
		_, err = ParseCA(m, tdA, nil)
		wantMaterialError(t, err, FileCACert, "expired at")
	})
	t.Run("trust domain mismatch", func(t *testing.T) {
		m, _ := inter1.Material()
		_, err := ParseCA(m, tdB, nil)
		wantMaterialError(t, err, FileCACert, `belongs to trust domain "cluster.local", not "west.example"`)
	})
	for _, format := range []string{pemECKey, pemRSAKey} {
		t.Run("Istio-style intermediate with "+format, func(t *testing.T) {
			m := istioStyleCACerts(t, root, format)
			ca := loadMaterial(t, m)
			svid := issue(t, ca, gatewayID, time.Hour)
			if _, _, err := x509svid.Verify(svid.Certificates, NewBundleSet(root.Bundle())); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

func loadMaterial(t *testing.T, m *Material) *CA {
	t.Helper()
	store := DirStore{Dir: t.TempDir()}
	if err := store.Save(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(context.Background(), store, tdA, nil)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	return ca
}

func wantMaterialError(t *testing.T, err error, file, text string) {
	t.Helper()
	var me *MaterialError
	if !errors.As(err, &me) || me.File != file {
		t.Fatalf("error %v: want a MaterialError for %s", err, file)
	}
	if !strings.Contains(err.Error(), text) {
		t.Fatalf("error %q does not contain %q", err, text)
	}
}

// istioStyleCACerts builds a cacerts layout the way Istio's tooling does
// (intermediate with a CN/O subject, key as "EC PRIVATE KEY" or RSA PKCS#1
// "RSA PRIVATE KEY", cert-chain.pem = ca-cert + root) without meshgate's
// helpers.
func istioStyleCACerts(t *testing.T, root *CA, format string) *Material {
	t.Helper()
	var (
		keyPEM []byte
		pub    any
	)
	switch format {
	case pemECKey:
		k := mustECKey(t)
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, pub = pem.EncodeToMemory(&pem.Block{Type: pemECKey, Bytes: der}), k.Public()
	case pemRSAKey:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, pub = pem.EncodeToMemory(&pem.Block{Type: pemRSAKey, Bytes: x509.MarshalPKCS1PrivateKey(k)}), k.Public()
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(42),
		Subject:               pkix.Name{Organization: []string{"Istio"}, CommonName: "Intermediate CA", Locality: []string{"cluster1"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	cert, err := createCert(tmpl, root.Certificate(), pub, root.key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := EncodeCertificatesPEM([]*x509.Certificate{cert})
	rootPEM := EncodeCertificatesPEM(root.Roots())
	return &Material{CACert: caPEM, CAKey: keyPEM, CertChain: append(bytes.Clone(caPEM), rootPEM...), RootCert: rootPEM}
}

func mustECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func write(name string, data []byte) func(string) {
	return func(dir string) { must(os.WriteFile(filepath.Join(dir, name), data, 0o600)) }
}

func appendTo(name string, data []byte) func(string) {
	return func(dir string) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		must(err)
		must(os.WriteFile(filepath.Join(dir, name), append(b, data...), 0o600))
	}
}

func truncate(name string) func(string) {
	return func(dir string) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		must(err)
		must(os.WriteFile(filepath.Join(dir, name), b[:len(b)/2], 0o600))
	}
}

func remove(name string) func(string) {
	return func(dir string) { must(os.Remove(filepath.Join(dir, name))) }
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// snapshotDir returns the names and contents of dir's files as one string.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(e.Name() + "\n" + string(data) + "\n")
	}
	return b.String()
}
