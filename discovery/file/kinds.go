package file

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	istioscheme "istio.io/client-go/pkg/clientset/versioned/scheme"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubescheme "k8s.io/client-go/kubernetes/scheme"
	gwscheme "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/scheme"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/model"
)

// knownKinds indexes the kinds of the Kubernetes API (client-go's scheme)
// and of every Istio and Gateway API: a document of one of them
// that meshgate does not use is ignored; any other kind is unknown, as
// kubectl would say ("no matches for kind"), most often a misspelling.
var knownKinds = sync.OnceValue(func() kindIndex {
	ix := kindIndex{gvk: map[schema.GroupVersionKind]bool{}, groups: map[string][]string{}, byLower: map[string][]schema.GroupVersionKind{}}
	add := func(gvk schema.GroupVersionKind) {
		if gvk.Version == "__internal" || strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") ||
			gvk.Kind == "WatchEvent" || gvk.Kind == "Status" || gvk.Kind == "APIVersions" || gvk.Kind == "APIGroupList" ||
			gvk.Kind == "APIGroup" || gvk.Kind == "APIResourceList" {
			return
		}
		if !ix.gvk[gvk] {
			ix.gvk[gvk] = true
			l := strings.ToLower(gvk.Kind)
			ix.byLower[l] = append(ix.byLower[l], gvk)
		}
		if !slices.Contains(ix.groups[gvk.Group], gvk.Version) {
			ix.groups[gvk.Group] = append(ix.groups[gvk.Group], gvk.Version)
		}
	}
	for gvk := range kubescheme.Scheme.AllKnownTypes() {
		add(gvk)
	}
	for gvk := range istioscheme.Scheme.AllKnownTypes() {
		add(gvk)
	}
	for gvk := range gwscheme.Scheme.AllKnownTypes() {
		add(gvk)
	}
	// Custom resource definitions themselves (apiextensions-apiserver's
	// types are not in client-go's scheme).
	add(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	// The Multi-Cluster Services API (ServiceImports are meshgate's output:
	// known, and ignored in input).
	for _, v := range mcsVersions {
		for _, k := range []string{"ServiceExport", "ServiceImport"} {
			add(schema.GroupVersionKind{Group: mcsGroup, Version: v, Kind: k})
		}
	}
	for _, l := range ix.byLower {
		slices.SortFunc(l, func(a, b schema.GroupVersionKind) int { return strings.Compare(a.String(), b.String()) })
	}
	return ix
})

type kindIndex struct {
	gvk     map[schema.GroupVersionKind]bool
	groups  map[string][]string // group → served versions
	byLower map[string][]schema.GroupVersionKind
}

// noMatch explains an apiVersion and kind that no known API serves, in
// kubectl's words, with a suggestion when the kind or group looks
// misspelled; "" when the kind is known.
func (ix kindIndex) noMatch(apiVersion, kind string) string {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return fmt.Sprintf("invalid apiVersion %q: %v", apiVersion, err)
	}
	gvk := gv.WithKind(kind)
	if ix.gvk[gvk] {
		return ""
	}
	msg := fmt.Sprintf("no matches for kind %q in version %q", kind, apiVersion)
	same := ix.byLower[strings.ToLower(kind)]
	switch {
	case len(same) == 0:
		if _, ok := ix.groups[gv.Group]; !ok {
			return msg + " (an API group meshgate does not know)"
		}
		return msg
	case slices.ContainsFunc(same, func(g schema.GroupVersionKind) bool { return g.GroupVersion() == gv }):
		for _, g := range same {
			if g.GroupVersion() == gv {
				return fmt.Sprintf("%s: did you mean kind %q?", msg, g.Kind)
			}
		}
	case slices.ContainsFunc(same, func(g schema.GroupVersionKind) bool { return g.Group == gv.Group }):
		var versions []string
		for _, g := range same {
			if g.Group == gv.Group {
				versions = append(versions, g.GroupVersion().String())
			}
		}
		return fmt.Sprintf("%s: %s is served in %s", msg, same[0].Kind, strings.Join(versions, ", "))
	}
	var versions []string
	for _, g := range same {
		if !slices.Contains(versions, g.GroupVersion().String()) {
			versions = append(versions, g.GroupVersion().String())
		}
	}
	return fmt.Sprintf("%s: did you mean apiVersion %s (kind %s)?", msg, strings.Join(versions, " or "), same[0].Kind)
}

// otherKind handles a document of a kind meshgate does not read: ignored if
// some API serves it, else reported as unknown (see knownKinds). An unknown
// kind's document may be an object meshgate used whose kind or group was
// misspelled: the keeper keeps the last good version of the object of that
// file with the document's name.
func (d *docDecoder) otherKind(loc location, env envelope) {
	reason := knownKinds().noMatch(env.APIVersion, env.Kind)
	if reason == "" {
		d.ignore(loc, env.APIVersion, env.Kind, env.Metadata.Namespace, env.Metadata.Name, "kind not used by meshgate")
		return
	}
	d.ops = append(d.ops, func(c *decoder) { c.unknownKind(loc, env, reason) })
}

func (d *decoder) unknownKind(loc location, env envelope, reason string) {
	d.ignored = append(d.ignored, Ignored{File: loc.file, Document: loc.document, APIVersion: env.APIVersion,
		Kind: env.Kind, Namespace: env.Metadata.Namespace, Name: env.Metadata.Name, Reason: reason, Unknown: true})
	ref := model.Ref{Kind: model.Kind(env.Kind), Namespace: env.Metadata.Namespace, Name: env.Metadata.Name}
	d.problems = append(d.problems, &discovery.Rejection{
		Object: ref,
		Origin: loc.file, Document: loc.document, Field: "kind", Reason: discovery.ReasonUnknownKind,
		Err: &ObjectError{File: loc.file, Document: loc.document, Err: model.Errorf(ref, "kind", "%s", reason)},
	})
}
