// Package translate turns a model.MeshState into the Envoy configuration of one
// gateway proxy, the way istiod does for a "router" proxy.
//
//	model.MeshState + Proxy + Options ─▶ Translate ─▶ Result{Listeners, Routes, Clusters, Endpoints, Secrets}
//
// Translate is pure: no IO, no clock, no globals; the same input gives
// byte-identical output. Problems with individual objects are collected in
// Result.Errors (each naming the object and field) and the offending object is
// skipped; the rest still translates. Every emitted resource passes ValidateAll.
//
// Never imports: k8s.io/client-go/..., github.com/hashicorp/memberlist/...
// and google.golang.org/grpc/....
package translate
