// Package discovery is the contract between the configuration sources and
// whoever consumes their states: a Source runs until its context ends and
// hands complete mesh states to a Publish function.
//
//	discovery/file.Source ─────────┐
//	discovery/kube.Source ─────────┼─ Publish(mesh, objErrs, err) ─▶ consumer (cmd: xDS server, federation)
//	discovery/multicluster.Source ─┘
//
// The package imports only discovery/model (and the standard library); the
// sources import it, never the other way round. Merging states of several
// clusters is model.Compose.
package discovery
