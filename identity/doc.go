// Package identity is meshgate's mesh identity: SPIFFE IDs, a CA (self-signed
// and persisted, or plugged in from an Istio-style cacerts directory), short-
// lived X.509 SVIDs for gateways with rotation, trust bundles of several trust
// domains, and the Envoy SDS secrets that carry them.
//
//	Store (DirStore: ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem)
//	  │ LoadOrCreateCA / LoadCA (validated: key matches, is a CA, chain → root)
//	  ▼
//	 CA ──IssueX509SVID──▶ Manager (one SVID per SPIFFE ID, renewed at half life)
//	  │                       │ Source(id) → tls.Config (go-spiffe tlsconfig)
//	  │ Bundle()              │ Subscribe(fn) → xDS server pushes new SDS
//	  ▼                       ▼
//	 x509bundle.Set ──▶ ROOTCA secret     default secret ──▶ xds cache ──▶ Envoy
//	 (all trust domains,   (validation_context)   (tls_certificate)
//	  federated by gossip)
//
// SignCSR signs a workload's own key (a CSR) for a SPIFFE ID the caller has
// already proven: the CA service (xds/server/caservice) uses it.
//
// SPIFFE IDs follow Istio: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
// SVIDs are ECDSA P-256, carry the full chain (leaf + intermediates, never the
// root) so peers holding only the root verify them, and are represented with
// go-spiffe's x509svid.SVID.
//
// Time comes from an injected k8s.io/utils/clock clock, so tests can make
// expired or not-yet-valid certificates and drive renewal without sleeping.
//
// Private keys never appear in logs or debug output: SVIDAttr logs an SVID
// by ID, serial and validity only, Material.String hides the CA key, and
// RedactSecret blanks key material in SDS resources before they are dumped.
//
// Of Envoy the package uses only the go-control-plane TLS and core types for
// SDS secrets.
//
// Never imports: this repository.
package identity
