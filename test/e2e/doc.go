// Package e2e is meshgate's multi-cluster end-to-end and chaos suite. It
// builds two or three simulated clusters on one machine and sends real mesh
// mTLS traffic between them through the east-west gateways, while it kills,
// partitions, delays and rotates things.
//
//	              ┌──────────── network netns net1 ────────────┐      ┌──── net2 ────┐
//	test process  │ kube-apiserver+etcd ◀── meshgate run ◀─gossip───▶ meshgate run │
//	(root netns)  │                          │ ADS (LDS/CDS/EDS/SDS)   │      ...     │
//	  writes      │ echo pods (SVIDs)   meshgate gateway :15443 ◀──────┼── client    │
//	  Services,   │ client (ADS, EDS) ─────────────── mTLS, SNI ───────▶ gw :15443 ─▶ echo
//	  Endpoint-   └─────────────────────────────────────────────┘      └──────────────┘
//	  Slices, Pods            router netns (iptables: partitions, loss; Toxiproxy: latency)
//
// The topology is package netlab; workloads (echo servers, ADS clients, the
// load generator and its figures) are package workload; clusters, daemons
// and gateways are package meshlab. The suite needs root (network
// namespaces, iptables): it fails, never skips, when they are missing.
// Its test files carry //go:build e2e: `go test -tags e2e ./test/e2e/...`
// runs the suite; without the tag the package has no tests, so `go test
// ./...` runs anywhere. See README.md in this directory for the scenarios,
// the figures they print and the environment variables of longer soak runs.
package e2e
