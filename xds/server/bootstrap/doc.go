// Package bootstrap writes the bootstrap files that connect a gateway to
// meshgate: an Envoy v3 bootstrap (ADS over gRPC to the daemon) and the
// gRPC-Go xDS bootstrap of a proxyless client.
//
//	meshgate bootstrap ─▶ bootstrap.Envoy / bootstrap.GRPC ─▶ envoy -c … │ GRPC_XDS_BOOTSTRAP=…
//	                                                               └─ ADS ─▶ meshgate run (xds/server)
package bootstrap
