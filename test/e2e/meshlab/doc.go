// Package meshlab runs the simulated clusters of the end-to-end suite: per
// network of a netlab.Lab, an intermediate CA under the mesh's shared root,
// the cluster's objects (Store: kube-apiserver via test/kubetest inside the
// namespace, or a YAML directory), a meshgate daemon federated with the
// others, the built-in east-west gateway and optionally an ingress gateway.
// Every meshgate process is the real binary, built once per run.
//
//	Options ─▶ New ─▶ netlab.New (namespaces) ─▶ PKI (root + cacerts per cluster)
//	             │        ─▶ kubetest.Start (per network, kube source) ─▶ Store.Sync (objects)
//	             │        ─▶ meshgate run (per cluster, --join peers) ─▶ /readyz
//	             └────────▶ meshgate gateway (east-west, ingress) ─▶ /ready
//	Cluster.AddEchoPod / RemovePod ─▶ pod address + SVID (meshgate cert issue) + Pod/EndpointSlice
//	Cluster.NewClient ─▶ workload.Client with an ADS client to the cluster's daemon
package meshlab
