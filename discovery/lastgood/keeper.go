package lastgood

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
)

// Keeper remembers the last good version of every input object of one
// cluster across a source's rebuilds. The zero value is not usable: New.
type Keeper struct {
	cluster string
	good    map[model.Ref]good
	since   map[string]time.Time // Rejection.Key → first seen
}

// good is an object's last version that converted without error.
type good struct {
	obj    any
	origin string
	source string // its model.Meta.Source then
}

// New returns an empty Keeper for the inputs of cluster.
func New(cluster string) *Keeper {
	return &Keeper{cluster: cluster, good: map[model.Ref]good{}, since: map[string]time.Time{}}
}

// Input is one rebuild's input.
type Input struct {
	// Objects are the objects the source could read.
	Objects convert.Inputs
	// Problems are the inputs it could not read (decoding): an object
	// (Object.Kind set), an object of unknown kind (Reason
	// discovery.ReasonUnknownKind, Object the kind as written and the name:
	// it may be an object of Origin with that name whose kind or group was
	// misspelled), or a document whose objects are unknown (Object zero: any
	// object of Origin may have been in it). Origin must be set.
	// The Keeper fills Cluster, Kept and Since.
	Problems []*discovery.Rejection
	// Origin says where an object of Objects was read (a file as shown to
	// the user, and its document); nil: Default origin.
	Origin func(model.Ref) (origin string, document int)
	// Locate wraps a conversion error (a *model.FieldError) with its
	// location, e.g. the file; nil: unchanged.
	Locate func(error) error
	// DefaultOrigin names the origin of every object when Origin is nil
	// ("kube:<cluster>").
	DefaultOrigin string
}

// Cluster converts in.Objects with convert.Cluster, replacing every object
// rejected now by its last good version, and keeping the last good version
// of the objects of an origin that a broken document may have held. errs
// holds one *discovery.Rejection per rejected object or document (errors
// naming object and field; several problems of one object are joined),
// sorted by origin and object, then any other conversion error. now is the
// time of this rebuild (Rejection.Since).
func (k *Keeper) Cluster(in Input, opts convert.Options, now time.Time) (*model.ClusterState, []error) {
	its := items(&in.Objects)
	present := make(map[model.Ref]int, len(its))
	for i, it := range its {
		present[it.ref] = i
	}
	origin := func(ref model.Ref) (string, int) {
		if in.Origin == nil {
			return in.DefaultOrigin, 0
		}
		return in.Origin(ref)
	}
	cs, cerrs := convert.Cluster(in.Objects, opts)
	srcOf := func(ref model.Ref) string {
		if opts.Source == nil {
			return ""
		}
		return opts.Source(ref.Kind, ref.Namespace, ref.Name)
	}

	var out, other []error
	rejected := map[model.Ref]*discovery.Rejection{}
	var docs []*discovery.Rejection // problems whose object is unknown
	reject := func(r *discovery.Rejection) {
		if prev := rejected[r.Object]; prev != nil {
			prev.Err = errors.Join(prev.Err, r.Err)
			return
		}
		rejected[r.Object] = r
	}
	for _, p := range in.Problems {
		p.Cluster = k.cluster
		switch {
		case p.Object.Kind == "" || p.Reason == discovery.ReasonUnknownKind:
			docs = append(docs, p)
		case p.Reason == discovery.ReasonDuplicate: // the first definition is served
			out = append(out, p)
		default:
			reject(p)
		}
	}
	for _, e := range cerrs {
		var fe *model.FieldError
		if !errors.As(e, &fe) {
			other = append(other, e)
			continue
		}
		if in.Locate != nil {
			e = in.Locate(e)
		}
		o, doc := origin(fe.Object)
		reject(&discovery.Rejection{Object: fe.Object, Cluster: k.cluster, Origin: o, Document: doc,
			Field: fe.Field, Reason: discovery.ReasonInvalid, Err: e})
	}

	// Rejected objects with a last good version: that version instead.
	keep := map[model.Ref]good{}
	for ref, r := range rejected {
		if g, ok := k.good[ref]; ok {
			r.Kept = true
			keep[ref] = g
			if i, ok := present[ref]; ok {
				its[i].obj = g.obj
			} else {
				its = append(its, item{ref, g.obj})
			}
		}
		out = append(out, r)
	}
	// Objects gone from the origin of a broken document: maybe they were
	// in it, so their last good versions stay.
	for _, d := range docs {
		kept := 0
		for _, ref := range sortedRefs(k.good) {
			g := k.good[ref]
			if _, ok := present[ref]; ok || g.origin != d.Origin || rejected[ref] != nil {
				continue
			}
			if d.Object.Name != "" && (ref.Name != d.Object.Name || (d.Object.Namespace != "" && ref.Namespace != d.Object.Namespace)) {
				continue
			}
			kept++
			if _, dup := keep[ref]; dup {
				continue // two broken documents of one file: kept once
			}
			keep[ref] = g
			its = append(its, item{ref, g.obj})
			r := *d
			r.Object, r.Kept = ref, true
			out = append(out, &r)
		}
		if kept == 0 {
			out = append(out, d)
		}
	}
	if len(keep) > 0 {
		// The kept versions were good: conversion errors now are those of
		// the rejected objects without a last good version (reported above).
		// A kept object keeps its source too (its file then).
		kopts := opts
		kopts.Source = func(kind model.Kind, ns, name string) string {
			if g, ok := keep[model.Ref{Kind: kind, Namespace: ns, Name: name}]; ok {
				return g.source
			}
			return srcOf(model.Ref{Kind: kind, Namespace: ns, Name: name})
		}
		status := cs.GatewayAPIStatus
		cs, _ = convert.Cluster(inputs(its), kopts)
		// The status is that of the objects as they are now (rejections
		// included), not of the kept versions served in their place.
		cs.GatewayAPIStatus = status
	}

	next := make(map[model.Ref]good, len(its))
	for _, it := range its {
		if g, ok := keep[it.ref]; ok {
			next[it.ref] = g
			continue
		}
		if rejected[it.ref] == nil {
			o, _ := origin(it.ref)
			next[it.ref] = good{obj: it.obj, origin: o, source: srcOf(it.ref)}
		}
	}
	k.good = next

	since := make(map[string]time.Time, len(out))
	for _, e := range out {
		r := e.(*discovery.Rejection)
		key := r.Key()
		t, ok := k.since[key]
		if !ok {
			t = now
		}
		r.Since, since[key] = t, t
	}
	k.since = since
	slices.SortFunc(out, func(a, b error) int {
		ra, rb := a.(*discovery.Rejection), b.(*discovery.Rejection)
		return cmp.Or(cmp.Compare(ra.Origin, rb.Origin), cmp.Compare(ra.Document, rb.Document),
			cmp.Compare(ra.Object.Kind, rb.Object.Kind), cmp.Compare(ra.Object.Namespace, rb.Object.Namespace),
			cmp.Compare(ra.Object.Name, rb.Object.Name), cmp.Compare(ra.Error(), rb.Error()))
	})
	return cs, append(out, other...)
}

// sortedRefs returns the keys of m in order (deterministic results).
func sortedRefs(m map[model.Ref]good) []model.Ref {
	refs := make([]model.Ref, 0, len(m))
	for r := range m {
		refs = append(refs, r)
	}
	slices.SortFunc(refs, func(a, b model.Ref) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return refs
}
