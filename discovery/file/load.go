package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/lastgood"
	"github.com/meshgate/meshgate/discovery/model"
)

// Load reads the input described by opts. err is set when the input cannot be
// read at all (a missing path, an unreadable file, an invalid mesh.yaml);
// problems with single documents and objects are in Result.ObjErrs.
func Load(opts Config) (*Result, error) {
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
	for _, p := range opts.Paths {
		if err := d.readRoot(p, ""); err != nil {
			return nil, err
		}
		res.roots = append(res.roots, p)
	}
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
		if err := d.readRoot(root, filepath.ToSlash(c.Path)); err != nil {
			return res, fmt.Errorf("cluster %s: %w", c.ID, err)
		}
		res.Mesh = res.Mesh.WithCluster(d.convert(c.ID, c.Network, opts.DomainSuffix, opts.keepers))
		res.ObjErrs = append(res.ObjErrs, d.errs...)
		res.Ignored = append(res.Ignored, d.ignored...)
	}
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

// readRoot decodes a file, or every *.yaml, *.yml and *.json file under a
// directory (recursively, in lexical order; names starting with "." skipped).
// Sources are prefix + the path relative to root (a file root: its base name).
func (d *decoder) readRoot(root, prefix string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	if !fi.IsDir() {
		return d.readFile(root, path.Join(prefix, filepath.Base(root)))
	}
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
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
		return d.readFile(p, path.Join(prefix, filepath.ToSlash(rel)))
	})
}

func (d *decoder) readFile(p, source string) error {
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walked: the watcher will reload again
		}
		return fmt.Errorf("file source: %w", err)
	}
	d.file(p, source, data)
	return nil
}

func hasInputExt(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
