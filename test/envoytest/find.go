package envoytest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// EnvEnvoy names the environment variable holding the path of the envoy
// executable (test/all.sh exports it).
const EnvEnvoy = "MESHGATE_ENVOY"

// Find locates the envoy executable:
//
//  1. $MESHGATE_ENVOY when it is executable;
//  2. else the cached virtualenv, as test/tools/envoy.sh --no-install reports
//     it.
//
// It never installs anything: a missing Envoy is an error that names the
// command to run.
func Find() (string, error) {
	if p := os.Getenv(EnvEnvoy); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("%s=%s is not an executable file", EnvEnvoy, p)
	}
	script, err := installScript()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", script, "--no-install")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("envoy not found: %s is unset and %s --no-install failed (%v):\n%s",
			EnvEnvoy, script, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	p := lines[len(lines)-1]
	if !isExecutable(p) {
		return "", fmt.Errorf("%s printed %q, which is not an executable file", script, p)
	}
	return p, nil
}

// Path is Find for tests: it fails the test (never skips it) when Envoy is
// missing.
func Path(t testing.TB) string {
	t.Helper()
	p, err := Find()
	if err != nil {
		t.Fatalf("envoytest: %v", err)
	}
	return p
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// installScript finds test/tools/envoy.sh next to this package's source.
func installScript() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("cannot locate test/tools/envoy.sh (built with -trimpath?): set " + EnvEnvoy)
	}
	script := filepath.Join(filepath.Dir(file), "..", "tools", "envoy.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("cannot locate the envoy install script: %w; set %s", err, EnvEnvoy)
	}
	return filepath.Clean(script), nil
}
