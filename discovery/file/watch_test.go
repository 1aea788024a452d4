package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshgate/meshgate/discovery/model"
)

type published struct {
	mesh    *model.MeshState
	objErrs []error
	err     error
}

// startWatch runs Watch until the test ends and returns its publications.
func startWatch(t *testing.T, opts Config) <-chan published {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan published, 1000)
	var returned atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, opts, Options{}, func(m *model.MeshState, objErrs []error, err error) {
			if returned.Load() {
				t.Errorf("publish called after Watch returned")
			}
			ch <- published{m, objErrs, err}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v", err)
		}
		returned.Store(true)
	})
	return ch
}

// waitFor reads publications until one satisfies cond. The bound only stops
// a test whose watcher never delivers; it is not a performance limit.
func waitFor(t *testing.T, ch <-chan published, what string, cond func(published) bool) published {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	var last published
	for {
		select {
		case p := <-ch:
			if cond(p) {
				return p
			}
			last = p
		case <-deadline.C:
			t.Fatalf("never published %s; last publication: mesh=%v err=%v objErrs=%v", what, last.mesh != nil, last.err, last.objErrs)
		}
	}
}

func service(name string, ports ...int) string {
	s := fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  ports:\n", name)
	for _, p := range ports {
		s += fmt.Sprintf("  - {name: p%d, port: %d}\n", p, p)
	}
	return s
}

func hasService(name string, ports int) func(published) bool {
	return func(p published) bool {
		if p.mesh == nil {
			return false
		}
		s := p.mesh.Local().Service(name + ".default.svc.cluster.local")
		return s != nil && (ports == 0 || len(s.Ports) == ports)
	}
}

func noService(name string) func(published) bool {
	return func(p published) bool {
		return p.mesh != nil && p.mesh.Local().Service(name+".default.svc.cluster.local") == nil
	}
}

func TestWatchDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), service("a", 80))
	ch := startWatch(t, Config{Paths: []string{dir}})
	waitFor(t, ch, "the initial state", hasService("a", 1))

	steps := []struct {
		name string
		do   func(t *testing.T)
		want func(published) bool
	}{
		{"edit", func(t *testing.T) { writeFile(t, filepath.Join(dir, "a.yaml"), service("a", 80, 81)) }, hasService("a", 2)},
		{"add a file", func(t *testing.T) { writeFile(t, filepath.Join(dir, "b.yml"), service("b", 80)) }, hasService("b", 1)},
		{"new subdirectory", func(t *testing.T) { writeFile(t, filepath.Join(dir, "sub", "c.yaml"), service("c", 80)) }, hasService("c", 1)},
		{"nested new subdirectories", func(t *testing.T) { writeFile(t, filepath.Join(dir, "sub2", "x", "y", "d.json"), service("d", 80)) }, hasService("d", 1)},
		{"file in the nested subdirectory", func(t *testing.T) { writeFile(t, filepath.Join(dir, "sub2", "x", "y", "e.yaml"), service("e", 80)) }, hasService("e", 1)},
		{"rename away from yaml", func(t *testing.T) { rename(t, filepath.Join(dir, "b.yml"), filepath.Join(dir, "b.yml.disabled")) }, noService("b")},
		{"atomic save (temp file + rename)", func(t *testing.T) {
			tmp := filepath.Join(dir, ".a.yaml.tmp1234")
			writeFile(t, tmp, service("a", 80, 81, 82))
			rename(t, tmp, filepath.Join(dir, "a.yaml"))
		}, hasService("a", 3)},
		{"delete a file", func(t *testing.T) { remove(t, filepath.Join(dir, "sub", "c.yaml")) }, noService("c")},
		{"delete a directory tree", func(t *testing.T) { remove(t, filepath.Join(dir, "sub2")) }, func(p published) bool {
			return noService("d")(p) && noService("e")(p)
		}},
		{"rename a directory in", func(t *testing.T) {
			staging := t.TempDir()
			writeFile(t, filepath.Join(staging, "f.yaml"), service("f", 80))
			rename(t, staging, filepath.Join(dir, "moved"))
		}, hasService("f", 1)},
		{"file in the renamed directory", func(t *testing.T) { writeFile(t, filepath.Join(dir, "moved", "g.yaml"), service("g", 80)) }, hasService("g", 1)},
		{"invalid object is reported, the rest kept", func(t *testing.T) { writeFile(t, filepath.Join(dir, "bad.yaml"), service("bad", 0)) }, func(p published) bool {
			return len(p.objErrs) == 1 && hasService("a", 3)(p) && noService("bad")(p)
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			waitFor(t, ch, s.name, s.want)
		})
	}
}

