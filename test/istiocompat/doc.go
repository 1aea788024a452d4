// Package istiocompat proves meshgate's remote secrets with Istio's own
// code, both ways, against real API servers (test/kubetest); its tests carry
// //go:build integration. See README.md.
package istiocompat
