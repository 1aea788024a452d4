package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
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
	if err := d.readFiles(files, opts.progress); err != nil {
		return nil, err
	}
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
			err = d.readFiles(files, opts.progress)
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

// job is a batch of documents of one file, decoded by a worker.
type job struct {
	file, source string
	docs         []document
	first        bool // the file's first batch
	bytes        int  // the file's size, on its first batch
	ops          []func(*decoder)
	done         chan struct{}
}

// readFiles reads files and decodes their documents on every CPU (YAML
// decoding is most of a load); what the documents hold is applied to d in
// file and document order, as if read one by one.
func (d *decoder) readFiles(files []inputFile, prog *progress) error {
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *job, 4*workers)
	ordered := make(chan *job, 64*workers)
	var readErr error
	go func() { // reader: files → batches, in order
		defer close(work)
		defer close(ordered)
		for _, f := range files {
			data, err := os.ReadFile(f.path)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // removed while we walked: the watcher will reload again
				}
				readErr = fmt.Errorf("file source: %w", err)
				return
			}
			docs := splitDocuments(data)
			first := true
			for len(docs) > 0 || first {
				n := min(len(docs), batchDocs)
				j := &job{file: f.path, source: f.source, docs: docs[:n], done: make(chan struct{})}
				if first {
					j.first, j.bytes, first = true, len(data), false
				}
				docs = docs[n:]
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
			strs := newStrCache() // one per worker: no locking
			for j := range work {
				w := docDecoder{cache: d.cache, strs: strs}
				w.documents(j.file, j.source, j.docs)
				j.ops = w.ops
				close(j.done)
			}
		}()
	}
	for j := range ordered {
		<-j.done
		d.apply(j.ops)
		if j.first {
			prog.add(1, 0, 0)
		}
		prog.add(0, len(j.docs), j.bytes)
	}
	wg.Wait()
	return readErr // read by this goroutine after ordered is closed: no race
}

func hasInputExt(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