func TestWatchUnreadableInputAndRecovery(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "config")
	writeFile(t, filepath.Join(dir, "a.yaml"), service("a", 80))
	ch := startWatch(t, Config{Paths: []string{dir}})
	waitFor(t, ch, "the initial state", hasService("a", 1))

	remove(t, dir)
	p := waitFor(t, ch, "an error for the removed directory", func(p published) bool { return p.err != nil })
	if p.mesh != nil {
		t.Errorf("a failed load published a state")
	}
	// recreated (as a deployment tool would): picked up through the parent's watch
	writeFile(t, filepath.Join(dir, "b.yaml"), service("b", 80))
	waitFor(t, ch, "the recreated directory", hasService("b", 1))
	writeFile(t, filepath.Join(dir, "c.yaml"), service("c", 80))
	waitFor(t, ch, "a file in the recreated directory", hasService("c", 1))
}

func TestWatchSingleFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mesh-config.yaml")
	writeFile(t, file, service("a", 80))
	writeFile(t, filepath.Join(dir, "other.yaml"), service("other", 80))
	ch := startWatch(t, Config{Paths: []string{file}})
	p := waitFor(t, ch, "the initial state", hasService("a", 1))
	if noService("other")(p) == false {
		t.Fatalf("a file beside the watched file was loaded")
	}
	// vim-style save: move the original away, write a new file
	rename(t, file, file+"~")
	writeFile(t, file, service("a", 80, 81))
	waitFor(t, ch, "the saved file", hasService("a", 2))
	// atomic replace
	tmp := filepath.Join(dir, "tmp-write")
	writeFile(t, tmp, service("a", 80, 81, 82))
	rename(t, tmp, file)
	waitFor(t, ch, "the replaced file", hasService("a", 3))
}

func TestWatchMultiCluster(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c1", "a.yaml"), service("a", 80))
	writeFile(t, filepath.Join(dir, "c2", "b.yaml"), service("b", 80))
	writeFile(t, filepath.Join(dir, MeshFileName), "clusters:\n- {id: c1, network: n1, path: c1}\n- {id: c2, network: n2, path: c2}\n")
	ch := startWatch(t, Config{Paths: []string{dir}})
	clusterHas := func(id, svc string, ports int) func(published) bool {
		return func(p published) bool {
			if p.mesh == nil || p.mesh.Cluster(id) == nil {
				return false
			}
			s := p.mesh.Cluster(id).Service(svc + ".default.svc.cluster.local")
			return s != nil && len(s.Ports) == ports
		}
	}
	waitFor(t, ch, "the initial state", clusterHas("c2", "b", 1))
	writeFile(t, filepath.Join(dir, "c2", "b.yaml"), service("b", 80, 81))
	waitFor(t, ch, "the edit in cluster c2", clusterHas("c2", "b", 2))

	// a cluster outside the mesh directory, added by editing mesh.yaml
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "c.yaml"), service("c", 80))
	writeFile(t, filepath.Join(dir, MeshFileName), fmt.Sprintf("clusters:\n- {id: c1, path: c1}\n- {id: c2, path: c2}\n- {id: c3, path: %s}\n", outside))
	waitFor(t, ch, "the new cluster", clusterHas("c3", "c", 1))
	writeFile(t, filepath.Join(outside, "c.yaml"), service("c", 80, 81))
	waitFor(t, ch, "the edit in the outside cluster", clusterHas("c3", "c", 2))

	// a broken mesh.yaml fails the whole load; fixing it recovers
	writeFile(t, filepath.Join(dir, MeshFileName), "clusters:\n- {id: c1, path: c1, extra: x}\n")
	waitFor(t, ch, "the mesh.yaml error", func(p published) bool { return p.err != nil })
	writeFile(t, filepath.Join(dir, MeshFileName), "clusters:\n- {id: c1, path: c1}\n")
	waitFor(t, ch, "the fixed mesh", func(p published) bool { return p.mesh != nil && len(p.mesh.Clusters) == 1 })
}

func TestWatchStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), service("a", 80))
	ctx, cancel := context.WithCancel(context.Background())
	published := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Config{Paths: []string{dir}}, Options{}, func(*model.MeshState, []error, error) { published <- struct{}{} })
	}()
	<-published
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v", err)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, p string) {
	t.Helper()
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
}

// The source stage: a change's debounce (first file event → publication)
// is counted once for the cluster it changed, and the published state's
// ObservedAt is that first event, not the reload after the holdoff.
func TestWatchDebounceStage(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "c1", "a.yaml"), service("a", 80))
	writeFile(t, filepath.Join(dir, "c2", "b.yaml"), service("b", 80))
	writeFile(t, filepath.Join(dir, MeshFileName), "clusters:\n- {id: c1, network: n1, path: c1}\n- {id: c2, network: n2, path: c2}\n")
	reg := prometheus.NewRegistry()
	met, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan published, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Config{Paths: []string{dir}}, Options{Metrics: met}, func(m *model.MeshState, objErrs []error, err error) {
			ch <- published{m, objErrs, err}
		})
	}()
	defer func() { cancel(); <-done }()
	initial := waitFor(t, ch, "the initial state", func(p published) bool { return p.mesh != nil })
	if n := testutil.CollectAndCount(reg, "meshgate_discovery_debounce_seconds"); n != 0 {
		t.Errorf("the first load (no file event) recorded %d debounce series", n)
	}
	c1At := initial.mesh.Cluster("c1").ObservedAt

	before := time.Now()
	writeFile(t, filepath.Join(dir, "c2", "b.yaml"), service("b", 80, 81))
	p := waitFor(t, ch, "the edit in c2", func(p published) bool {
		s := p.mesh != nil && p.mesh.Cluster("c2") != nil && p.mesh.Cluster("c2").Service("b.default.svc.cluster.local") != nil
		return s && len(p.mesh.Cluster("c2").Service("b.default.svc.cluster.local").Ports) == 2
	})
	got := time.Now()
	at := p.mesh.Cluster("c2").ObservedAt
	if at.Before(before) || !at.Before(got) {
		t.Errorf("c2 ObservedAt %v not between the write (%v) and the publication (%v)", at, before, got)
	}
	if holdoff := got.Sub(at); holdoff < watchHoldoff {
		t.Errorf("ObservedAt is %v before the publication, less than the %v holdoff: the reload's time, not the event's", holdoff, watchHoldoff)
	}
	if !p.mesh.Cluster("c1").ObservedAt.Equal(c1At) {
		t.Errorf("unchanged c1's ObservedAt moved: %v → %v", c1At, p.mesh.Cluster("c1").ObservedAt)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	var sum float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cluster" {
					counts[l.GetValue()] = m.GetHistogram().GetSampleCount()
					sum += m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	if counts["c2"] < 1 || counts["c1"] != 0 {
		t.Errorf("debounce samples by cluster = %v, want c2 ≥ 1 (one per reload that changed it; the editor may write twice) and none for the unchanged c1", counts)
	}
	if sum < watchHoldoff.Seconds()*float64(counts["c2"]) {
		t.Errorf("debounce sum %.3fs for %d samples: shorter than the %v holdoff each", sum, counts["c2"], watchHoldoff)
	}
	t.Logf("FIGURE file source debounce: %d sample(s), mean %.1f ms (holdoff %v)", counts["c2"], 1000*sum/float64(max(counts["c2"], 1)), watchHoldoff)
}
