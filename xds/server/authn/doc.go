// Package authn proves who calls meshgate's secure xDS port (ADS and the CA
// service): an X.509 SVID client certificate, or a Kubernetes
// service-account token. The proven identity, a Caller, is the only source
// of a proxy's namespace and service account.
//
//	gateway ──TLS (ServingCert: meshgate's SVID + Service DNS names, renewed at half life)──▶ gRPC server
//	   client cert?  ──▶ x509svid.Verify against the mesh bundles (read per call: they change)
//	   else "authorization: Bearer <jwt>" ──▶ token cache (SHA-256 → review, until exp / MaxCacheAge)
//	                                           └─ miss ─▶ TokenReview (audience istio-ca) ─▶ system:serviceaccount:<ns>:<sa>
//	                                        bound pod (pod-name/pod-uid) looked up on every use
//	   ──▶ Caller in the context (interceptors) ──▶ ADS: every node checked (CheckNode) and bound (BindNode)
//	                                            └─▶ CA service: a certificate for exactly the Caller
//
// Rules:
//   - anything not proven is refused with codes.Unauthenticated before any
//     handler runs; a presented client certificate that does not verify is
//     refused even when a token is also sent;
//   - TokenReview errors and pod lookup errors refuse the caller (fail
//     closed); an expired token is refused without a review;
//   - a node whose id namespace, NAMESPACE or SERVICE_ACCOUNT disagree with
//     the Caller ends its stream with codes.PermissionDenied naming each
//     mismatch; otherwise NAMESPACE and SERVICE_ACCOUNT are overwritten with
//     the Caller's, so the xDS server builds configuration, credentialName
//     Secrets (the proxy's namespace only) and the SDS "default" SVID for the
//     proven identity (xds/server needs no change);
//   - every decision is counted (meshgate_xds_authn_total{method,result,reason})
//     and every refusal logged with its reason; tokens are never logged or
//     kept (the cache is keyed by their hash).
//
// Concurrency: Authenticate runs on gRPC's goroutines, concurrently; it may
// block on the TokenReview API and the pod lookup (bounded by the call's
// context). The cache and ServingCert take short locks and never call out
// while holding them, except ServingCert issuing a certificate (under a
// millisecond).
package authn
