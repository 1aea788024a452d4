// Package repocheck holds the repository's rules that check themselves:
// import rules written in package docs, the product/test boundary, and no
// absolute paths of a developer's machine in tracked files. Its tests run in
// the fast tier (go test ./...).
//
//	doc.go "Imports only: …" / "Never imports: …" ─┐
//	go list -deps -json -tags integration,e2e ./...  ├─▶ Check ─▶ violations (package, import, chain, rule)
//	go list -test -deps -json ./... (fast tier)     ─┘
//
// # Writing an import rule
//
// A package states its import rules in its package comment (doc.go), each
// rule a paragraph of its own that starts with one of two phrases:
//
//	Imports only: the standard library and ./identity.
//	Never imports: k8s.io/client-go/..., github.com/hashicorp/memberlist/... and ./xds/....
//
// "Imports only" limits the package's own import lines (direct imports);
// "Never imports" forbids a package anywhere in its dependencies (direct or
// through other packages). Items are separated by commas or "and"; a
// sentence's final period is not part of the last item, nor is a closing
// parenthesis that says why. Indented lines (like the examples above) are
// not rules. An item is
//   - "the standard library";
//   - "this repository": every package of this module but the package itself;
//   - "./dir" or "./dir/...": a package of this module (and, with /..., those
//     below it), relative to the module root; it must name an existing
//     package, so a typo fails;
//   - an import path outside this module, optionally ending in /... .
//
// # Rules of the whole repository (written here, checked by Check)
//
// The product is every package of this module outside test/. No product
// package depends on a package under ./test/, or on istio.io/istio/... .
// No product binary (a main package outside test/) depends on the testing
// packages (testing, testing/..., net/http/httptest) except through the
// third-party packages listed in AllowedTestingImporters, each with its
// reason. A test built without build tags (the fast tier) never depends on
// ./test/kubetest or ./test/envoytest, which start API servers and Envoy:
// such tests carry //go:build integration (or e2e); the two packages' own
// untagged tests are the exception.
//
// No tracked file names an absolute path of a developer's machine (a path
// that begins with the root directories work, root, home/<user> or
// Users/<user>): files next to the checkout are named relative to the
// repository root (../shared/...), others through $HOME, a flag or an
// environment variable.
package repocheck
