package repocheck

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// machinePath matches an absolute path of a developer's machine where a path
// starts (not after a letter, digit, '.', '_', '~', '/' or '}'), under the
// root directories work, root, home/<user> or Users/<user>. Refer to such
// files relative to the repository root (../shared/...), through $HOME, or
// take them from a flag or an environment variable.
var machinePath = regexp.MustCompile(`(^|[^A-Za-z0-9._~/}])/(work|root|home/[^/\s]+|Users/[^/\s]+)/`)

// TestNoMachinePaths: no tracked file names a path of a developer's machine.
func TestNoMachinePaths(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := trackedFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("only %d files found under %s", len(files), root)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet committed
			}
			t.Fatal(err)
		}
		for _, hit := range findMachinePaths(data) {
			t.Errorf("%s:%s", f, hit)
		}
	}
}

// findMachinePaths returns "line: text" for every line of data that names a
// machine path; binary data has none.
func findMachinePaths(data []byte) []string {
	if bytes.IndexByte(data, 0) >= 0 {
		return nil
	}
	var hits []string
	for i, line := range strings.Split(string(data), "\n") {
		if machinePath.MatchString(line) {
			hits = append(hits, fmt.Sprintf("%d: %s", i+1, strings.TrimSpace(line)))
		}
	}
	return hits
}

// trackedFiles lists the files git tracks, or, without git, every file
// under root but .git.
func trackedFiles(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		return strings.Split(strings.TrimRight(string(out), "\x00"), "\x00"), nil
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

func TestFindMachinePaths(t *testing.T) {
	// '|' stands for '/' before a root directory, so that this file does
	// not hold the paths it looks for.
	for _, tt := range []struct {
		text string
		hit  bool
	}{
		{"source: |work/shared/tools/x", true},
		{"ORACLE=|root/oracle/istio-oracle", true},
		{"`|home/alice/src/meshgate`", true},
		{"cd |Users/bob/meshgate", true},
		{"|root/bin at the start", true},
		{"${SRC:-|work/shared/tools}", true},
		{"${HOME}/work/x/", false},
		{"../shared/tools/istio-oracle", false},
		{"$HOME/.cache/meshgate", false},
		{"https://example.com/home/page/", false},
		{"mountPath: /etc/meshgate/", false},
		{"a/work/b/", false},
	} {
		got := len(findMachinePaths([]byte(strings.ReplaceAll(tt.text, "|", "/")))) > 0
		if got != tt.hit {
			t.Errorf("findMachinePaths(%q) found %v, want %v", tt.text, got, tt.hit)
		}
	}
	if hits := findMachinePaths([]byte("x\x00" + "/" + "work/y/")); hits != nil {
		t.Errorf("binary data: %v", hits)
	}
}
