// Package adstest is an Envoy-like ADS client for tests and benchmarks: it
// speaks state-of-the-world or delta xDS over a real gRPC stream, subscribes
// to listeners and clusters (wildcard) and then, like Envoy, to the routes,
// endpoints and secrets they reference, ACKs what it applies, and can be told
// to NACK (Types narrows what it subscribes to).
//
//	xds/server tests ─┐
//	e2e workloads ────┴▶ adstest.Client ──ADS/gRPC──▶ xds/server (daemon)
//	                       └─ State (resources by type and name, versions, response log)
//
// It is the one ADS client of the tests. One Client is one stream: it does
// not reconnect (a test asserts how its stream ends); test/e2e/workload wraps
// it to reconnect. The built-in gateway (xds/dataplane) has its own client
// in the product: see its ads.go for why the two are not one.
//
// Mirror is the light variant for benchmarks with fleets of thousands of
// streams: it asks at once for the names a Client learned (State.
// Subscriptions), ACKs without decoding and keeps only versions and counts.
package adstest
