package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Binaries are the executables a cluster runs.
type Binaries struct {
	APIServer string // kube-apiserver
	Etcd      string // etcd
}

// EnvBuild, when set to 1, lets FindBinaries build missing binaries by
// running test/testbed/build.sh (a cold build takes ~12 minutes: raise
// go test's -timeout). Unset, FindBinaries never builds and fails with the
// command to run instead.
const EnvBuild = "MESHGATE_TESTBED_BUILD"

// FindBinaries locates kube-apiserver and etcd:
//
//  1. in $KUBEBUILDER_ASSETS when it holds both;
//  2. else in the testbed cache, as test/testbed/build.sh reports it
//     (build.sh --no-build: the cache is used only when it is up to date
//     with test/testbed's go.mod, go.sum and etcd main).
//
// It does not build anything unless MESHGATE_TESTBED_BUILD=1: a missing or
// stale cache is an error that names the command to run, never a silent
// skip.
func FindBinaries() (Binaries, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if b, ok := binariesIn(dir); ok {
			return b, nil
		}
	}
	script, err := buildScript()
	if err != nil {
		return Binaries{}, err
	}
	args := []string{script, "--no-build"}
	if os.Getenv(EnvBuild) == "1" {
		args = args[:1]
	}
	cmd := exec.Command("bash", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Binaries{}, fmt.Errorf("kube-apiserver and etcd not found (%s: %v):\n%s\n"+
			"build them once with:\n    %s\n"+
			"or set KUBEBUILDER_ASSETS to a directory holding both, or set %s=1 to build from the test",
			strings.Join(args, " "), err, strings.TrimSpace(stderr.String()), script, EnvBuild)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := lines[len(lines)-1]
	b, ok := binariesIn(dir)
	if !ok {
		return Binaries{}, fmt.Errorf("%s printed %q, which does not hold kube-apiserver and etcd", script, dir)
	}
	return b, nil
}

func binariesIn(dir string) (Binaries, bool) {
	b := Binaries{APIServer: filepath.Join(dir, "kube-apiserver"), Etcd: filepath.Join(dir, "etcd")}
	return b, isExecutable(b.APIServer) && isExecutable(b.Etcd)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// buildScript finds test/testbed/build.sh next to this package's source, or
// through $MESHGATE_TESTBED_SCRIPT for a binary built elsewhere.
func buildScript() (string, error) {
	if s := os.Getenv("MESHGATE_TESTBED_SCRIPT"); s != "" {
		return s, nil
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("cannot locate test/testbed/build.sh (built with -trimpath?): " +
			"set MESHGATE_TESTBED_SCRIPT or KUBEBUILDER_ASSETS")
	}
	script := filepath.Join(filepath.Dir(file), "..", "testbed", "build.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("cannot locate the testbed build script: %w; "+
			"set MESHGATE_TESTBED_SCRIPT or KUBEBUILDER_ASSETS", err)
	}
	return filepath.Clean(script), nil
}
