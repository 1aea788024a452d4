package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/debounce"
	"github.com/meshgate/meshgate/discovery/lastgood"
	"github.com/meshgate/meshgate/discovery/model"
)

// Debounce of file events: a burst ends after watchHoldoff of quiet, and
// never later than watchMaxDelay after its first event.
const (
	watchHoldoff  = 100 * time.Millisecond
	watchMaxDelay = time.Second
)

// watcher keeps an fsnotify watch on every directory of the input (and on
// the parent of every root, to see roots appear, vanish or be replaced).
type watcher struct {
	fs  *fsnotify.Watcher
	log *slog.Logger

	mu      sync.Mutex
	roots   []string        // absolute input roots (files or directories)
	watched map[string]bool // directories currently watched
	cache   *jsonCache      // converted documents, kept between reloads
	files   *fileCache      // what each file decoded to, kept between reloads
	// keepers hold every cluster's last good objects (reload's goroutine)
	keepers map[string]*lastgood.Keeper
	last    *model.MeshState // the last state published (reload's goroutine)
	// firstEvent is the time of the first relevant event since the last
	// reload began (zero: none): where the change a reload publishes was
	// observed, and where its debounce stage starts.
	firstEvent time.Time
	met        *Metrics
}

func watch(ctx context.Context, cfg Config, opts Options, publish discovery.Publish) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file source: watch: %w", err)
	}
	defer fw.Close()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	w := &watcher{fs: fw, log: log, watched: map[string]bool{}, keepers: map[string]*lastgood.Keeper{}, met: opts.Metrics}
	w.setRoots(cfg.Paths)

	reload := func() { w.reload(cfg, publish) }
	reload()

	deb := debounce.New(watchHoldoff, watchMaxDelay)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		deb.Run(runCtx, reload)
	}()
	defer func() { stop(); <-done }()

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if w.relevant(ev) {
				w.noteEvent(time.Now())
				deb.Trigger()
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			// An overflow means lost events: reload to catch up.
			log.Warn("file source: watch error", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.noteEvent(time.Now())
				deb.Trigger()
			}
		}
	}
}

// noteEvent records the time of a relevant event unless an earlier one is
// still waiting for its reload.
func (w *watcher) noteEvent(at time.Time) {
	w.mu.Lock()
	if w.firstEvent.IsZero() {
		w.firstEvent = at
	}
	w.mu.Unlock()
}

// reload loads the input, re-syncs the watches and publishes the result.
// What it changes was observed at the first event of its burst (events
// after this point belong to the next reload), or at its start when no
// event led to it (the first load).
func (w *watcher) reload(opts Config, publish discovery.Publish) {
	start := time.Now()
	w.mu.Lock()
	first := w.firstEvent
	w.firstEvent = time.Time{}
	w.mu.Unlock()
	observedAt := start
	if !first.IsZero() {
		observedAt = first
	}
	if w.cache == nil {
		w.cache, w.files = newJSONCache(), newFileCache()
	}
	opts.cache, opts.files, opts.keepers = w.cache, w.files, w.keepers
	res, err := LoadWith(opts, Options{Logger: w.log})
	w.cache.rotate()
	w.files.rotate(err == nil)
	if res != nil && len(res.roots) > 0 {
		w.setRoots(res.roots)
	}
	w.sync()
	if err != nil {
		w.log.Error("file source: input unreadable; keeping the last good state", "err", err)
		publish(nil, nil, err)
		return
	}
	for _, ig := range res.Ignored {
		if !ig.Unknown { // unknown kinds are rejections: the consumer reports them
			w.log.Debug("file source: ignored document", "file", ig.File, "document", ig.Document,
				"apiVersion", ig.APIVersion, "kind", ig.Kind, "namespace", ig.Namespace, "name", ig.Name, "reason", ig.Reason)
		}
	}
	w.log.Debug("file source: files read", "files", res.files, "read", res.filesRead, "decoded", res.filesDecoded, "duration", time.Since(start).String())
	w.logReload(res)
	res.Mesh = observed(w.last, res.Mesh, observedAt)
	w.last = res.Mesh
	if !first.IsZero() {
		for _, c := range res.Mesh.Clusters {
			if c.ObservedAt.Equal(first) { // changed by this burst
				w.met.published(c.ID, first)
			}
		}
	}
	publish(res.Mesh, res.ObjErrs, nil)
}

