// Package caclient is the client side of meshgate's CA service (Istio's
// IstioCertificateService/CreateCertificate on the daemon's secure xDS
// port): it obtains an X.509 SVID for a key it generates itself, renews it
// at half life, and gives the TLS configuration that connects to the secure
// port with it. The built-in gateway (meshgate gateway) and the Envoy
// gateways' agent (meshgate agent) use it.
//
//	projected token (re-read at every call) ─┐
//	current SVID (client certificate, if any)┴─TLS (verified: Roots, ServerName)─▶ CreateCertificate(CSR, TTL)
//	                                                                                   │ [leaf, intermediates…, root]
//	Client.Run: renew at half life, retry with backoff ◀──────────────────────────────┘
//	   └─▶ Current / TLSConfig (ADS to the secure port) / Subscribe (agent's SDS)
//
// The private key never leaves the process and is never logged. The CSR
// names no identity: the daemon issues for the identity the caller proved
// (its token, or its current SVID on renewal); the client checks the issued
// leaf against Config.Expect when set, that it chains to Roots, and that it
// carries the generated key. An SVID is presented as client certificate only
// while it is valid, so a gateway whose SVID expired (long outage) falls
// back to its token.
//
// Concurrency: all methods are safe for concurrent use; Run is the only
// goroutine that calls the CA after the first Fetch, and subscribers are
// called from it, one at a time.
//
// Imports only: the standard library, ./identity, github.com/spiffe/go-spiffe/v2/...,
// github.com/prometheus/client_golang/..., google.golang.org/grpc/... and istio.io/api/....
package caclient
