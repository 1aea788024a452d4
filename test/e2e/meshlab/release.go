package meshlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// Releases. There are no release tags: the previous release (N−1) is the
// commit named in test/e2e/testdata/previous-release, the current one (N)
// is this checkout (BuildBinary). The upgrade scenario starts a mesh of
// N−1 daemons and upgrades them to N one by one.

// EnvPreviousBinary names a prebuilt meshgate of the previous release, used
// instead of building the commit (a checkout without its history).
const EnvPreviousBinary = "MESHGATE_E2E_PREVIOUS_BINARY"

// PreviousReleaseFile holds the full hash of the previous release's commit
// (relative to the repository root).
const PreviousReleaseFile = "test/e2e/testdata/previous-release"

// PreviousRelease returns the commit of the previous release, from
// PreviousReleaseFile (the first word of its first line that is not a
// comment).
func PreviousRelease() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, PreviousReleaseFile))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("%s names no commit", PreviousReleaseFile)
}

// ReleaseCacheDir is where release binaries are kept, one per commit:
// ${XDG_CACHE_HOME:-$HOME/.cache}/meshgate/e2e-releases (as test/tools
// caches envoy and istioctl).
func ReleaseCacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "meshgate", "e2e-releases"), nil
}

// BuildRelease returns the meshgate binary of commit: $MESHGATE_E2E_PREVIOUS_BINARY
// when set, else <ReleaseCacheDir>/<full hash>/meshgate, built once (under
// a lock, so concurrent runs build it once) from `git archive` of the
// commit. A checkout without that commit (a shallow clone) is an error
// that says so: the upgrade scenario cannot run without release N−1.
func BuildRelease(ctx context.Context, commit string) (string, error) {
	if b := os.Getenv(EnvPreviousBinary); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvPreviousBinary, b, err)
		}
		return b, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--verify", "--quiet", commit+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("release commit %s (%s) is not in this checkout's git history (a shallow clone? fetch it with "+
			"`git fetch --unshallow`, or set %s to a meshgate binary built from it): %v", commit, PreviousReleaseFile, EnvPreviousBinary, err)
	}
	hash := strings.TrimSpace(string(out))
	cache, err := ReleaseCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, hash)
	bin := filepath.Join(dir, "meshgate")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	src, err := os.MkdirTemp(cache, "src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	archive := exec.CommandContext(ctx, "sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, hash, src)
	if b, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git archive %s: %v\n%s", hash, err, b)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	build := exec.CommandContext(ctx, "go", "build", "-o", tmp, "./cmd/meshgate")
	build.Dir = src
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/meshgate of release %s: %v\n%s", hash, err, b)
	}
	return bin, os.Rename(tmp, bin) // complete or absent: never a half-written binary
}

// HasRunFlag reports whether `meshgate run` of the probed binary has the
// flag --name.
func (c Capabilities) HasRunFlag(name string) bool {
	return regexp.MustCompile(`--` + regexp.QuoteMeta(name) + `([^-\w]|$)`).MatchString(c.RunFlags)
}

// RunFlagsMissing lists the flags of argv (a `meshgate run` command line)
// that the probed binary lacks.
func (c Capabilities) RunFlagsMissing(argv []string) []string {
	var miss []string
	for _, a := range argv {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, _ = strings.Cut(name, "=")
			if !c.HasRunFlag(name) {
				miss = append(miss, a)
			}
		}
	}
	return miss
}

// RestartDaemon replaces c's daemon by one run from bin (another release),
// with the command line the mesh gives it: the old process gets SIGTERM
// and is waited for, the new one starts and is waited for until ready
// (/readyz: it serves only once federation has synced). The command line
// is built for the mesh's binary (Options.Caps); a flag of it that bin
// lacks (probed from its help) is an error naming the flags, before the
// running daemon is touched.
func (m *Mesh) RestartDaemon(ctx context.Context, c *Cluster, bin string) error {
	caps, err := Probe(bin)
	if err != nil {
		return err
	}
	p := m.daemonProc(c)
	at := len(c.Net.Exec())
	if len(p.Argv) < at+2 || p.Argv[at] != m.Bin || p.Argv[at+1] != "run" {
		return fmt.Errorf("%s: unexpected daemon command line %q", c.ID, p.Argv)
	}
	if miss := caps.RunFlagsMissing(p.Argv[at+2:]); len(miss) > 0 {
		return fmt.Errorf("%s: %s run lacks %v, which this mesh's daemons are started with", c.ID, bin, miss)
	}
	p.Argv[at] = bin
	if c.Daemon != nil {
		if err := c.Daemon.Stop(); err != nil {
			return err
		}
	}
	c.Daemon = p
	if err := p.Start(); err != nil {
		return err
	}
	if err := m.WaitDaemon(ctx, c); err != nil {
		return errors.Join(err, fmt.Errorf("%s: daemon of %s not ready; log:\n%s", c.ID, bin, p.LogTail(30)))
	}
	return nil
}
