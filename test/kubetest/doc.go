// Package kubetest runs real Kubernetes API servers for tests: one etcd and
// one kube-apiserver per simulated cluster, on distinct ports, with Istio's
// CRDs installed.
//
//	test/testbed/build.sh ──▶ kube-apiserver, etcd (cached, or $KUBEBUILDER_ASSETS)
//	                                   │
//	kubetest.New / Start ──▶ etcd ◀── kube-apiserver :port ◀── *rest.Config, admin kubeconfig
//	                                   ▲
//	               discovery/kube, federation and e2e tests (client-go, istio client-go)
//
// Each cluster has its own directory with a client CA, an admin client
// certificate (O=system:masters), a service-account signing key, the
// apiserver's self-generated serving certificate (--cert-dir), etcd's data
// and the logs of both processes. Authorization is RBAC; the TokenRequest
// API works. There is no controller-manager: nothing creates
// EndpointSlices, default ServiceAccounts or token Secrets, and nothing
// collects garbage; tests write what they need.
//
// Tests that start clusters are the integration tier: their files carry
// //go:build integration, so `go test ./...` (the fast tier) runs anywhere
// and `go test -tags integration ./...` runs them. No test built without
// that tag (or e2e) may import this package; test/repocheck checks it.
//
// Binaries are never built implicitly: when they are missing, New fails
// the test with the command to run (test/testbed/build.sh), unless
// MESHGATE_TESTBED_BUILD=1 asks it to build (see FindBinaries).
//
// Start/StartN return errors (for an e2e harness binary); New/NewN wrap
// them for tests and register cleanup. For chaos tests a cluster's
// components can be stopped (SIGTERM), killed (SIGKILL) and started again on
// the same port with the same certificates and data. Options.BindAddress and
// Options.ExecPrefix run a cluster inside a network namespace. Options.Audit
// keeps the API server's audit log (metadata only, never bodies):
// Cluster.AuditEvents says which user asked for what and the answer, the
// proof of an RBAC test.
package kubetest
