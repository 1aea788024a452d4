// Package daemon wires `meshgate run`: configuration (flags, file,
// defaults), the configuration source, the xDS server and the admin server,
// and the graceful shutdown.
//
//	flags + config file ─▶ Config.Validate ─▶ New ─▶ Run
//	                                               │
//	  Source ─publish─▶ mesher (+ federation) ─▶ xds/server.Update ─▶ ADS (gRPC, xds-address: plaintext, loopback
//	                                                                 │      unless insecure-xds)
//	                                                                 └▶ secure port (secure-xds-address, secure.go):
//	                                                                    TLS + xds/server/authn + ADS + caservice
//	   ├─ file: discovery/file.Watch (--config-dir)
//	   └─ KubeSource (--kubeconfig, --in-cluster): discovery/kube (local API server)
//	        + discovery/remote (remote secrets → remote clusters; gossiped secrets too)
//	                                               └─▶ admin HTTP (admin-address): /healthz /readyz /metrics /debug/
//	                                                   (+ /debug/clusters with the Kubernetes source)
//
// Lifecycle: every long-running part has Run(ctx) error (federation.Node,
// the remote secret renewer, xds/server.Server, identity renewal, gRPC
// Serve, admin HTTP Serve, the source). Daemon.Run starts them in one
// errgroup; the first real error cancels the others and is what Run (and so
// `meshgate run`, with a non-zero exit) returns. A stop by ctx returns nil.
// Shutdown: gRPC GracefulStop once the xDS server has ended every stream,
// the admin server drained, both within ShutdownTimeout.
//
// Only cmd/ wires components together; this package holds that wiring so
// the cobra command stays thin.
package daemon
