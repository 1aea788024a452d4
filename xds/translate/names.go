package translate

import (
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/sni"
)

// Names that must match Istio exactly come from the sni package.

// clusterName is "outbound|<port>|<subset>|<host>".
func clusterName(port uint32, subset, host string) string {
	return sni.Name{Port: port, Subset: subset, Host: host}.ClusterName()
}

// sniName is "outbound_.<port>_.<subset>_.<host>", the SNI and the SNI-DNAT cluster name.
func sniName(port uint32, subset, host string) string {
	return sni.Name{Port: port, Subset: subset, Host: host}.SNI()
}

// ALPN values of mesh mTLS.
var (
	// istioMTLSALPNs are what an east-west gateway filter chain matches on.
	istioMTLSALPNs = sni.EastWestALPN()
	// upstreamMTLSALPNs are what a gateway offers when it originates mesh mTLS.
	upstreamMTLSALPNs = sni.MeshMTLSUpstreamALPN()
	// alpnHTTP is offered by TLS-terminating HTTPS listeners.
	alpnHTTP = []string{"h2", "http/1.1"}
)

// SDS secret names.
const (
	// SecretDefault is the gateway's own SVID (cert chain + key).
	SecretDefault = identity.SecretDefault
	// SecretRootCA is the mesh trust bundle.
	SecretRootCA = identity.SecretRootCA
	// credentialPrefix prefixes credentialName secrets.
	credentialPrefix = "kubernetes://"
	// caSuffix names the CA part of a MUTUAL credential.
	caSuffix = "-cacert"
)

func listenerName(bind string, port uint32) string { return bind + "_" + u32s(port) }
