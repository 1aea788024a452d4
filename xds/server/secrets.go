package server

import (
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Names of the identity secrets, as Istio's agent serves them over SDS.
const (
	SecretDefault = "default" // the workload's certificate chain and key
	SecretRootCA  = "ROOTCA"  // the trust bundle (validation context)
)

// SecretProvider supplies the identity secrets of a node: Istio's "default"
// (its SVID) and "ROOTCA" (the trust bundle). meshgate's identity package
// implements it; the server adds its secrets to every group's SDS resources.
//
// IdentitySecrets is called from the rebuild goroutine (never concurrently
// with itself) and should return quickly from cached material. An error keeps
// the group's last good configuration. When material changes (rotation, new
// trust bundle), the provider's owner calls Server.SecretsChanged.
type SecretProvider interface {
	IdentitySecrets(n Node) ([]*tlsv3.Secret, error)
}
