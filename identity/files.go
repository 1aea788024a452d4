package identity

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// File names WriteSVIDFiles uses. They are what gRPC-Go's file_watcher
// certificate provider is pointed at: certificate_file = cert-chain.pem,
// private_key_file = key.pem, ca_certificate_file = root-cert.pem (Istio's
// agent uses the same names in /etc/certs).
const (
	SVIDFileCertChain = "cert-chain.pem"
	SVIDFileKey       = "key.pem"
	SVIDFileRoots     = "root-cert.pem"
)

// WriteSVIDFiles writes svid and the roots of set into dir (created 0700 if
// absent): cert-chain.pem (leaf then intermediates), key.pem (PKCS#8, mode
// 0600) and root-cert.pem (RootsPEM). Each file is replaced atomically
// (write to a temporary file, then rename), so a reader never sees a partial
// file; key.pem is written before cert-chain.pem.
func WriteSVIDFiles(dir string, svid *x509svid.SVID, set *x509bundle.Set) error {
	if svid == nil || len(svid.Certificates) == 0 || svid.PrivateKey == nil {
		return errors.New("writing SVID files: SVID without certificate or key")
	}
	key, err := EncodePrivateKeyPEM(svid.PrivateKey)
	if err != nil {
		return err
	}
	roots := RootsPEM(set)
	if len(roots) == 0 {
		return errors.New("writing SVID files: the trust bundle holds no roots")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{SVIDFileKey, key, 0o600},
		{SVIDFileCertChain, EncodeCertificatesPEM(svid.Certificates), 0o644},
		{SVIDFileRoots, roots, 0o644},
	} {
		if err := replaceFile(dir, f.name, f.data, f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Join(dir, f.name), err)
		}
	}
	return nil
}

// ReplaceFile replaces path atomically with data (mode): it writes a synced
// temporary file next to it and renames it into place, so a reader (or a
// crash) never sees a partial file.
func ReplaceFile(path string, data []byte, mode os.FileMode) error {
	return replaceFile(filepath.Dir(path), filepath.Base(path), data, mode)
}

func replaceFile(dir, name string, data []byte, mode os.FileMode) error {
	tmp, err := writeTemp(dir, name, data, mode)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
