// Package workload is the traffic of the end-to-end tests: echo servers that
// terminate mesh mTLS with SVIDs from `meshgate cert issue` and check the
// caller's SPIFFE ID (go-spiffe), clients that learn endpoints from their
// own daemon over ADS (CDS + EDS, split horizon, like a proxy; the tests'
// ADS client test/adstest, reconnecting) and dial them
// with the target's SNI (package sni) and mesh mTLS, and a paced load
// generator that records every request and prints figures.
//
//	meshgate run ──ADS (CDS, EDS)──▶ XDSClient ──▶ Client.Call(target)
//	                                                 │ pick endpoint (the cluster's balancer, package lb),
//	                                                 │ retry a failed connect on another one
//	                                                 │ TLS: SNI outbound_.<port>_.<subset>_.<host>,
//	                                                 │      ALPN istio, client SVID
//	                                                 ▼
//	        local pod ◀── or ── remote east-west gateway :15443 ──▶ remote pod
//	                                                               Echo: mTLS, checks caller ID,
//	                                                               answers cluster/pod/version/peer
//
// Echo pods also answer HTTP/1.1 on the same mTLS port (a proxy such as the
// real Envoy gateway in front of them): the Reply as JSON, and the headers
// x-echo-fail (first attempts of a key get 500: retries) and x-echo-delay
// (timeouts) steer the answer.
//
// External is a service outside the mesh (the egress gateway's
// destination): plain HTTP and HTTPS with a certificate of a CA of its
// own, no SVIDs; it records every request (TLS, SNI, Host) and every
// failed TLS handshake.
//
// Sockets are opened inside the caller's network namespace (netlab.Dialer).
package workload
