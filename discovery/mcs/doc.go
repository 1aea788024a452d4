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
//     export's where they conflict) and status.clusters (the exporting
//     clusters). A managed ServiceImport whose service nobody exports any
//     more is deleted; a ServiceImport meshgate did not create is left
//     alone (logged). spec.ips stays empty: meshgate allocates no VIP, the
//     gateways answer the clusterset hostname.
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
