package daemon

import (
	"cmp"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/translate"
)

// Serving values of a /debug/sources entry.
const (
	servingLastGood = "last-good" // the object's last good version is served (stale)
	servingNone     = "none"      // the input is not served at all
)

// sourceReport is what the daemon knows of the input its source rejects:
// each rejection is logged once (and again when its error changes, and
// when it is fixed), counted in meshgate_config_rejected_objects and
// listed on the admin API's /debug/sources until fixed. publish updates
// it from the source's goroutine; the admin API reads it.
type sourceReport struct {
	log      *slog.Logger
	current  *prometheus.GaugeVec
	total    *prometheus.CounterVec
	dangling prometheus.Gauge
	refHash  string // the configuration last checked (checkReferences' goroutine)
	mu       sync.Mutex
	entries  map[string]sourceEntry // by discovery.Rejection.Key
	refs     map[string]sourceEntry // dangling references, by error
	loads    int
	lastLoad time.Time
	loadErr  string
}

// sourceEntry is one rejected object or document on /debug/sources.
type sourceEntry struct {
	Kind      string    `json:"kind,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name,omitempty"`
	Cluster   string    `json:"cluster,omitempty"`
	File      string    `json:"file,omitempty"` // or kube:<cluster>
	Document  int       `json:"document,omitempty"`
	Field     string    `json:"field,omitempty"`
	Reason    string    `json:"reason"`
	Serving   string    `json:"serving,omitempty"`
	Error     string    `json:"error"`
	Since     time.Time `json:"since,omitzero"`
}

func newSourceReport(log *slog.Logger, r prometheus.Registerer) (*sourceReport, error) {
	s := &sourceReport{log: log, entries: map[string]sourceEntry{}, refs: map[string]sourceEntry{},
		dangling: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshgate_config_dangling_references",
			Help: "References between configuration objects that point at nothing now: a VirtualService's missing Gateway, delegate or route destination, DestinationRules that do not merge (see /debug/sources)."}),
		current: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshgate_config_rejected_objects",
			Help: "Input objects (or documents) the source rejects now, by kind and reason: serving their last good version, or nothing when they never were good (see /debug/sources)."},
			[]string{"kind", "reason"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_config_rejections_total",
			Help: "Rejections of input objects (or documents) by kind and reason, counted when first seen (and again after a fix)."},
			[]string{"kind", "reason"}),
	}
	return s, errors.Join(r.Register(s.current), r.Register(s.total), r.Register(s.dangling))
}

// entryOf describes an objErr of a source: a *discovery.Rejection, or any
// other error (not located).
func entryOf(e error) (string, sourceEntry) {
	var r *discovery.Rejection
	if !errors.As(e, &r) {
		return e.Error(), sourceEntry{Reason: discovery.ReasonInvalid, Serving: servingNone, Error: e.Error()}
	}
	en := sourceEntry{Kind: string(r.Object.Kind), Namespace: r.Object.Namespace, Name: r.Object.Name, Cluster: r.Cluster,
		File: r.Origin, Document: r.Document, Field: r.Field, Reason: r.Reason, Serving: servingNone, Error: r.Err.Error(), Since: r.Since}
	if r.Kept {
		en.Serving = servingLastGood
	}
	return r.Key(), en
}

// loaded records a complete state's rejections (objErrs of Publish).
func (s *sourceReport) loaded(objErrs []error) {
	next := make(map[string]sourceEntry, len(objErrs))
	for _, e := range objErrs {
		k, en := entryOf(e)
		if prev, ok := next[k]; ok { // two errors of one object: both said
			prev.Error += "; " + en.Error
			en = prev
		}
		next[k] = en
	}
	// The metric first: whoever sees an entry on /debug/sources sees it
	// counted too.
	s.current.Reset()
	for _, en := range next {
		s.current.WithLabelValues(kindLabel(en), en.Reason).Inc()
	}
	s.mu.Lock()
	prev := s.entries
	s.entries, s.loads, s.lastLoad, s.loadErr = next, s.loads+1, time.Now(), ""
	s.mu.Unlock()

	for _, k := range slices.Sorted(maps.Keys(next)) {
		en := next[k]
		old, seen := prev[k]
		if !seen {
			s.total.WithLabelValues(kindLabel(en), en.Reason).Inc()
		}
		if seen && old.Error == en.Error && old.Serving == en.Serving {
			continue
		}
		msg := "configuration input rejected; it is not served"
		if en.Serving == servingLastGood {
			msg = "configuration object rejected; serving its last good version"
		}
		s.log.Warn(msg, en.attrs()...)
	}
	for _, k := range slices.Sorted(maps.Keys(prev)) {
		if _, still := next[k]; !still {
			en := prev[k]
			s.log.Info("configuration input no longer rejected (fixed or removed)", en.attrs()[:8]...)
		}
	}
}

