// Package tlsinspect reads the SNI and ALPN of a TLS ClientHello without
// terminating TLS, like Envoy's envoy.filters.listener.tls_inspector.
//
//	accepted conn ─▶ Inspect ─▶ Hello{TLS, ServerName, ALPN} + Conn (replays the peeked bytes)
//	                                  └─▶ filter-chain match ─▶ tcp_proxy (bytes go upstream unchanged)
//
// The ClientHello is parsed by crypto/tls itself (a server handshake whose
// GetConfigForClient hook records the hello and aborts), over a connection
// that records every byte read and discards every byte written, so the
// client sees nothing and the recorded bytes are replayed upstream.
package tlsinspect
