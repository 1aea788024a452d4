package identity

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// TestWriteSVIDFiles: the files load back with go-spiffe (as a file_watcher
// consumer would read them), verify against root-cert.pem, and are replaced
// on a second write.
func TestWriteSVIDFiles(t *testing.T) {
	ca := newCA(t, tdA)
	dir := filepath.Join(t.TempDir(), "certs")
	for round := 0; round < 2; round++ {
		svid := issue(t, ca, gatewayID, time.Hour)
		if err := WriteSVIDFiles(dir, svid, NewBundleSet(ca.Bundle())); err != nil {
			t.Fatal(err)
		}
		loaded, err := x509svid.Load(filepath.Join(dir, SVIDFileCertChain), filepath.Join(dir, SVIDFileKey))
		if err != nil {
			t.Fatalf("round %d: x509svid.Load: %v", round, err)
		}
		if !loaded.Certificates[0].Equal(svid.Certificates[0]) {
			t.Fatalf("round %d: files hold another certificate", round)
		}
		bundle, err := x509bundle.Load(tdA, filepath.Join(dir, SVIDFileRoots))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := x509svid.Verify(loaded.Certificates, bundle); err != nil {
			t.Fatalf("round %d: verify against root-cert.pem: %v", round, err)
		}
	}
	info, err := os.Stat(filepath.Join(dir, SVIDFileKey))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key.pem mode %v, want 0600", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("directory holds %d entries, want 3 (temporary files left?)", len(entries))
	}
	if err := WriteSVIDFiles(dir, &x509svid.SVID{}, NewBundleSet(ca.Bundle())); err == nil {
		t.Error("empty SVID accepted")
	}
	if err := WriteSVIDFiles(dir, issue(t, ca, gatewayID, time.Hour), NewBundleSet()); err == nil {
		t.Error("empty bundle accepted")
	}
}
