// Package meshlab runs the simulated clusters of the end-to-end suite: per
// network of a netlab.Lab, an intermediate CA under the mesh's shared root,
// the cluster's objects (Store: kube-apiserver via test/kubetest inside the
// namespace, or a YAML directory), a meshgate daemon federated with the
// others, the built-in east-west gateway and optionally an ingress gateway.
// Every meshgate process is the real binary, built once per run.
// With Options.Envoy the gateways are also real Envoy (EnvoyGateway): the
// east-west gateway of every cluster is an Envoy instead of the built-in
// one, and the ingress cluster runs an Envoy ingress beside the built-in
// ingress, bootstrapped like `meshgate bootstrap` (xds/server/bootstrap,
// node metadata of xds/node), inside the cluster's namespace. With
// Options.EgressCluster an Envoy egress gateway runs there too, on a pod
// address, towards an external service (workload.External: HTTP and HTTPS
// with a CA of its own) on the node address of Options.ExternalCluster.
// With Options.MulticlusterServices every API server gets the Multi-Cluster
// Services CRDs (deploy/mcs) and every daemon --multicluster-services.
// Releases (release.go): a mesh started with Options.Bin of release N−1
// (BuildRelease of PreviousRelease, cached by commit) has its daemons
// replaced one by one (Mesh.RestartDaemon) by another binary, whose help
// must offer every flag of the daemons' command line.
// With Options.Replicas ≥ 2 every cluster runs that many daemons with
// --leader-elect (replicas.go: Replica, Mesh.Leader,
// Mesh.PartitionFromAPIServer), and the gateways get every replica's xDS
// address.
//
//	Options ─▶ New ─▶ netlab.New (namespaces) ─▶ PKI (root + cacerts per cluster)
//	             │        ─▶ kubetest.Start (per network, kube source) ─▶ Store.Sync (objects)
//	             │        ─▶ meshgate run (per cluster, --join peers) ─▶ /readyz
//	             └────────▶ meshgate gateway (east-west, ingress) ─▶ /ready
//	                         or envoy -c <bootstrap> (Options.Envoy) ─▶ admin address file ─▶ /ready
//	Cluster.AddEchoPod / RemovePod ─▶ pod address + SVID (meshgate cert issue) + Pod/EndpointSlice
//	                                  (AddEchoPodAllowing: callers other than Mesh.AllowedCallers)
//	Cluster.NewClient ─▶ workload.Client with an ADS client to the cluster's daemon
//
// Gateways and clients reach their daemon only on its secure xDS port
// (XDSPort, TLS; the daemon checked as XDSServerName against the mesh
// root), each proving the SVID of its service account (`meshgate cert
// issue`); the daemon's plaintext xDS stays on its loopback.
package meshlab
