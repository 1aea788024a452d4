// Package daemon wires `meshgate run`: configuration (flags, file,
// defaults), the configuration source, the xDS server and the admin server,
// and the graceful shutdown.
//
//	flags + config file ─▶ Config.Validate ─▶ New ─▶ Run
//	                                               │
//	  Source (file: discovery/file.Watch) ─publish─▶ xds/server.Update ─▶ ADS (gRPC, xds-address)
//	                                               └─▶ admin HTTP (admin-address): /healthz /readyz /metrics /debug/
//
// Only cmd/ wires components together; this package holds that wiring so
// the cobra command stays thin.
package daemon
