package file

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/bench/world"
)

// TestLoadProgress: a load that takes longer than ProgressAfter logs its
// progress and a last line with the totals; a short one logs nothing.
func TestLoadProgress(t *testing.T) {
	dir := t.TempDir()
	if _, err := world.Write(dir, world.Shape{Services: 50}); err != nil {
		t.Fatal(err)
	}
	load := func() string {
		var buf bytes.Buffer
		res, err := LoadWith(Config{Paths: []string{dir}}, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		if err != nil || len(res.ObjErrs) > 0 {
			t.Fatal(err, res.ObjErrs)
		}
		return buf.String()
	}
	if out := load(); out != "" {
		t.Errorf("a short load logged:\n%s", out)
	}
	defer func(after, every time.Duration) { ProgressAfter, ProgressEvery = after, every }(ProgressAfter, ProgressEvery)
	ProgressAfter, ProgressEvery = 0, time.Hour // "long" from the start: one progress line, then the totals
	out := load()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `msg="file source: reading input"`) ||
		!strings.Contains(lines[1], `msg="file source: input read" files=53 documents=456 `) || !strings.Contains(lines[1], "MB_per_s=") {
		t.Errorf("progress lines:\n%s", out)
	}
}
