// Package dataplane is meshgate's built-in L4 gateway: a small data plane
// that speaks xDS like Envoy and serves the east-west (AUTO_PASSTHROUGH) and
// TCP/TLS passthrough configuration the daemon generates, for users who want
// the east-west hop without Envoy, and for the end-to-end tests.
//
//	control plane ──ADS (LDS, CDS, EDS, SDS)──▶ Gateway ── validate whole response ─▶ ACK + apply
//	                                                     └─ unsupported / invalid ──▶ NACK, keep old
//
//	client ─▶ listener ─▶ tls_inspector (peek SNI/ALPN) ─▶ filter-chain match ─▶ [TLS termination]
//	          ─▶ tcp_proxy ─▶ cluster ─▶ lb (WRR, outlier ejection) ─▶ [TLS origination] ─▶ endpoint
//
// Supported: TCP listeners with envoy.filters.listener.tls_inspector; filter
// chain matching like Envoy (destination port and prefix, server_names exact
// and "*." wildcards, transport_protocol, application_protocols, source
// criteria, default_filter_chain); the envoy.filters.network.tcp_proxy
// filter (cluster or weighted_clusters, idle_timeout, max_connect_attempts,
// max_downstream_connection_duration); EDS, STATIC and DNS clusters with
// ROUND_ROBIN, LEAST_REQUEST and RANDOM, locality and endpoint weights,
// priorities, outlier detection (consecutive failures, success rate,
// failure percentage, over connects), max_connections;
// UpstreamTlsContext (also through transport_socket_matches on endpoint
// metadata) and DownstreamTlsContext with certificates and validation
// contexts inline or from SDS over the same ADS stream. Anything else is
// NACKed with an error naming the resource and the field.
//
// Config updates never cut established connections: a removed or changed
// listener (or filter chain) stops taking new connections and its
// connections drain until they close or Config.DrainTimeout passes; cluster
// and endpoint changes apply to new connections. While the control plane is
// unreachable the last applied config keeps serving.
//
// Deliberate differences from Envoy: upstream connects are retried
// (Config.ConnectAttempts, default 3) when tcp_proxy sets no
// max_connect_attempts; outlier detection is on with Envoy's defaults even
// without outlier_detection, counts connects (the gateway is L4), and runs
// the success-rate and failure-percentage algorithms at the first connect
// after each interval instead of on a timer;
// locality weights apply whenever EDS sets them; LEAST_REQUEST scans all
// endpoints instead of sampling two; unhealthy endpoints are never used
// (no panic mode for them, only for ejected ones); clusters do not warm
// (an EDS cluster has no endpoints until its EDS arrives); circuit breakers
// other than max_connections are ignored, and max_connections has no
// default (Envoy's is 1024); DNS clusters resolve at each connect with Go's
// resolver (typed_dns_resolver_config is accepted and not used); a
// listener's max_connections_to_accept_per_socket_event is accepted and not
// used (each accept loop takes one connection per call anyway); files
// named in DataSources are read when the resource is accepted, not watched;
// TLS versions default to Go's (1.2–1.3); a version the control plane
// re-sends after a NACK is NACKed again only after a growing delay; no delta xDS.
//
// Identity: with Config.Identity the gateway proves itself to the daemon's
// secure port: Run first obtains an SVID from the daemon's CA
// (identity/caclient: CSR + projected token), renews it at half life, and
// runs ADS over TLS with the SVID as client certificate (each reconnect
// presents the current one). Without it ADS is plaintext (a daemon on
// loopback) or uses Config.XDSTLS.
//
// Replicas: Config.XDSAddress may list several addresses (replicas of the
// daemon where no Service is in front of them). One is used at a time; a
// stream that ends moves at once to the next, which is asked for the
// versions the gateway holds (a daemon whose translation gives the same
// versions sends no listener or cluster again); only when every address
// failed in a row does the gateway back off. Metrics xds_server{address}
// (1: in use) and xds_failovers_total.
//
// Lifecycle: New validates the Config; Run(ctx) is the whole life of the
// gateway. It binds the admin server, runs the ADS client (one goroutine,
// reconnecting with backoff) and the listeners it is given (an accept loop
// per listener, a goroutine per connection), and when ctx ends closes the
// listeners, lets connections finish for up to Config.ShutdownTimeout and
// returns once every goroutine it started has returned. Started is closed
// when the admin address is bound (AdminAddr), Ready when the first
// listeners and clusters are applied. A refusal by the control plane
// (InvalidArgument: the node; PermissionDenied: the identity) is not
// retried at once: without any configuration Run returns it (the process
// exits with the reason); with one the gateway keeps serving it and asks
// again every ReconnectMax. Responses up to Config.MaxMessageBytes (256 MiB)
// are accepted.
//
// The admin server serves /metrics (Prometheus, meshgate_gateway_*),
// /healthz, /ready and /config_dump (Envoy's ConfigDump in protojson, with
// sensitive fields redacted).
//
// Never imports: k8s.io/client-go/..., ./discovery/... and ./federation/....
package dataplane
