// Package adstest is an Envoy-like ADS client for tests and benchmarks: it
// speaks state-of-the-world or delta xDS over a real gRPC stream, subscribes
// to listeners and clusters (wildcard) and then, like Envoy, to the routes,
// endpoints and secrets they reference, ACKs what it applies, and can be told
// to NACK.
//
//	test ─▶ adstest.Client ──ADS/gRPC──▶ xds/server
//	          └─ State (resources by type and name, versions, response log)
package adstest
