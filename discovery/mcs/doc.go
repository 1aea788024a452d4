// Package mcs writes the Multi-Cluster Services API's objects back into the
// local cluster, as the MCS controllers do: a ServiceImport for every
// service some cluster of the mesh exports (model.ClusterSet), and the
// Valid and Conflict conditions of the local cluster's ServiceExports.
//
//	mesher ─Update(mesh)─▶ Writer (newest mesh, kick) ─▶ run loop ─▶ reconcile
//	informers (ServiceExports, ServiceImports) ─event─▶ kick ──────┘     │
//	                                 create/update/delete ServiceImports ◀┤
//	               ServiceExport and ServiceImport status subresources ◀─┘
//
// What is written, and nothing else:
//   - ServiceImports labelled app.kubernetes.io/managed-by=meshgate, one per
//     clusterset service whose namespace exists locally: spec.type
//     (ClusterSetIP, or Headless when the oldest export's Service is
//     headless), spec.ports (the clusterset's: union by name, the oldest
//     export's where they conflict), status.clusters (the exporting
//     clusters), status.conditions Ready and status.endpointSliceObjects
//     Absent. A managed ServiceImport whose
//     service nobody exports any more is deleted; a ServiceImport meshgate
//     did not create is left alone (logged).
//   - With Config.ClusterSetIPPrefix, a ClusterSetIP import's spec.ips (one
//     address) and spec.ipFamilies: model.AllocateClusterSetIPs, computed
//     from the clusterset alone (hash of namespace/name, probing on
//     collision, oldest export first), so every cluster given the same
//     prefix writes the same VIP without coordination. An address moves
//     only when an older service it had collided with stops being exported
//     (logged). Ready is True (reason Ready) when the import is complete,
//     False Pending when no free address was found. Without a prefix
//     spec.ips stays empty and Ready says the gateways answer the
//     clusterset hostname. meshgate routes no VIP itself (the translator
//     has no VIP listeners) and writes no EndpointSlices for imports: see
//     the README.
//   - ServiceExport status.conditions Valid (Valid, NoService,
//     InvalidServiceType) and Conflict (NoConflict, PortConflict,
//     TypeConflict: the oldest-export rule), through the status
//     subresource, only when a condition's status, reason or message
//     changed.
//
// With replicas (--leader-elect) only the leader runs the Writer (the
// daemon runs Run for each term it leads), so replicas never race on
// these writes.
//
// Goroutines: Run runs the informers and one reconcile loop; Update never
// blocks (it records the newest mesh and wakes the loop). A failed write is
// logged and counted (meshgate_mcs_writes_total) and retried at the next
// kick, or after RetryInterval.
//
// Imports only: the standard library, ./discovery/model, k8s.io/...,
// sigs.k8s.io/mcs-api/... and github.com/prometheus/client_golang/....
package mcs
