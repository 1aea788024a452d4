// Package file is the file source: Kubernetes, Istio and Gateway API objects
// (every served version of gateway.networking.k8s.io, decoded into the v1
// types: gatewayapi.go) read from
// multi-document YAML (or JSON) files and directories, converted into the
// neutral model. It is the embedded default of `meshgate run` and the input
// of `meshgate translate`.
//
//	*.yaml/*.yml/*.json ─▶ split documents ─▶ strict decode ─▶ discovery/convert ─▶ model.MeshState
//	  (mesh.yaml: one        (batches of 64,    (k8s.io/api types,        (validate, join
//	   dir per cluster)       on every CPU)      istio.io/api + protojson)  endpoints)
//	                  ▲
//	  fsnotify ─▶ debounce ─▶ reload: changed files only ─▶ publish      (Watch)
//
// A reload reads and decodes only the files that changed (filecache.go):
// a file whose stat (size, modification time, mode; on Linux inode and
// change time) is the one recorded, and was not racy (within 2 s of the
// load that read it), is not read; one whose content hash is unchanged is
// not decoded. What an unchanged file's documents decoded to (objects,
// problems, ignored kinds) is applied again in file order, so the first
// definition of an object still wins across files and the last-good keeper
// sees what a full read would give it; the keeper and the conversion still
// run over the whole cluster. Deleted files are gone from the listing, new
// ones decoded. Within a changed file, documents that did not change come
// from a document cache (its parsed YAML).
//
// Watch stamps each published cluster with ObservedAt: the first file event
// of the burst whose reload changed it (the start of the first load; an
// unchanged cluster keeps its previous time), where end-to-end convergence
// starts (package xds/server). With Options.Metrics it records the source
// stage, meshgate_discovery_debounce_seconds{cluster}: that first event to
// the publication, per changed cluster (the Kubernetes source's metric).
//
// Decoding is most of a load. Documents are decoded in parallel and applied
// in file and document order (the first definition of an object wins,
// problems come in file order). A document in the common subset of YAML
// (block and one-line flow collections, plain and simple quoted scalars:
// fastyaml.go) is parsed without the full YAML parser and its Kubernetes
// object set straight from the parsed tree (treedecode.go); anything else,
// and anything wrong, takes the full path (YAML → JSON → strict decode),
// so results and error messages are the same either way. Documents are
// slices of their file's bytes; the strings a load repeats (namespaces,
// labels, kinds) are shared by each decoding worker's string cache. Each
// worker reuses its parse buffers from one document to the next (when no
// document cache keeps the trees), and validates Pods in a scratch Pod:
// they are kept as convert.PodInfo, what the converter reads. Istio specs
// are written for protojson straight from the tree. A load that
// takes longer than ProgressAfter logs its progress (LoadWith, Watch).
//
// A directory holds one cluster, unless it holds a mesh.yaml naming one path
// per cluster (see MeshFile). Problems with single documents or objects are
// reported (DocumentError, ObjectError wrapping a *model.FieldError) and
// those objects skipped; the rest loads. Kinds meshgate does not use
// (Deployment, ConfigMap, EnvoyFilter, ServiceImport, ...) are listed in
// Result.Ignored; Multi-Cluster Services ServiceExports
// (multicluster.x-k8s.io v1alpha1 and v1beta1) are read;
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
