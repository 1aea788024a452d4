// Package lastgood keeps the last good version of every input object of a
// source, so that a broken new version of an object (or a file that no
// longer parses) never removes configuration that was being served.
//
//	source (file decoder, informers) ─▶ convert.Inputs + decode problems
//	                                          │
//	                Keeper.Cluster: convert.Cluster; an object rejected now
//	                (decode problem or conversion error) is replaced by its
//	                last good version, and the objects a broken document of
//	                the same origin may have held are kept; convert again
//	                                          │
//	                                          ▼
//	              *model.ClusterState + []error (each a *discovery.Rejection)
//
// Objects are keyed by kind, namespace and name. An object broken from the
// start has no last good version: it is not served, and reported. An object
// that is gone from the input without any problem reported for its origin
// is gone (deleting is not breaking). Rejection.Since is when the object
// (or document) was first seen rejected; it stays while it stays broken.
//
// A Keeper is used by one goroutine at a time (a source's rebuilds). It is
// pure but for the time the caller passes in.
//
// Never imports: k8s.io/client-go/..., ./federation/... and ./xds/....
package lastgood
