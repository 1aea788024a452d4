package identity

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/utils/clock"
)

// Errors a Store returns (wrapped).
var (
	// ErrNotFound: the store holds no CA at all.
	ErrNotFound = errors.New("no CA stored")
	// ErrExists: Save found a CA already stored and left it alone.
	ErrExists = errors.New("a CA is already stored")
)

// Store persists one CA's Material. DirStore keeps it in a directory; a
// Kubernetes Secret store can keep the same four keys in a Secret (Istio's
// "cacerts" or "istio-ca-secret" layout).
//
// Methods may block on IO and honour ctx; they may be called from several
// goroutines, but meshgate calls them only at start-up.
type Store interface {
	// Load returns the stored material. When the store holds nothing it
	// returns an error wrapping ErrNotFound; when it holds part of a CA (say a
	// certificate without its key) it returns another error, so that a caller
	// never replaces a damaged CA with a new one silently.
	Load(ctx context.Context) (*Material, error)
	// Save stores m if the store holds no CA. It never overwrites: when a CA
	// (or part of one) is already present it returns an error wrapping
	// ErrExists, so of two daemons racing to create a CA the first one wins
	// and the other loads it.
	Save(ctx context.Context, m *Material) error
	// String describes the store for errors and logs, e.g. "directory /etc/cacerts".
	String() string
}

// LoadCA loads and validates the CA held by store (for example a plugged-in
// cacerts directory). It fails when the store holds no CA.
func LoadCA(ctx context.Context, store Store, td spiffeid.TrustDomain, clk clock.PassiveClock) (*CA, error) {
	m, err := store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading CA from %s: %w", store, err)
	}
	ca, err := ParseCA(m, td, clk)
	if err != nil {
		return nil, fmt.Errorf("CA in %s: %w", store, err)
	}
	return ca, nil
}

// LoadOrCreateCA loads the CA held by store or, when the store holds none,
// creates a self-signed CA for opts.TrustDomain and saves it. created reports
// which happened. A damaged or incomplete stored CA is an error, never
// replaced.
func LoadOrCreateCA(ctx context.Context, store Store, cfg CAConfig, opts CAOptions) (ca *CA, created bool, err error) {
	ca, err = LoadCA(ctx, store, cfg.TrustDomain, opts.Clock)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return ca, false, err
	}
	ca, err = NewSelfSignedCA(cfg, opts)
	if err != nil {
		return nil, false, err
	}
	m, err := ca.Material()
	if err != nil {
		return nil, false, err
	}
	switch err := store.Save(ctx, m); {
	case errors.Is(err, ErrExists):
		ca, err = LoadCA(ctx, store, cfg.TrustDomain, opts.Clock) // lost a race: use the winner's CA
		return ca, false, err
	case err != nil:
		return nil, false, fmt.Errorf("saving new CA to %s: %w", store, err)
	}
	return ca, true, nil
}

// DirStore keeps a CA in a directory, one file per Material field:
// ca-cert.pem, ca-key.pem (mode 0600), cert-chain.pem and root-cert.pem.
// The layout is Istio's cacerts layout, so a plugged-in cacerts directory is
// read by the same store.
type DirStore struct {
	Dir string
}

var _ Store = DirStore{}

func (s DirStore) String() string { return "directory " + s.Dir }

// files pairs each file name of dirFiles with its Material field.
func (m *Material) files() []materialFile {
	return []materialFile{
		{FileCAKey, &m.CAKey}, {FileCACert, &m.CACert}, {FileCertChain, &m.CertChain}, {FileRootCert, &m.RootCert},
	}
}

type materialFile struct {
	name string
	data *[]byte
}

// Load reads the directory. A missing directory, or one with none of the
// four files, is ErrNotFound; cert-chain.pem is optional; any other missing
// file is an error naming it.
func (s DirStore) Load(ctx context.Context) (*Material, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := &Material{}
	files := m.files()
	var missing []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(s.Dir, f.name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, f.name)
		case err != nil:
			return nil, &MaterialError{File: f.name, Err: err}
		default:
			*f.data = b
		}
	}
	if len(missing) == len(files) {
		return nil, fmt.Errorf("%w in %s", ErrNotFound, s)
	}
	for _, f := range missing {
		if f != FileCertChain { // cert-chain.pem is optional
			return nil, fileErr(f, "missing (the CA in %s is incomplete)", s.Dir)
		}
	}
	return m, nil
}

// Save writes the files without overwriting: each is written to a temporary
// file and hard-linked into place, which fails if the name exists.
// ca-key.pem is linked first and acts as the claim: of two racing creators
// the second fails on it with ErrExists; until the first has linked the
// remaining files, a Load sees an incomplete CA and reports that error.
func (s DirStore) Save(ctx context.Context, m *Material) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	// ca-key.pem is created first: whoever creates it owns the directory.
	for _, f := range m.files() {
		mode := os.FileMode(0o644)
		if f.name == FileCAKey {
			mode = 0o600
		}
		if err := linkNew(s.Dir, f.name, *f.data, mode); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w in %s (%s exists)", ErrExists, s, f.name)
			}
			return &MaterialError{File: f.name, Err: err}
		}
	}
	return nil
}

// linkNew writes data to dir/name, failing with fs.ErrExist if it exists.
func linkNew(dir, name string, data []byte, mode os.FileMode) error {
	tmp, err := writeTemp(dir, name, data, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, filepath.Join(dir, name))
}

// writeTemp writes data, synced, to a new temporary file next to dir/name and
// returns its path; the caller links or renames it into place.
func writeTemp(dir, name string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return "", err
	}
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