// logReload says what a reload changed, per cluster and kind, and how much
// input is rejected (each rejection is reported by the consumer of the
// published state: once, with its file and field).
func (w *watcher) logReload(res *Result) {
	rejected, stale := map[string]int{}, map[string]int{} // by cluster
	for _, e := range res.ObjErrs {
		var r *discovery.Rejection
		switch {
		case !errors.As(e, &r):
			rejected[""]++
		case r.Kept:
			stale[r.Cluster]++
		default:
			rejected[r.Cluster]++
		}
	}
	ignored := 0
	for _, ig := range res.Ignored {
		if !ig.Unknown {
			ignored++
		}
	}
	for _, cs := range res.Mesh.Clusters {
		var prev *model.ClusterState
		if w.last != nil {
			prev = w.last.Cluster(cs.ID)
		}
		ch := model.CompareClusters(prev, cs)
		msg := "file source: reloaded"
		if w.last == nil {
			msg = "file source: loaded"
		} else if !ch.Changed() {
			msg = "file source: reloaded, nothing changed"
		}
		w.log.Info(msg, "cluster", cs.ID, "objects", ch.String(), "stale", stale[cs.ID], "rejected", rejected[cs.ID]+rejected[""], "ignored", ignored)
	}
}

func (w *watcher) setRoots(paths []string) {
	roots := make([]string, 0, len(paths))
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			roots = append(roots, abs)
		}
	}
	w.mu.Lock()
	w.roots = roots
	w.mu.Unlock()
}

// sync makes the watch list what the roots need: the parent of every root
// and every (non-hidden) directory under a directory root.
func (w *watcher) sync() {
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[string]bool{}
	for _, r := range w.roots {
		want[filepath.Dir(r)] = true
		_ = filepath.WalkDir(r, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			if p != r && strings.HasPrefix(e.Name(), ".") {
				return filepath.SkipDir
			}
			want[p] = true
			return nil
		})
	}
	for d := range w.watched {
		if !want[d] {
			_ = w.fs.Remove(d) // fails harmlessly for a directory already gone
			delete(w.watched, d)
		}
	}
	for d := range want {
		if !w.watched[d] {
			if err := w.fs.Add(d); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					w.log.Warn("file source: cannot watch directory", "dir", d, "err", err)
				}
				continue
			}
			w.watched[d] = true
		}
	}
}

// relevant reports whether an event can change the input. A new directory
// under a root is watched at once, so that files created in it right away are
// seen too.
func (w *watcher) relevant(ev fsnotify.Event) bool {
	p := ev.Name
	w.mu.Lock()
	defer w.mu.Unlock()
	inRoot := false
	for _, r := range w.roots {
		if p == r {
			return true
		}
		if strings.HasPrefix(p, r+string(filepath.Separator)) {
			inRoot = true
		}
	}
	if !inRoot {
		return false
	}
	base := filepath.Base(p)
	switch {
	case strings.HasPrefix(base, ".."): // Kubernetes volume atomic writer (..data swaps)
		return true
	case strings.HasPrefix(base, "."):
		return false
	case hasInputExt(p), w.watched[p]:
		return true
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		w.addTree(p)
		return true
	}
	return false
}

// addTree watches dir and its subdirectories (w.mu held).
func (w *watcher) addTree(dir string) {
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		if p != dir && strings.HasPrefix(e.Name(), ".") {
			return filepath.SkipDir
		}
		if !w.watched[p] && w.fs.Add(p) == nil {
			w.watched[p] = true
		}
		return nil
	})
}

// observed returns next with each cluster's ObservedAt: at for a cluster
// whose content changed since prev (or is new), prev's time otherwise (a
// reload that changes nothing in a cluster is no change of it). Changed
// clusters are shallow copies: next's states are not modified.
func observed(prev, next *model.MeshState, at time.Time) *model.MeshState {
	if next == nil {
		return nil
	}
	out := *next
	out.Clusters = make([]*model.ClusterState, len(next.Clusters))
	for i, c := range next.Clusters {
		cc := *c
		cc.ObservedAt = at
		if prev != nil {
			if old := prev.Cluster(c.ID); old != nil && old.Hash() == c.Hash() {
				cc.ObservedAt = old.ObservedAt
			}
		}
		out.Clusters[i] = &cc
	}
	return &out
}