// checkReferences reports the references of mesh's configuration that point
// at nothing (translate.CheckReferences), each logged once while it stays,
// with the object's file (its Meta.Source). It skips a mesh whose
// configuration was checked last time (endpoint changes). The mesher's
// goroutine calls it with the composed mesh (source and federation).
func (s *sourceReport) checkReferences(mesh *model.MeshState, opts translate.Options) {
	h := mesh.ConfigHash()
	if h == s.refHash {
		return
	}
	s.refHash = h
	local := mesh.Local()
	next := map[string]sourceEntry{}
	for _, fe := range translate.CheckReferences(mesh, opts) {
		en := sourceEntry{Kind: string(fe.Object.Kind), Namespace: fe.Object.Namespace, Name: fe.Object.Name, Cluster: local.ID,
			Field: fe.Field, Reason: "dangling-reference", Error: fe.Error()}
		if m := local.MetaOf(fe.Object); m != nil {
			en.File = m.Source
		}
		next[en.Error] = en
	}
	s.dangling.Set(float64(len(next)))
	s.mu.Lock()
	prev := s.refs
	s.refs = next
	s.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(next)) {
		if _, seen := prev[k]; !seen {
			en := next[k]
			s.log.Warn("configuration reference points at nothing", "kind", en.Kind, "object", en.object(), "file", en.File, "field", en.Field, "err", en.Error)
		}
	}
}

// failed records a load that failed entirely (the last good state stays).
func (s *sourceReport) failed(err error) {
	s.mu.Lock()
	s.loadErr = err.Error()
	s.mu.Unlock()
}

// attrs are the log attributes of an entry: object, file, field, error
// (the first eight: the object and where it is).
func (en sourceEntry) attrs() []any {
	return []any{"kind", en.Kind, "object", en.object(), "cluster", en.Cluster, "file", en.File,
		"document", en.Document, "field", en.Field, "reason", en.Reason, "serving", en.Serving, "err", en.Error}
}

func (en sourceEntry) object() string {
	if en.Namespace == "" {
		return en.Name
	}
	return en.Namespace + "/" + en.Name
}

func kindLabel(en sourceEntry) string {
	if en.Kind == "" {
		return "unknown"
	}
	return en.Kind
}

// sourcesDebug is /debug/sources.
type sourcesDebug struct {
	Loads         int           `json:"loads"`
	LastLoad      time.Time     `json:"lastLoad,omitzero"`
	LastLoadError string        `json:"lastLoadError,omitempty"`
	Rejected      []sourceEntry `json:"rejected"`
	// References are references between objects that point at nothing
	// (the objects are served; what they name is missing).
	References []sourceEntry `json:"references"`
}

func (s *sourceReport) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := sourcesDebug{Loads: s.loads, LastLoad: s.lastLoad, LastLoadError: s.loadErr,
		Rejected: slices.Collect(maps.Values(s.entries)), References: slices.Collect(maps.Values(s.refs))}
	s.mu.Unlock()
	for _, l := range [][]sourceEntry{out.Rejected, out.References} {
		slices.SortFunc(l, func(a, b sourceEntry) int {
			return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.File, b.File), cmp.Compare(a.Document, b.Document),
				cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Error, b.Error))
		})
	}
	if out.Rejected == nil {
		out.Rejected = []sourceEntry{}
	}
	if out.References == nil {
		out.References = []sourceEntry{}
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
