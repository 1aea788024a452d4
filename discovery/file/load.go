package file

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/lastgood"
	"github.com/meshgate/meshgate/discovery/model"
)

// Load reads the input described by opts. err is set when the input cannot be
// read at all (a missing path, an unreadable file, an invalid mesh.yaml);
// problems with single documents and objects are in Result.ObjErrs.
func Load(opts Config) (*Result, error) { return LoadWith(opts, Options{}) }

// LoadWith is Load with collaborators: with o.Logger set, a load that takes
// longer than ProgressAfter logs its progress (files, documents, megabytes
// and their rate) every ProgressEvery, and a last line when done.
func LoadWith(opts Config, o Options) (*Result, error) {
	opts.progress = newProgress(o.Logger)
	if len(opts.Paths) == 0 {
		return nil, errors.New("file source: no paths given")
	}
	meshFile, err := findMeshFile(opts.Paths)
	if err != nil {
		return nil, err
	}
	if meshFile != "" {
		return loadMulti(meshFile, opts)
	}
	return loadSingle(opts)
}

// findMeshFile returns the mesh.yaml of a multi-cluster input, or "".
func findMeshFile(paths []string) (string, error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("file source: %w", err)
		}
		candidate := p
		if fi.IsDir() {
			candidate = filepath.Join(p, MeshFileName)
			if _, err := os.Stat(candidate); err != nil {
				continue
			}
		} else if filepath.Base(p) != MeshFileName {
			continue
		}
		if len(paths) > 1 {
			return "", fmt.Errorf("file source: %s: a multi-cluster input (with %s) must be the only path", p, MeshFileName)
		}
		return candidate, nil
	}
	return "", nil
}

func loadSingle(opts Config) (*Result, error) {
	d := newDecoder(opts.cache)
	res := &Result{}
	var files []inputFile
	for _, p := range opts.Paths {
		f, err := listRoot(p, "")
		if err != nil {
			return nil, err
		}
		files = append(files, f...)
		res.roots = append(res.roots, p)
	}
	read, decoded, err := d.readFiles(files, opts.files, opts.progress)
	if err != nil {
		return nil, err
	}
	res.files, res.filesRead, res.filesDecoded = len(files), read, decoded
	opts.progress.done()
	id := opts.ClusterID
	if id == "" {
		id = model.DefaultClusterID
	}
	cs := d.convert(id, opts.Network, opts.DomainSuffix, opts.keepers)
	res.Mesh = &model.MeshState{MeshID: opts.MeshID, LocalCluster: id, Clusters: []*model.ClusterState{cs}}
	res.ObjErrs, res.Ignored = d.errs, d.ignored
	return res, nil
}

func loadMulti(meshFile string, opts Config) (*Result, error) {
	dir := filepath.Dir(meshFile)
	res := &Result{roots: []string{dir}}
	mf, err := readMeshFile(meshFile)
	if err != nil {
		return res, err
	}
	res.Mesh = &model.MeshState{MeshID: mf.MeshID, LocalCluster: mf.LocalCluster}
	for _, c := range mf.Clusters {
		root := c.Path
		if !filepath.IsAbs(root) {
			root = filepath.Join(dir, root)
		}
		res.roots = append(res.roots, root)
		d := newDecoder(opts.cache)
		files, err := listRoot(root, filepath.ToSlash(c.Path))
		if err == nil {
			var read, decoded int
			read, decoded, err = d.readFiles(files, opts.files, opts.progress)
			res.files, res.filesRead, res.filesDecoded = res.files+len(files), res.filesRead+read, res.filesDecoded+decoded
		}
		if err != nil {
			return res, fmt.Errorf("cluster %s: %w", c.ID, err)
		}
		res.Mesh = res.Mesh.WithCluster(d.convert(c.ID, c.Network, opts.DomainSuffix, opts.keepers))
		res.ObjErrs = append(res.ObjErrs, d.errs...)
		res.Ignored = append(res.Ignored, d.ignored...)
	}
	opts.progress.done()
	return res, nil
}

// convert runs the converter over everything decoded and adds its errors,
// located in their files, to d.errs. With keepers (Watch), the cluster's
// keeper converts instead and d.errs become its rejections.
func (d *decoder) convert(clusterID, network, domainSuffix string, keepers map[string]*lastgood.Keeper) *model.ClusterState {
	copts := convert.Options{ClusterID: clusterID, Network: network, DomainSuffix: domainSuffix, Source: d.sourceOf}
	if keepers != nil {
		k := keepers[clusterID]
		if k == nil {
			k = lastgood.New(clusterID)
			keepers[clusterID] = k
		}
		cs, errs := k.Cluster(lastgood.Input{Objects: d.in, Problems: d.problems, Origin: d.originOf, Locate: d.locate}, copts, time.Now())
		d.errs = errs
		return cs
	}
	cs, errs := convert.Cluster(d.in, copts)
	for _, e := range errs {
		d.errs = append(d.errs, d.locate(e))
	}
	return cs
}

// inputFile is a file to read: its path, and its name as a source.
type inputFile struct{ path, source string }

