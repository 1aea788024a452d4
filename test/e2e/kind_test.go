//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestKindScriptsShellcheck keeps the kind scripts (deploy/kind), which
// cannot run on machines without Docker, shellcheck-clean, executable and
// strict (set -euo pipefail through lib.sh). test/all.sh installs
// shellcheck when it is missing; without it this test fails, never skips.
func TestKindScriptsShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatalf("shellcheck is needed to check deploy/kind (Debian: apt-get install -y shellcheck; test/all.sh installs it): %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	scripts, err := filepath.Glob(filepath.Join(root, "deploy", "kind", "*.sh"))
	if err != nil || len(scripts) < 6 {
		t.Fatalf("deploy/kind scripts: %v (found %d)", err, len(scripts))
	}
	cmd := exec.Command(sc, append([]string{"-x", "--severity=style"}, scripts...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
	for _, s := range scripts {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(s)
		name := filepath.Base(s)
		if name == "lib.sh" {
			if !strings.Contains(string(b), "set -euo pipefail") {
				t.Errorf("%s: want set -euo pipefail", name)
			}
			continue
		}
		if st.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable", name)
		}
		if !strings.Contains(string(b), "source \"$(dirname \"$0\")/lib.sh\"") {
			t.Errorf("%s does not source lib.sh (strict mode, helpers)", name)
		}
	}
}
