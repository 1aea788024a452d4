// Package multicluster is the Kubernetes source of `meshgate run`: the
// local cluster's API server (discovery/kube) together with the remote
// clusters its remote secrets name (discovery/remote), published as one
// MeshState.
//
//	local API server ──kube.Source──────onLocal──┐
//	remote secrets ──remote.Controller─(per cluster)─onRemote/onRemove─┤ state (mu)
//	gossiped remote secrets ─SetFederatedSecrets─┘                      │ kick
//	                                                                    ▼
//	                                   publish loop: model.Compose(local, remotes) ─▶ discovery.Publish
//
// Nothing is published before the local initial sync and before every
// remote cluster has settled (synced, or its sync timeout passed). The
// callbacks only record the newest state under the lock and wake the
// publish loop; the loop takes a snapshot under the lock and calls publish
// after unlocking, from one goroutine. So no lock of this package is held
// while publish runs, publish is never concurrent with itself, and it
// always hands on the newest state (an older one can never overwrite it).
//
// Lifecycle: Run(ctx) runs the local source, the remote controller, the
// remote secret watch and the publish loop in one errgroup; it returns nil
// when ctx ends, or the first error.
package multicluster
