package file

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/lastgood"
	"github.com/meshgate/meshgate/discovery/model"
)

// MeshFileName is the file that makes a directory a multi-cluster input.
const MeshFileName = "mesh.yaml"

// Config says what to read and how to label it: settings only (Load and
// LoadMesh are pure reads). Watch's collaborators are in Options.
type Config struct {
	// Paths are files or directories (read recursively, *.yaml / *.yml /
	// *.json; names starting with "." are skipped). A single directory holding
	// mesh.yaml is a multi-cluster input.
	Paths []string
	// ClusterID and Network label the state when the input is a single cluster
	// (ClusterID defaults to model.DefaultClusterID).
	ClusterID string
	Network   string
	// MeshID labels a single-cluster input's MeshState (mesh.yaml has its own).
	MeshID string
	// DomainSuffix is the cluster DNS domain (default cluster.local).
	DomainSuffix string
	// cache carries converted documents from one of Watch's loads to the next.
	cache *jsonCache
	// files carries what each file decoded to from one of Watch's loads
	// to the next: unchanged files are not decoded again (filecache.go).
	files *fileCache
	// keepers, when set (Watch), keep the last good version of every object
	// per cluster id across loads (see discovery/lastgood).
	keepers map[string]*lastgood.Keeper
	// progress logs a long load's progress (LoadWith).
	progress *progress
}

// Result is everything one load produced.
type Result struct {
	Mesh *model.MeshState
	// ObjErrs are problems with single documents (*DocumentError) or objects
	// (*ObjectError, wrapping a *model.FieldError); those were skipped. In
	// Watch's loads each is a *discovery.Rejection wrapping those (and
	// unknown kinds are among them): a rejected object that was good
	// before is served in its last good version.
	ObjErrs []error
	// Ignored are the documents of kinds meshgate does not use, and those
	// of kinds no known API serves (Unknown: most often a misspelled kind
	// or group, to be warned about).
	Ignored []Ignored
	// roots are the paths the input was read from (for Watch).
	roots []string
	// files is how many input files were listed, filesRead how many of
	// them were read, filesDecoded how many decoded (the others were
	// unchanged, see fileCache).
	files, filesRead, filesDecoded int
}

// Ignored is a document that was skipped without error.
type Ignored struct {
	File       string
	Document   int
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Reason     string
	// Unknown: no Kubernetes or Istio API serves this apiVersion and kind;
	// Reason says so in kubectl's words ("no matches for kind ...").
	Unknown bool
}

func (i Ignored) String() string {
	what := strings.TrimSpace(i.APIVersion + " " + i.Kind)
	if i.Name != "" {
		what += " " + strings.TrimPrefix(i.Namespace+"/"+i.Name, "/")
	}
	if what == "" {
		return fmt.Sprintf("%s (document %d): %s", i.File, i.Document, i.Reason)
	}
	return fmt.Sprintf("%s (document %d): %s: %s", i.File, i.Document, what, i.Reason)
}

// DocumentError is a document that is not a Kubernetes object at all (not
// YAML, a plain value, no kind). The file's other documents still load.
type DocumentError struct {
	File     string
	Document int // 1-based among the file's non-empty documents
	Line     int // first line of the document in the file
	Err      error
}

func (e *DocumentError) Error() string {
	return fmt.Sprintf("%s: document %d (line %d): %v", e.File, e.Document, e.Line, e.Err)
}

func (e *DocumentError) Unwrap() error { return e.Err }

// ObjectError locates a problem with one object in its file. Err is a
// *model.FieldError (errors.As finds it).
type ObjectError struct {
	File     string
	Document int
	Err      error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("%s (document %d): %v", e.File, e.Document, e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// LoadMesh reads every path into a MeshState. objErrs are problems with single
// documents or objects (each an *ObjectError wrapping a *model.FieldError
// naming object and field, or a *DocumentError); those were skipped. err is
// set when the input could not be read at all.
func LoadMesh(opts Config) (mesh *model.MeshState, objErrs []error, err error) {
	res, err := Load(opts)
	if err != nil {
		return nil, nil, err
	}
	return res.Mesh, res.ObjErrs, nil
}

// Watch loads the paths, calls publish with the result, and again (debounced)
// whenever files are edited, added, removed or renamed, until ctx is done. A
// load that fails entirely (unreadable) is reported through publish's err and
// the caller keeps its last good state. publish is never called concurrently
// and not after Watch returns. Watch returns nil when ctx is done, or an error
// if the file system cannot be watched.
func Watch(ctx context.Context, cfg Config, opts Options, publish discovery.Publish) error {
	return watch(ctx, cfg, opts, publish)
}

// Options are the collaborators of Watch and LoadWith. The zero value is usable.
type Options struct {
	// Logger receives Watch's log lines (default slog.Default()), and the
	// progress lines of loads that take longer than ProgressAfter (LoadWith:
	// none without a Logger). Object contents, and so Secret data, are never
	// logged.
	Logger *slog.Logger
	// Metrics, when set, records Watch's source stage (the debounce
	// histogram, see NewMetrics).
	Metrics *Metrics
}

// Source is Watch as a discovery.Source: the file source of `meshgate run`.
type Source struct {
	Config  Config
	Options Options
}

var _ discovery.Source = Source{}

// Run implements discovery.Source: Watch(ctx, s.Config, s.Options, publish).
func (s Source) Run(ctx context.Context, publish discovery.Publish) error {
	return Watch(ctx, s.Config, s.Options, publish)
}
