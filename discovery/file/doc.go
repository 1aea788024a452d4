// Package file is the file source: Kubernetes and Istio objects read from
// multi-document YAML (or JSON) files and directories, converted into the
// neutral model. It is the embedded default of `meshgate run` and the input
// of `meshgate translate`.
//
//	*.yaml/*.yml/*.json ─▶ split documents ─▶ strict decode ─▶ discovery/convert ─▶ model.MeshState
//	  (mesh.yaml: one        (k8s.io/api types,        (validate, join
//	   dir per cluster)       istio.io/api + protojson)  endpoints)
//	                  ▲
//	  fsnotify ─▶ debounce ─▶ reload everything ─▶ publish      (Watch)
//
// A directory holds one cluster, unless it holds a mesh.yaml naming one path
// per cluster (see MeshFile). Problems with single documents or objects are
// reported (DocumentError, ObjectError wrapping a *model.FieldError) and
// those objects skipped; the rest loads. Kinds meshgate does not use
// (Deployment, ConfigMap, EnvoyFilter, ...) are listed in Result.Ignored;
// so are kinds that no Kubernetes or Istio API serves (Ignored.Unknown,
// "no matches for kind", with a suggestion for a misspelled kind or group).
//
// Watch keeps the last good version of every object (discovery/lastgood,
// one Keeper per cluster): an object whose new document does not decode or
// validate keeps its last good version; the objects of a file with a
// document that does not parse (or whose kind is unknown: a misspelling)
// that are gone from it keep theirs; an object broken from the start is
// left out. Watch publishes each as a *discovery.Rejection with its file
// and field, and logs each reload's counts and changes per kind.
//
// Never imports: ./federation/... and ./xds/... (only cmd/ wires the sources,
// the federation and the xDS server together).
package file
