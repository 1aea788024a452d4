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
// Only cmd/ wires components together; this package holds that wiring so
// the cobra command stays thin.
package daemon
