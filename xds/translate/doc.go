// Package translate turns a model.MeshState into the Envoy configuration of one
// gateway proxy, the way istiod does for a "router" proxy.
//
//	model.MeshState + Proxy + Options ─▶ Translate ─▶ Result{Listeners, Routes, Clusters, Endpoints, Secrets}
//
// Proxy.Flavor picks the proxy build: FlavorIstio (default) is what istiod
// gives Istio's proxy, Istio's own filters included; FlavorEnvoy uses only
// upstream Envoy's extensions, with standard equivalents (README's table).
// The istio flavour is checked field by field against istiod's own output
// (golden_test.go, test/tools/xdsdiff.py), the envoy flavour against the real
// Envoy (envoy_validate_test.go, integration tier).
//
// Translate is pure: no IO, no clock, no globals; the same input gives
// byte-identical output. Problems with individual objects are collected in
// Result.Errors (each naming the object and field) and the offending object is
// skipped; the rest still translates. Every emitted resource passes ValidateAll
// (EndpointsFor's too: it returns an error naming each one that does not).
// Clusters and the routes of route configurations are built and resources
// validated on every CPU, by goroutines that end before Translate returns,
// their results taken in order: the output is the one a single goroutine
// gives (TestParallelClustersMatchSequential, TestParallelRoutesMatchSequential).
// Messages that never change (the Istio-mTLS metadata and transport socket
// matches, the workload SDS configs, the EDS config source, endpoint weights
// below 128, the default retry policy, zero timeouts, case_sensitive values)
// are shared by every resource that holds them; no caller modifies them.
// Hosts are the Services of every cluster (<svc>.<ns>.svc.<domain suffix>,
// merged by namespace sameness), the local ServiceEntries, and the
// Multi-Cluster Services hosts <svc>.<ns>.svc.clusterset.local of every
// service some cluster exports with a ServiceExport (model.ClusterSet:
// endpoints of the exporting clusters only, ports of the oldest export,
// visibility from that export's Service exportTo annotation, else
// Options.DefaultServiceExportTo).
// RoutesFor translates again only the route configurations a change of
// VirtualServices touches (the xDS server's fast path for such changes);
// Result.RouteDeps and ListenerClusters say what each route configuration
// used, so that the caller can tell whether anything else changed.
// Explain answers why a proxy has or lacks a host, cluster, endpoint or SNI
// route, with the objects (and their files) that produced it or the reason it
// is missing, using the same lookups as Translate (explain.go); with a
// daemon's federation history (ExplainWithHistory) it also says how each
// remote cluster was learned (peer, owner, generation, time) and which
// clusters that had what is missing are withdrawn, hidden or refused, and why.
// CheckReferences reports, for no proxy in particular, the references between
// objects that point at nothing (a missing Gateway or route destination), so
// that they are said when the configuration loads, not only once a proxy
// connects.
//
// Never imports: k8s.io/client-go/..., github.com/hashicorp/memberlist/...
// and google.golang.org/grpc/....
package translate
