package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/lastgood"
	"github.com/meshgate/meshgate/discovery/model"
)

// reloader loads an input as Watch's reloads do (document cache, last-good
// keepers), with the file cache (inc) or without it (full: every file read
// and decoded, as before the file cache).
type reloader struct {
	opts  Config
	cache *jsonCache
	files *fileCache
}

func newReloader(paths []string, incremental bool) *reloader {
	r := &reloader{cache: newJSONCache()}
	if incremental {
		r.files = newFileCache()
	}
	r.opts = Config{Paths: paths, cache: r.cache, files: r.files, keepers: map[string]*lastgood.Keeper{}}
	return r
}

func (r *reloader) load(t *testing.T) *Result {
	t.Helper()
	res, err := Load(r.opts)
	r.cache.rotate()
	r.files.rotate(err == nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rejectionsSummary is what a load rejected, one line per rejection:
// origin, document, object, reason, kept, error.
func rejectionsSummary(t *testing.T, res *Result) []string {
	t.Helper()
	var out []string
	for _, e := range res.ObjErrs {
		var r *discovery.Rejection
		if !errors.As(e, &r) {
			t.Fatalf("not a Rejection: %T %v", e, e)
		}
		out = append(out, fmt.Sprintf("%s#%d %s %s kept=%v: %v", filepath.Base(r.Origin), r.Document, r.Object, r.Reason, r.Kept, r))
	}
	return out
}

// TestReloadDecodesOnlyChangedFiles: Watch's reloads read and decode only
// the files that changed, and publish what a reload that decodes every
// file publishes (same cluster hash, same rejections), through moves
// between files, duplicates across files, a broken file (its objects
// kept), a deleted file and a new one. Each step checks the semantics
// itself too, and how many files were decoded.
func TestReloadDecodesOnlyChangedFiles(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.yaml")
	inc, full := newReloader([]string{dir}, true), newReloader([]string{dir}, false)

	step := func(what string, decoded int, check func(res *Result, rejections []string)) {
		t.Helper()
		ri, rf := inc.load(t), full.load(t)
		if ri.filesDecoded != decoded {
			t.Errorf("%s: %d files decoded, want %d", what, ri.filesDecoded, decoded)
		}
		if rf.filesDecoded != rf.files {
			t.Errorf("%s: the full reload decoded %d of %d files", what, rf.filesDecoded, rf.files)
		}
		if hi, hf := ri.Mesh.Local().Hash(), rf.Mesh.Local().Hash(); hi != hf {
			t.Errorf("%s: incremental and full reloads differ:\n%+v\n%+v", what, ri.Mesh.Local(), rf.Mesh.Local())
		}
		ji, jf := rejectionsSummary(t, ri), rejectionsSummary(t, rf)
		if !slices.Equal(ji, jf) {
			t.Errorf("%s: rejections differ:\nincremental %q\nfull        %q", what, ji, jf)
		}
		if len(ri.Ignored) != len(rf.Ignored) {
			t.Errorf("%s: ignored %v, full %v", what, ri.Ignored, rf.Ignored)
		}
		check(ri, ji)
	}
	source := func(res *Result, name string) string {
		s := res.Mesh.Local().Service(name + ".default.svc.cluster.local")
		if s == nil {
			return ""
		}
		return fmt.Sprintf("%s/%d", s.Source, len(s.Ports))
	}
	want := func(res *Result, what string, services map[string]string) {
		t.Helper()
		for name, w := range services {
			if got := source(res, name); got != w {
				t.Errorf("%s: service %s from %q, want %q", what, name, got, w)
			}
		}
	}

	writeFile(t, a, service("s1", 80)+"---\n"+service("s2", 80))
	writeFile(t, b, service("s3", 80))
	step("the first load", 2, func(res *Result, rs []string) {
		want(res, "first load", map[string]string{"s1": "a.yaml/1", "s2": "a.yaml/1", "s3": "b.yaml/1"})
	})
	step("nothing changed (files racy: read, hashed, not decoded)", 0, func(res *Result, rs []string) {
		if res.filesRead != 2 {
			t.Errorf("racy files: %d read, want 2 (hashed)", res.filesRead)
		}
	})
	time.Sleep(racyWindow + 10*time.Millisecond)
	step("nothing changed (files no longer racy: read once more, their stat trusted after)", 0, func(*Result, []string) {})
	step("nothing changed (stat trusted)", 0, func(res *Result, rs []string) {
		if res.filesRead != 0 {
			t.Errorf("unchanged files with a trusted stat: %d read, want 0", res.filesRead)
		}
		want(res, "unchanged", map[string]string{"s1": "a.yaml/1", "s2": "a.yaml/1", "s3": "b.yaml/1"})
	})

	// s2 moves from a.yaml to b.yaml (edited on the way).
	writeFile(t, a, service("s1", 80))
	writeFile(t, b, service("s3", 80)+"---\n"+service("s2", 80, 81))
	step("s2 moved to b.yaml", 2, func(res *Result, rs []string) {
		want(res, "moved", map[string]string{"s1": "a.yaml/1", "s2": "b.yaml/2", "s3": "b.yaml/1"})
		if len(rs) != 0 {
			t.Errorf("a move is no rejection: %q", rs)
		}
	})

	// s3 defined in a.yaml too: a.yaml comes first and wins; b.yaml, not
	// re-decoded, is reported as the duplicate.
	writeFile(t, a, service("s1", 80)+"---\n"+service("s3", 80, 81, 82))
	step("s3 duplicated in a.yaml", 1, func(res *Result, rs []string) {
		want(res, "duplicate", map[string]string{"s3": "a.yaml/3", "s2": "b.yaml/2"})
		if len(rs) != 1 || !strings.HasPrefix(rs[0], "b.yaml#1 Service default/s3 duplicate kept=false") {
			t.Errorf("rejections: %q, want b.yaml's s3 a duplicate", rs)
		}
	})

	// b.yaml breaks: its objects keep their last good versions; a.yaml is
	// not decoded again.
	writeFile(t, a, service("s1", 80))
	step("the duplicate removed", 1, func(res *Result, rs []string) {
		want(res, "duplicate removed", map[string]string{"s3": "b.yaml/1", "s2": "b.yaml/2"})
	})
	writeFile(t, b, service("s3", 80)+"  - {name: x, port: [unclosed\n---\n"+service("s2", 80, 81, 82))
	broken := func(what string, decoded int) {
		step(what, decoded, func(res *Result, rs []string) {
			want(res, what, map[string]string{"s1": "a.yaml/1", "s3": "b.yaml/1", "s2": "b.yaml/3"})
			if len(rs) != 1 || !strings.HasPrefix(rs[0], "b.yaml#1 Service default/s3 syntax kept=true") {
				t.Errorf("%s: rejections %q, want b.yaml's first document, s3 kept", what, rs)
			}
		})
	}
	broken("b.yaml broken", 1)
	broken("b.yaml still broken, nothing changed", 0)

	// b.yaml deleted: its objects are gone, kept ones included.
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	step("b.yaml deleted", 0, func(res *Result, rs []string) {
		want(res, "deleted", map[string]string{"s1": "a.yaml/1", "s2": "", "s3": ""})
		if len(rs) != 0 || res.files != 1 {
			t.Errorf("deleted: %d files, rejections %q", res.files, rs)
		}
	})

	// A new file, and one replaced by a rename (a new inode, same size and
	// time is possible: the content decides).
	writeFile(t, c, service("s4", 80))
	tmp := filepath.Join(dir, ".a.yaml.tmp")
	writeFile(t, tmp, service("s9", 80)) // same length as a.yaml's content
	if err := os.Rename(tmp, a); err != nil {
		t.Fatal(err)
	}
	step("c.yaml new, a.yaml replaced", 2, func(res *Result, rs []string) {
		want(res, "new", map[string]string{"s1": "", "s9": "a.yaml/1", "s4": "c.yaml/1"})
	})
}

// TestReloadFailedLoadKeepsFileCache: a load that fails (an unreadable
// mesh.yaml) does not forget what the files decoded to.
func TestReloadFailedLoadKeepsFileCache(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, MeshFileName), "clusters:\n- {id: c1, path: c1}\n")
	writeFile(t, filepath.Join(dir, "c1", "a.yaml"), service("s1", 80))
	r := newReloader([]string{dir}, true)
	if res := r.load(t); res.filesDecoded != 1 {
		t.Fatalf("first load decoded %d files", res.filesDecoded)
	}
	writeFile(t, filepath.Join(dir, MeshFileName), "clusters: [unclosed\n")
	if _, err := Load(r.opts); err == nil {
		t.Fatal("a broken mesh.yaml loaded")
	} else {
		r.cache.rotate()
		r.files.rotate(false)
	}
	writeFile(t, filepath.Join(dir, MeshFileName), "clusters:\n- {id: c1, path: c1}\n")
	if res := r.load(t); res.filesDecoded != 0 || res.Mesh.Cluster("c1").Service("s1.default.svc.cluster.local") == nil {
		t.Errorf("after a failed load: %d files decoded, want 0 (cached), and s1 served", res.filesDecoded)
	}
}

