package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshgate/meshgate/identity"
)

const testID = "spiffe://cluster.local/ns/istio-system/sa/eastwest"

func runCert(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newCertCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	logToBuffer(&errOut)
	cmd.SetArgs(append([]string{"issue"}, args...))
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// loadIssued reads the three files and verifies the SVID against root-cert.pem.
func loadIssued(t *testing.T, dir string) (*x509svid.SVID, []byte) {
	t.Helper()
	svid, err := x509svid.Load(filepath.Join(dir, "cert-chain.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	bundle, err := x509bundle.Load(td, filepath.Join(dir, "root-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _, err := x509svid.Verify(svid.Certificates, bundle); err != nil || id.String() != testID {
		t.Fatalf("verify: %s, %v", id, err)
	}
	roots, _ := os.ReadFile(filepath.Join(dir, "root-cert.pem"))
	return svid, roots
}

func TestCertIssueCADir(t *testing.T) {
	tmp := t.TempDir()
	caDir := filepath.Join(tmp, "ca")
	out1, out2 := filepath.Join(tmp, "out1"), filepath.Join(tmp, "out2")
	stdout, stderr, err := runCert(t, "--spiffe-id", testID, "--out", out1, "--ca-dir", caDir, "--svid-ttl", "2h", "--dns", "a.example", "--dns", "*.b.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "created a new self-signed CA") || !strings.Contains(stdout, "wrote cert-chain.pem, key.pem and root-cert.pem") {
		t.Errorf("output: %q / %q", stdout, stderr)
	}
	svid1, roots1 := loadIssued(t, out1)
	leaf := svid1.Certificates[0]
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d != 2*time.Hour+identity.DefaultBackdate {
		t.Errorf("validity %v, want 2h + backdate", d)
	}
	if strings.Join(leaf.DNSNames, ",") != "a.example,*.b.example" {
		t.Errorf("DNS SANs %v", leaf.DNSNames)
	}
	// Second run reuses the CA.
	_, stderr, err = runCert(t, "--spiffe-id", testID, "--out", out2, "--ca-dir", caDir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "created") {
		t.Errorf("second run created a CA again: %q", stderr)
	}
	_, roots2 := loadIssued(t, out2)
	if !bytes.Equal(roots1, roots2) {
		t.Error("second run used another root")
	}
}

func TestCertIssueCACerts(t *testing.T) {
	ctx := context.Background()
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	root, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate(td, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := inter.Material()
	cacerts := filepath.Join(t.TempDir(), "cacerts")
	if err := (identity.DirStore{Dir: cacerts}).Save(ctx, m); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, _, err := runCert(t, "--spiffe-id", testID, "--out", out, "--cacerts", cacerts); err != nil {
		t.Fatal(err)
	}
	svid, _ := loadIssued(t, out)
	if len(svid.Certificates) != 2 || !svid.Certificates[1].Equal(inter.Certificate()) {
		t.Fatalf("cert-chain.pem is not leaf + intermediate")
	}
}

func TestCertIssueErrors(t *testing.T) {
	tmp := t.TempDir()
	ca := filepath.Join(tmp, "ca")
	if _, _, err := runCert(t, "--spiffe-id", testID, "--out", filepath.Join(tmp, "o"), "--ca-dir", ca); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(tmp, "corrupt")
	if err := os.MkdirAll(corrupt, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca-cert.pem", "ca-key.pem", "root-cert.pem"} {
		data, _ := os.ReadFile(filepath.Join(ca, f))
		if f == "ca-key.pem" {
			data = []byte("garbage")
		}
		if err := os.WriteFile(filepath.Join(corrupt, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		args []string
		code int // 2: a flag value rejected; 1: the CA failed
		want string
	}{
		{[]string{"--spiffe-id", testID, "--out", ca, "--ca-dir", ca}, 2, "is the CA directory"},
		{[]string{"--spiffe-id", testID, "--out", ca + "/", "--cacerts", ca}, 2, "is the CA directory"},
		{[]string{"--spiffe-id", "spiffe://cluster.local", "--out", tmp + "/x", "--ca-dir", ca}, 1, "needs a path"},
		{[]string{"--spiffe-id", "http://x/y", "--out", tmp + "/x", "--ca-dir", ca}, 2, "--spiffe-id"},
		{[]string{"--spiffe-id", "spiffe://other.td/ns/a/sa/b", "--out", tmp + "/x", "--ca-dir", ca}, 1, `not "other.td"`},
		{[]string{"--spiffe-id", testID, "--out", tmp + "/x", "--cacerts", tmp + "/none"}, 1, "no CA stored"},
		{[]string{"--spiffe-id", testID, "--out", tmp + "/x", "--cacerts", corrupt}, 1, "ca-key.pem: no PEM private key found"},
		{[]string{"--spiffe-id", testID, "--out", tmp + "/x", "--ca-dir", ca, "--svid-ttl", "0s"}, 2, "--svid-ttl 0s: must be positive"},
		{[]string{"--spiffe-id", testID, "--out", tmp + "/x", "--ca-dir", ca, "--ttl", "0s"}, 2, "--svid-ttl 0s: must be positive"},
		{[]string{"--spiffe-id", testID, "--out", tmp + "/x", "--ca-dir", ca, "--dns", "bad name!"}, 2,
			`--dns: DNS name "bad name!": label "bad name!": character ' ' is not a letter, digit or hyphen`},
		{[]string{"--spiffe-id", testID, "--out", tmp + "/x", "--ca-dir", ca, "--dns", "a.*.example"}, 2, `label "*"`},
	}
	for _, tt := range tests {
		_, _, err := runCert(t, tt.args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != tt.code || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want exit %d with %q", tt.args, err, tt.code, tt.want)
		}
	}
	// Flag rules enforced by cobra.
	if _, _, err := runCert(t, "--spiffe-id", testID, "--out", tmp+"/x"); err == nil {
		t.Error("neither --ca-dir nor --cacerts accepted")
	}
	if _, _, err := runCert(t, "--spiffe-id", testID, "--out", tmp+"/x", "--ca-dir", ca, "--cacerts", ca); err == nil {
		t.Error("both --ca-dir and --cacerts accepted")
	}
	if _, err := os.Stat(tmp + "/x"); !os.IsNotExist(err) {
		t.Error("a failed run wrote output")
	}
}
