// Package server is meshgate's xDS control plane: ADS over gRPC, state of the
// world and delta, for Envoy gateways and proxyless gRPC clients.
//
//	source ─▶ Update(MeshState) ─▶ debounce ─▶ rebuild ─┬▶ translate (per group) ─▶ build (content-hash versions)
//	                                                     │                              │
//	                                                     │          SnapshotCache ◀─────┤ listeners, routes, clusters, secrets
//	                                                     │          group (wildcard.go) ◀┤ wildcard clusters, listeners (sotw)
//	                                                     │          sotwEDS, LinearCache ◀┘ endpoints (one each per group:
//	                                                     │                                  state of the world, delta)
//	                                                     │                 │
//	  Envoy / gRPC ◀──── ADS stream ◀── go-control-plane server ◀── muxCache
//	                         │
//	                         └─▶ callbacks: node admission, ACK/NACK, make-before-break, metrics
//
// Nodes are identified the Istio way (package xds/node: id
// "router~ip~pod.ns~ns.svc.cluster.local", metadata LABELS, NAMESPACE,
// NETWORK, CLUSTER_ID, GENERATOR, SERVICE_ACCOUNT, ROUTER_MODE). Nodes whose
// metadata are equal share a group: one translation, one build, one endpoint
// cache. A node with ISTIO_VERSION (Istio's proxy) gets the istio flavour of
// the configuration (Istio's own filters, as istiod), any other node the
// envoy flavour (upstream Envoy's extensions only; translate.Flavor). A node
// that cannot be parsed gets InvalidArgument and is counted.
// On the secure port, package authn has already proven the caller and
// bound the node's NAMESPACE and SERVICE_ACCOUNT to it (or refused the
// stream), so the identity read here is the proven one; package caservice
// serves Istio's CA next to ADS there.
//
// Rules the server keeps:
//   - nothing is published before the first complete mesh state (Update); then
//     every change is rebuilt level-triggered after a debounce;
//   - versions are content hashes, so an unchanged result is never pushed;
//     state-of-the-world endpoints too (edscache.go: go-control-plane's
//     LinearCache numbers them per cache, so the group's own cache serves
//     them; it still serves delta, whose versions are per resource): two
//     replicas fed the same state give a gateway the same versions, and a
//     gateway that reconnects, to either, holding the current endpoints,
//     clusters or listeners is not sent them again (its first request of
//     the type carries their version; routes and secrets, asked for by
//     name, are sent again where the group was already built);
//   - when only endpoints changed (diff.go: what a new mesh state shares
//     with the last one is recognised by identity, the rest compared by
//     ConfigHash per cluster and endpoints by value), only the endpoint
//     resources of the hosts whose endpoints changed are translated again
//     (translate.EndpointsFor indexes only those hosts), marshalled once and
//     put in the group's endpoint cache: no listener, route or cluster is
//     rebuilt or resent, and no other endpoint resource;
//   - when only VirtualServices changed (the differ compares them per
//     namespace/name, by identity then by value), a group translates again
//     only the route configurations they bind to in their old or new
//     version (routes.go, translate.RoutesFor) and keeps every other
//     resource; it falls back to a full translation when the change may
//     reach further: tcp/tls routes, delegation, a missing Gateway, a
//     cluster name that appears or disappears, object errors that change,
//     anything but VirtualServices changing at the same time, gRPC nodes;
//   - per-stream state is small and what streams of a group share is
//     shared (BenchmarkGatewayFleet: about 120 KB of daemon heap per
//     gateway at 5k services, most of it gRPC's connection): on state-of-
//     the-world streams, go-control-plane's subscription keeps no map of
//     what a stream was sent nor a set of the endpoint names it asks for
//     (callbacks take those out of the request; the group keeps one set
//     per list asked for); a stream holds a version for wildcard clusters
//     and listeners (wildcard.go), and a generation and such a set for
//     endpoints (edscache.go), recorded when the response is sent;
//   - every resource is marshalled once per build (build.go, marshalled):
//     the snapshot and endpoint caches hold the encoding, shared by every
//     proxy of the group, so a push to a thousand streams copies bytes
//     instead of marshalling a thousand times;
//   - make-before-break: an Envoy whose listeners or routes change first gets
//     the new clusters (with the old listeners), and the new listeners and
//     routes only after those clusters have been sent to it;
//   - a cluster response that modifies an EDS cluster is followed by that
//     cluster's endpoints again (stage.go: clustersModified for the state
//     of the world; deltaClustersModified for delta, where the endpoint
//     cache versions each resource by content, so the stream is made to
//     count those names as not held until they are sent): Envoy warms the
//     rebuilt cluster until they come (initial_fetch_timeout 0), and would
//     otherwise never ACK the clusters; a stream that started holding
//     clusters (a reconnect) counts them, or all of them when they were
//     never built here, as the ones it was sent;
//   - a NACK is recorded (per proxy, metric, log) and the rejected version is
//     not sent again; the proxy keeps its last good configuration;
//   - a translation that fails as a whole keeps every proxy's last good
//     configuration; object errors are logged and counted and the rest is
//     published;
//   - convergence is measured, not assumed (convergence.go): the clusters
//     whose model.ClusterState.ObservedAt moved ride with the build or
//     endpoint update that carries their change, and a proxy's ACK of it
//     observes meshgate_mesh_convergence_seconds{origin_cluster} once per
//     proxy and change (the newest change counted per origin cluster is
//     kept per proxy); the stages are meshgate_xds_rebuild_duration_seconds
//     (translate), meshgate_xds_push_seconds (change here to response sent)
//     and meshgate_xds_ack_seconds (sent to ACKed).
//
// Never imports: k8s.io/client-go/..., github.com/hashicorp/memberlist/...,
// ./federation/..., ./discovery/file/..., ./discovery/kube/... and
// ./discovery/remote/... (only cmd/ wires the sources, the federation and
// the xDS server together).
package server