// lockedBuffer is a log sink written by Watch's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines logged that contain msg.
func (l *lockedBuffer) lines(msg string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, msg) {
			out = append(out, line)
		}
	}
	return out
}

// TestWatchReloadReadsChangedFilesOnly: Watch's reload after an edit of one
// of three files decodes that file only (its debug line says so), and
// publishes the edit.
func TestWatchReloadReadsChangedFilesOnly(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		writeFile(t, filepath.Join(dir, n+".yaml"), service(n, 80))
	}
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan published, 100)
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Config{Paths: []string{dir}}, Options{Logger: log}, func(m *model.MeshState, objErrs []error, err error) {
			ch <- published{m, objErrs, err}
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
	}()
	const msg = "file source: files read"
	waitFor(t, ch, "the initial state", hasService("c", 1))
	before := logs.lines(msg)
	if len(before) != 1 || !strings.Contains(before[0], "files=3 read=3 decoded=3 ") {
		t.Fatalf("first load: %q", before)
	}
	writeFile(t, filepath.Join(dir, "b.yaml"), service("b", 80, 81))
	waitFor(t, ch, "b edited", hasService("b", 2))
	// The reload that published the edit decoded b.yaml only (a burst may
	// bring other reloads: they decode b.yaml or nothing).
	after := logs.lines(msg)[len(before):]
	ones := 0
	for _, l := range after {
		switch {
		case !strings.Contains(l, "files=3 "):
			t.Errorf("reload: %q, want 3 files", l)
		case strings.Contains(l, "decoded=1 "):
			ones++
		case !strings.Contains(l, "decoded=0 "):
			t.Errorf("reload after one edit: %q, want b.yaml decoded only", l)
		}
	}
	if ones == 0 {
		t.Errorf("reloads after one edit: %q, want one that decoded b.yaml", after)
	}
}
