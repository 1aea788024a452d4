// Package agent is meshgate's small pilot-agent for Envoy gateway pods: it
// proves the pod's identity to the daemon's CA with the projected
// service-account token, obtains and renews the pod's SVID (identity/caclient),
// and hands it to Envoy over SDS on a Unix socket, the way Istio's
// pilot-agent does. Envoy's bootstrap (meshgate bootstrap --sds-socket)
// takes its xDS client certificate ("default") and the mesh root it
// verifies the daemon with ("ROOTCA") from that socket.
//
//	token file ──▶ caclient (CreateCertificate, renew at half life) ──▶ LinearCache{default, ROOTCA}
//	                                                                      │ go-control-plane SDS server
//	Envoy ◀──────────── SDS over unix:///etc/istio/proxy/XDS ◀───────────┘
//	  └─ xds-grpc cluster: TLS (default as client cert, ROOTCA + SAN check) ──▶ daemon :15012
//
// Why SDS over a socket rather than watched files: the private key never
// touches the disk, a renewed SVID reaches Envoy at once (no reliance on
// Envoy's file watches and symlink swaps), and it is the contract Istio's
// proxies already have with pilot-agent.
//
// The socket is created mode 0600 for the agent's user (Envoy runs as the
// same user in the pod). Secrets other than default and ROOTCA are not
// served (a request for them waits, as with pilot-agent). Private keys are
// never logged.
//
// Never imports: k8s.io/client-go/..., ./discovery/... and ./federation/....
package agent
