// Package discovery is the contract between the configuration sources and
// whoever consumes their states: a Source runs until its context ends and
// hands complete mesh states to a Publish function.
//
//	discovery/file.Source ─────────┐
//	discovery/kube.Source ─────────┼─ Publish(mesh, objErrs, err) ─▶ consumer (cmd: xDS server, federation)
//	discovery/multicluster.Source ─┘
//
// What a source cannot use it reports among objErrs as a *Rejection (the
// object, where it was read, the field, why, since when, and whether its
// last good version is still served: see discovery/lastgood, which both
// the file and the Kubernetes sources convert through). Broken input never
// removes an object that was good; deleting it does.
//
// The package imports only discovery/model (and the standard library); the
// sources import it, never the other way round. Merging states of several
// clusters is model.Compose.
package discovery
