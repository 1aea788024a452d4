// Package kube is the Kubernetes source: shared informers on one cluster's
// API server, converted into the neutral model by discovery/convert (the
// same converters as the file source), debounced, published as a
// ClusterState.
//
//	kube-apiserver ──▶ informers (Services, EndpointSlices, Pods, Namespaces,
//	                   Nodes, Ingresses, IngressClasses; Gateway, VirtualService,
//	                   DestinationRule, ServiceEntry; the Gateway API kinds
//	                   served at gateway.networking.k8s.io/v1, asked again every
//	                   Config.GatewayAPIRecheck, see gatewayapi.go;
//	                   with Config.ServiceExports the Multi-Cluster Services
//	                   ServiceExports)
//	               ──▶ per-name Secret watches (credentialName, <name>-cacert)
//	                        │ any event
//	                        ▼
//	                 debounce ─▶ lastgood ─▶ convert.Cluster ─▶ publish(MeshState, objErrs)
//	                                                 (only when changed, never
//	                                                  before the initial sync)
//
// An object the API server accepted but meshgate rejects (conversion,
// validation) keeps its last good version (discovery/lastgood) and is
// published as a kept *discovery.Rejection (origin kube:<cluster>); one
// broken from the start is left out. Each rebuild logs its changes per kind
// (info when routing configuration changed, debug for endpoints).
//
// The published state's ObservedAt is when the informers delivered the
// first event of the burst it holds (a rebuild with no event behind it:
// its start), where end-to-end convergence starts (package xds/server);
// meshgate_discovery_debounce_seconds{cluster} is that event to the
// publication.
//
// Secrets: only those named by a Gateway's credentialName/credentialNames, a
// DestinationRule's credentialName or an Ingress's TLS secretName (and
// <name>-cacert) are read, and a Gateway API listener's certificateRefs (in
// the Gateway's namespace, or one a ReferenceGrant opens to it), each with
// its own field-selected watch (metadata.name=<name>) in the configured
// credential namespaces. The source never lists or watches all Secrets.
//
// Nodes are kept as name and topology labels (the locality of the pods on
// them, for pods without a locality label, as istiod reads it); a Node
// update that leaves its locality alone (status, heartbeats) is no event.
//
// Remote clusters (discovery/remote) run a Source with ServicesOnly:
// Services, EndpointSlices, Pods, Namespaces and Nodes, no Istio
// configuration, as istiod does in a multi-primary mesh.
//
// Health: every request's outcome is recorded through a wrapped transport;
// Status says syncing, synced, timeout (initial sync slower than
// SyncTimeout) or error (the last request to some resource failed). The
// caches, and so the last published state, survive API-server outages. The
// informers retry on their own, but client-go's backoff reaches 30–60 s; so
// while requests fail the source probes the server, and when it answers
// again replaces the informers with fresh ones (make-before-break, see
// reconnect.go): changes made after an outage arrive within seconds.
//
// Never imports: ./federation/... and ./xds/... (only cmd/ wires the sources,
// the federation and the xDS server together).
package kube