// listRoot lists a file, or every *.yaml, *.yml and *.json file under a
// directory (recursively, in lexical order; names starting with "." skipped).
// Sources are prefix + the path relative to root (a file root: its base name).
func listRoot(root, prefix string) ([]inputFile, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	if !fi.IsDir() {
		return []inputFile{{root, path.Join(prefix, filepath.Base(root))}}, nil
	}
	var files []inputFile
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != root {
				return nil // removed while we walked: the watcher will reload again
			}
			return fmt.Errorf("file source: %w", err)
		}
		if p != root && strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() || !hasInputExt(p) {
			return nil
		}
		if e.Type()&fs.ModeSymlink != 0 { // e.g. a ConfigMap volume: follow to a regular file
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
		} else if !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, inputFile{p, path.Join(prefix, filepath.ToSlash(rel))})
		return nil
	})
	return files, err
}

// batchDocs is how many documents one decoding job holds: enough to make
// the hand-over cheap, few enough to spread a single large file over
// every CPU.
const batchDocs = 64

// job is a batch of documents of one file, decoded by a worker, or (cached
// set) a whole file unchanged since the last load, whose recorded ops are
// replayed without reading it again.
type job struct {
	file, source string
	docs         []document
	first        bool // the file's first batch
	last         bool // the file's last batch
	bytes        int  // the file's size, on its first batch
	noDocCache   bool // a file new to the file cache: its documents are not cached either
	ops          []func(*decoder)
	done         chan struct{}
	// With a file cache: the entry to replay (cached), or what is
	// recorded of the file once all its batches are applied (entry).
	cached *fileEntry
	entry  *fileEntry
}

// readFiles reads files and decodes their documents on every CPU (YAML
// decoding is most of a load); what the documents hold is applied to d in
// file and document order, as if read one by one. With a file cache
// (Watch), a file that did not change since the last load is not decoded
// again (not even read when its stat shows it unchanged): what its
// documents recorded then is applied in its place.
func (d *decoder) readFiles(files []inputFile, fc *fileCache, prog *progress) (read, decoded int, err error) {
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *job, 4*workers)
	ordered := make(chan *job, 64*workers)
	var readErr error
	start := time.Now()
	go func() { // reader: files → batches, in order
		defer close(work)
		defer close(ordered)
		for _, f := range files {
			var entry *fileEntry
			prev := fc.lookup(f)
			if fc != nil {
				fi, err := os.Stat(f.path)
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						continue // removed while we walked: the watcher will reload again
					}
					readErr = fmt.Errorf("file source: %w", err)
					return
				}
				st := statOf(fi)
				if prev != nil && prev.trusted && prev.st == st {
					j := &job{file: f.path, source: f.source, cached: prev, done: make(chan struct{})}
					close(j.done)
					ordered <- j
					continue
				}
				entry = &fileEntry{st: st, trusted: !st.racy(start)}
			}
			data, err := os.ReadFile(f.path)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // removed while we walked: the watcher will reload again
				}
				readErr = fmt.Errorf("file source: %w", err)
				return
			}
			read++
			if entry != nil {
				entry.sum = sha256.Sum256(data)
				if prev != nil && prev.sum == entry.sum { // touched, or racy: same content
					entry.ops, entry.docs = prev.ops, prev.docs
					j := &job{file: f.path, source: f.source, cached: entry, done: make(chan struct{})}
					close(j.done)
					ordered <- j
					continue
				}
			}
			docs := splitDocuments(data)
			if entry != nil {
				entry.docs = len(docs)
			}
			first := true
			for len(docs) > 0 || first {
				n := min(len(docs), batchDocs)
				j := &job{file: f.path, source: f.source, docs: docs[:n], done: make(chan struct{}), noDocCache: fc != nil && prev == nil}
				if first {
					j.first, j.bytes, first = true, len(data), false
				}
				docs = docs[n:]
				if len(docs) == 0 {
					j.last, j.entry = true, entry
				}
				work <- j
				ordered <- j
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			strs, scratch := newStrCache(), &yscratch{} // one per worker: no locking
			for j := range work {
				w := docDecoder{cache: d.cache, strs: strs, scratch: scratch}
				if j.noDocCache {
					w.cache = nil
				}
				w.documents(j.file, j.source, j.docs)
				j.ops = w.ops
				close(j.done)
			}
		}()
	}
	var fileOps []func(*decoder) // the ops of the file being applied (with a file cache)
	for j := range ordered {
		<-j.done
		if j.cached != nil {
			d.apply(j.cached.ops)
			fc.store(inputFile{j.file, j.source}, j.cached)
			prog.add(1, j.cached.docs, 0)
			continue
		}
		d.apply(j.ops)
		if fc != nil {
			fileOps = append(fileOps, j.ops...)
			if j.last {
				j.entry.ops, fileOps = slices.Clip(fileOps), nil
				fc.store(inputFile{j.file, j.source}, j.entry)
			}
		}
		if j.first {
			decoded++
			prog.add(1, 0, 0)
		}
		prog.add(0, len(j.docs), j.bytes)
	}
	wg.Wait()
	return read, decoded, readErr // read by this goroutine after ordered is closed: no race
}

func hasInputExt(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
