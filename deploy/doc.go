// Package deploy holds the Kubernetes manifests of meshgate (deploy/meshgate)
// and their tests: kubectl accepts them, a real API server accepts them, and
// the RBAC they grant is exactly what the daemon reads.
//
//	deploy/meshgate/*.yaml ─▶ kubectl apply --dry-run=client
//	                       ─▶ kube-apiserver (server-side apply, Istio CRDs installed)
//	10-rbac.yaml ─▶ token of ServiceAccount meshgate ─▶ discovery/kube + discovery/remote work;
//	                                                    everything else is forbidden
package deploy
