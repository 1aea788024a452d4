package translate

// Names that must match Istio exactly. Cluster names and SNI values are built
// here until the sni package is wired in.

// clusterName is "outbound|<port>|<subset>|<host>".
func clusterName(port uint32, subset, host string) string {
	return "outbound|" + u32s(port) + "|" + subset + "|" + host
}

// sniName is "outbound_.<port>_.<subset>_.<host>", the SNI and the SNI-DNAT cluster name.
func sniName(port uint32, subset, host string) string {
	return "outbound_." + u32s(port) + "_." + subset + "_." + host
}

// ALPN values of mesh mTLS.
var (
	// istioMTLSALPNs are what an east-west gateway filter chain matches on.
	istioMTLSALPNs = []string{"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"}
	// upstreamMTLSALPNs are what a gateway offers when it originates mesh mTLS.
	upstreamMTLSALPNs = []string{"istio-peer-exchange", "istio"}
	// alpnHTTP is offered by TLS-terminating HTTPS listeners.
	alpnHTTP = []string{"h2", "http/1.1"}
)

// SDS secret names.
const (
	// SecretDefault is the gateway's own SVID (cert chain + key).
	SecretDefault = "default"
	// SecretRootCA is the mesh trust bundle.
	SecretRootCA = "ROOTCA"
	// credentialPrefix prefixes credentialName secrets.
	credentialPrefix = "kubernetes://"
	// caSuffix names the CA part of a MUTUAL credential.
	caSuffix = "-cacert"
)

func listenerName(bind string, port uint32) string { return bind + "_" + u32s(port) }
