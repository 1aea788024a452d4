package file

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// MeshFile is mesh.yaml: the layout of a multi-cluster input.
//
//	meshID: mesh1
//	localCluster: cluster1   # whose Istio config applies (default: the first)
//	clusters:
//	- {id: cluster1, network: network1, path: cluster1}  # path relative to mesh.yaml
//	- {id: cluster2, network: network2, path: cluster2}
type MeshFile struct {
	MeshID       string        `json:"meshID,omitempty"`
	LocalCluster string        `json:"localCluster,omitempty"`
	Clusters     []MeshCluster `json:"clusters"`
}

// MeshCluster is one cluster of mesh.yaml.
type MeshCluster struct {
	ID      string `json:"id"`
	Network string `json:"network,omitempty"`
	// Path is a file or directory, relative to mesh.yaml's directory.
	Path string `json:"path"`
}

// readMeshFile reads and validates mesh.yaml; every problem is reported, each
// naming the field.
func readMeshFile(p string) (*MeshFile, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	fail := func(errs ...error) error {
		return fmt.Errorf("file source: %s (multi-cluster layout): %w", p, errors.Join(errs...))
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fail(err)
	}
	var mf MeshFile
	strictErrs, err := strictjson.UnmarshalStrict(js, &mf)
	if err != nil {
		return nil, fail(errors.New(strings.TrimPrefix(err.Error(), "json: ")))
	}
	var errs []error
	for _, e := range strictErrs {
		if m := strictFieldRe.FindStringSubmatch(e.Error()); m != nil {
			errs = append(errs, fmt.Errorf("%s: %s field", m[2], m[1]))
		} else {
			errs = append(errs, e)
		}
	}
	errs = append(errs, mf.validate(filepath.Dir(p))...)
	if len(errs) > 0 {
		return nil, fail(errs...)
	}
	if mf.LocalCluster == "" {
		mf.LocalCluster = mf.Clusters[0].ID
	}
	return &mf, nil
}

func (mf *MeshFile) validate(dir string) []error {
	var errs []error
	if len(mf.Clusters) == 0 {
		return []error{errors.New("clusters: at least one cluster is required")}
	}
	ids := map[string]int{}
	for i, c := range mf.Clusters {
		f := fmt.Sprintf("clusters[%d]", i)
		switch {
		case c.ID == "":
			errs = append(errs, fmt.Errorf("%s.id: a cluster id is required", f))
		case strings.ContainsAny(c.ID, " \t\n/"):
			errs = append(errs, fmt.Errorf("%s.id: invalid cluster id %q (no spaces or '/')", f, c.ID))
		default:
			if j, dup := ids[c.ID]; dup {
				errs = append(errs, fmt.Errorf("%s.id: duplicate cluster id %q (also clusters[%d])", f, c.ID, j))
			}
			ids[c.ID] = i
		}
		if c.Path == "" {
			errs = append(errs, fmt.Errorf("%s.path: a path is required", f))
			continue
		}
		p := c.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("%s.path: %w", f, err))
		}
	}
	if _, ok := ids[mf.LocalCluster]; mf.LocalCluster != "" && !ok {
		errs = append(errs, fmt.Errorf("localCluster: %q is not the id of a cluster", mf.LocalCluster))
	}
	return errs
}
