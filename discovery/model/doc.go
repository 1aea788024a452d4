// Package model is meshgate's neutral representation of the world: the services,
// endpoints, gateways and routing configuration of every cluster of the mesh.
//
//	Kubernetes API ─┐                       ┌─ federation (remote ClusterStates)
//	YAML directory ─┴─▶ discovery sources ─▶ model ─▶ xds/translate ─▶ xDS server
//
// Sources (discovery/file, discovery/kube) convert Kubernetes and Istio objects
// into these plain Go values; federation carries ClusterStates between daemons;
// the translator reads a MeshState and nothing else. clusterset.go derives
// the Multi-Cluster Services API's clusterset (ServiceExports of every
// cluster, the oldest-export rule) for the translator and discovery/mcs.
// gatewayapistatus.go holds the Gateway API status the conversion computes
// for the local daemon's status writer (discovery/gwstatus); nothing is
// translated from it, and federation does not carry it.
//
// Rules of the package:
//   - no client-go, Istio, Envoy or memberlist imports (the rule below);
//   - values are treated as immutable once published: a source builds a new
//     ClusterState instead of editing one that was handed out;
//   - every slice is sorted (Normalize) so that equal worlds are equal values,
//     and Hash is a stable content hash;
//   - Validate reports structural problems naming the object and field.
//
// Imports only: the standard library and ./identity.
package model
