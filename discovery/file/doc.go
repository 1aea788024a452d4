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
// (Deployment, ConfigMap, EnvoyFilter, ...) are listed in Result.Ignored.
//
// Never imports: ./federation/... and ./xds/... (only cmd/ wires the sources,
// the federation and the xDS server together).
package file
