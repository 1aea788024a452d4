// Package gwstatus writes the status of the Gateway API objects back into
// the local cluster, as istiod does for its GatewayClass istio: the status
// that package convert computes in the same pass as the configuration
// (model.ClusterState.GatewayAPIStatus), so that `kubectl get gateway`
// shows PROGRAMMED and routes show why they are or are not accepted.
//
//	mesher ─Update(mesh)─▶ Writer (newest status, kick) ─▶ run loop ─▶ reconcile
//	informers (the Gateway API kinds served) ─event─▶ kick ───┘           │
//	   GatewayClass, Gateway, HTTPRoute, GRPCRoute, TLSRoute, TCPRoute   ◀┘
//	                     status subresources (update), only on change
//
// What is written, and nothing else:
//   - GatewayClasses of controllerName istio.io/gateway-controller:
//     condition Accepted.
//   - Gateways of those classes: conditions Accepted, Programmed,
//     ResolvedRefs; status.listeners (one per spec listener: Accepted,
//     Programmed, Conflicted, ResolvedRefs, attachedRoutes, supportedKinds);
//     status.addresses (kept when none is known now, as istiod does).
//   - Routes: the status.parents entries whose controllerName is
//     istio.io/gateway-controller (Accepted, ResolvedRefs per parentRef);
//     the entries of other controllers are kept as they are, in place. An
//     entry of ours whose parentRef no longer names an istio Gateway is
//     removed.
//
// Conditions keep their lastTransitionTime while their status stays; a
// condition type the conversion does not produce is left alone. An object
// is written only when its merged status differs from the cached one, and
// only when the status was computed for the generation cached (a newer
// generation waits for the source's next state). A write that loses a race
// with the cache (Conflict) is retried on the event that updates it; a
// failed write is logged, counted (meshgate_gatewayapi_status_writes_total)
// and retried after RetryInterval.
//
// The kinds written are those the API server serves at v1; Run asks again
// every RecheckInterval and, when they changed (CRDs installed or removed
// after it started), replaces its informers by a set for the kinds served
// now (the Kubernetes source does the same: kube.Config.GatewayAPIRecheck).
// An API server that does not answer is asked again after RetryInterval,
// never an error of the daemon.
//
// With replicas (--leader-elect) only the leader runs a Writer (the daemon
// runs Run for each term it leads), so replicas never fight over status.
//
// Goroutines: Run runs the informers and one reconcile loop; Update never
// blocks. Imports only: the standard library, ./discovery/model,
// ./discovery/convert (names), k8s.io/..., sigs.k8s.io/gateway-api/... and
// github.com/prometheus/client_golang/....
package gwstatus
