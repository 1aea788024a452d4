// Package convert turns Kubernetes and Istio API objects into the neutral
// model. It is pure: no files, no clients, no clock. The file source and the
// Kubernetes (informer) source both feed it typed object lists.
//
//	k8s.io/api objects ───┐
//	(Service, Pod, ...)   ├─▶ convert.Cluster ─▶ *model.ClusterState + []error
//	istio.io/api objects ─┤    (validate, convert, join endpoints with pods)
//	Gateway API objects ──┘    (gatewayapi.go: into Gateways and VirtualServices, as istiod,
//	                            and in the same pass their status: gatewayapi_status.go,
//	                            ClusterState.GatewayAPIStatus, istiod's conditions and reasons)
//
// Every problem with an input object is a *model.FieldError naming the object
// (kind namespace/name) and the field path, e.g. "spec.servers[1].tls.mode".
// An invalid object is skipped; the others are kept. Validation follows
// Istio's validation webhook for the Istio kinds; checks that need other
// objects (a VirtualService naming a missing Gateway, protocol conflicts on a
// port) belong to the translator.
//
// Never imports: k8s.io/client-go/..., ./federation/... and ./xds/....
package convert
