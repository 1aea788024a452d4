// Package bootstrap writes the bootstrap files that connect a gateway to
// meshgate: an Envoy v3 bootstrap (ADS over gRPC to the daemon) and the
// gRPC-Go xDS bootstrap of a proxyless client.
//
//	meshgate bootstrap ─▶ bootstrap.Envoy / bootstrap.GRPC ─▶ envoy -c … │ GRPC_XDS_BOOTSTRAP=…
//	                                                               └─ ADS ─▶ meshgate run (xds/server)
//
// With Options.SDSSocket the Envoy bootstrap reaches the daemon's secure
// port as Istio's does istiod's: xds-grpc speaks TLS with SDS "default"
// (the pod's SVID) as client certificate and verifies the daemon against
// SDS "ROOTCA" and a DNS SAN (XDSServerName); both secrets come from
// meshgate agent (xds/agent) over the sds-grpc cluster, a Unix socket.
// Options.XDSCertDir does the same with certificate files read once at
// Envoy's start (tests and development: no rotation).
package bootstrap
