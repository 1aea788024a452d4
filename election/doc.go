// Package election elects, among the replicas of one cluster's daemon, the
// one that publishes the cluster to gossip and renews its remote secret:
// a Kubernetes Lease (coordination.k8s.io/v1) through client-go's
// tools/leaderelection.
//
//	Elector.Run ──leaderelection (Lease <namespace>/<name>)──▶ OnLead(Lease{holder, transitions}) ─▶ federation.Node.SetLeading
//	            │                                           └─▶ OnLead(nil) when the lease is lost or Run ends
//	            └─ while leading: Config.KnownTerm (federation.Node.OwnTerm) ─▶ a re-created Lease's count raised above it
//
// The lease's transition count (spec.leaseTransitions), which grows each
// time another holder takes it, is the term a published record carries for
// fencing (package federation, "Replicas"): a deposed holder that has not
// noticed is refused by every peer. A deleted Lease is re-created with its
// count at 0: with Config.KnownTerm (the newest term of the cluster seen
// in gossip) a replica that takes a Lease older than that term raises its
// leaseTransitions above it before telling OnLead (a conditional update,
// only while it holds the Lease), and again while it leads whenever
// KnownTerm becomes newer than its lease; so the term stays monotonic
// and the Lease stays its only source. Timing: a holder renews every
// RetryPeriod and gives up leading when it could not renew for
// RenewDeadline; another replica takes an expired lease LeaseDuration after
// its last renewal, so a killed leader is replaced within LeaseDuration
// (plus RetryPeriod). The daemon needs get, create and update on that one
// Lease (deploy/meshgate/10-rbac.yaml).
//
// Goroutines: Run runs the election loop until ctx is done; while this
// replica leads, one more goroutine reads (and if need be raises) the Lease
// and checks KnownTerm every RetryPeriod. OnLead is called from either, one
// call at a time, and must not block for long; KnownTerm must not block.
//
// Never imports: this repository.
package election
