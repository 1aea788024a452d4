package sni

// ALPN protocol names Istio uses for mesh mTLS.
const (
	// ALPNIstio is the generic Istio mTLS protocol.
	ALPNIstio = "istio"
	// ALPNPeerExchange announces Istio's metadata (peer) exchange filter.
	ALPNPeerExchange = "istio-peer-exchange"
	// ALPNHTTP10 is HTTP/1.0 carried over Istio mTLS.
	ALPNHTTP10 = "istio-http/1.0"
	// ALPNHTTP11 is HTTP/1.1 carried over Istio mTLS.
	ALPNHTTP11 = "istio-http/1.1"
	// ALPNH2 is HTTP/2 carried over Istio mTLS.
	ALPNH2 = "istio-h2"
)

// EastWestALPN returns the application_protocols an east-west gateway
// (AUTO_PASSTHROUGH) filter chain matches, in Istio's order: istio,
// istio-peer-exchange, istio-http/1.0, istio-http/1.1, istio-h2.
// Each call returns a new slice the caller may keep or modify.
func EastWestALPN() []string {
	return []string{ALPNIstio, ALPNPeerExchange, ALPNHTTP10, ALPNHTTP11, ALPNH2}
}

// MeshMTLSUpstreamALPN returns the ALPN list of a gateway's upstream mesh
// mTLS transport socket (auto mTLS to tlsMode=istio endpoints), in Istio's
// order: istio-peer-exchange, istio. Each call returns a new slice.
func MeshMTLSUpstreamALPN() []string {
	return []string{ALPNPeerExchange, ALPNIstio}
}

// IsMeshALPN reports whether proto is one of the Istio mTLS ALPN values.
func IsMeshALPN(proto string) bool {
	switch proto {
	case ALPNIstio, ALPNPeerExchange, ALPNHTTP10, ALPNHTTP11, ALPNH2:
		return true
	}
	return false
}
