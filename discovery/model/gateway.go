package model

import "strings"

// Gateway is an Istio networking Gateway.
type Gateway struct {
	Meta
	Selector map[string]string `json:"selector,omitempty"`
	Servers  []Server          `json:"servers"`
}

// Server is one server of a Gateway.
type Server struct {
	Port  Port       `json:"port"`
	Bind  string     `json:"bind,omitempty"`
	Hosts []string   `json:"hosts"`
	TLS   *ServerTLS `json:"tls,omitempty"`
	Name  string     `json:"name,omitempty"`
}

// Port is a Gateway server port.
type Port struct {
	Number   uint32   `json:"number"`
	Protocol Protocol `json:"protocol"`
	Name     string   `json:"name"`
	// TargetPort is rejected by validation (Istio rejects it too); kept so the
	// error can name it.
	TargetPort uint32 `json:"targetPort,omitempty"`
}

// Protocol is an Istio port protocol, upper case.
type Protocol string

// Protocols of gateway servers and service ports.
const (
	ProtocolHTTP    Protocol = "HTTP"
	ProtocolHTTPS   Protocol = "HTTPS"
	ProtocolHTTP2   Protocol = "HTTP2"
	ProtocolGRPC    Protocol = "GRPC"
	ProtocolGRPCWeb Protocol = "GRPC-WEB"
	ProtocolTCP     Protocol = "TCP"
	ProtocolTLS     Protocol = "TLS"
	ProtocolMongo   Protocol = "MONGO"
	ProtocolMySQL   Protocol = "MYSQL"
	ProtocolRedis   Protocol = "REDIS"
	ProtocolUDP     Protocol = "UDP"
	ProtocolUnknown Protocol = ""
)

// IsHTTP reports protocols served by an HTTP connection manager (before TLS).
func (p Protocol) IsHTTP() bool {
	switch p {
	case ProtocolHTTP, ProtocolHTTP2, ProtocolGRPC, ProtocolGRPCWeb:
		return true
	}
	return false
}

// IsTCP reports protocols carried as opaque TCP (tcp_proxy), TLS excluded.
func (p Protocol) IsTCP() bool {
	switch p {
	case ProtocolTCP, ProtocolMongo, ProtocolMySQL, ProtocolRedis:
		return true
	}
	return false
}

// TLSMode is a server (downstream) TLS mode.
type TLSMode string

// Server TLS modes.
const (
	TLSPassthrough     TLSMode = "PASSTHROUGH"
	TLSSimple          TLSMode = "SIMPLE"
	TLSMutual          TLSMode = "MUTUAL"
	TLSAutoPassthrough TLSMode = "AUTO_PASSTHROUGH"
	TLSIstioMutual     TLSMode = "ISTIO_MUTUAL"
	TLSOptionalMutual  TLSMode = "OPTIONAL_MUTUAL"
)

// ServerTLS is a Gateway server's TLS settings.
type ServerTLS struct {
	HTTPSRedirect         bool     `json:"httpsRedirect,omitempty"`
	Mode                  TLSMode  `json:"mode,omitempty"` // "" means PASSTHROUGH, as in Istio's enum zero value
	ServerCertificate     string   `json:"serverCertificate,omitempty"`
	PrivateKey            string   `json:"privateKey,omitempty"`
	CACertificates        string   `json:"caCertificates,omitempty"`
	CACRL                 string   `json:"caCrl,omitempty"`
	CredentialName        string   `json:"credentialName,omitempty"`
	CredentialNames       []string `json:"credentialNames,omitempty"`
	SubjectAltNames       []string `json:"subjectAltNames,omitempty"`
	VerifyCertificateSPKI []string `json:"verifyCertificateSpki,omitempty"`
	VerifyCertificateHash []string `json:"verifyCertificateHash,omitempty"`
	MinProtocolVersion    string   `json:"minProtocolVersion,omitempty"` // TLS_AUTO, TLSV1_0 .. TLSV1_3
	MaxProtocolVersion    string   `json:"maxProtocolVersion,omitempty"`
	CipherSuites          []string `json:"cipherSuites,omitempty"`
}

// EffectiveMode returns the mode, defaulting the zero value to PASSTHROUGH.
func (t *ServerTLS) EffectiveMode() TLSMode {
	if t == nil || t.Mode == "" {
		return TLSPassthrough
	}
	return t.Mode
}

// Terminates reports whether a server with these settings terminates TLS.
func (t *ServerTLS) Terminates() bool {
	switch t.EffectiveMode() {
	case TLSSimple, TLSMutual, TLSIstioMutual, TLSOptionalMutual:
		return true
	}
	return false
}

// GatewayCredentialPrefix starts the credentialName of a Gateway API
// certificateRef, "kubernetes-gateway://<namespace>/<name>" (istiod's name,
// also its SDS resource name): unlike a plain credentialName, it names the
// Secret's namespace, which the conversion allowed (ReferenceGrant).
const GatewayCredentialPrefix = "kubernetes-gateway://"

// BuiltinCredential is the credentialName of the proxy's own workload
// certificate (istiod's builtin://): a server or client presents its SPIFFE
// identity, and validates peers (MUTUAL) with the mesh's roots.
const BuiltinCredential = "builtin://"

// GatewayCredential is the credentialName of Secret namespace/name.
func GatewayCredential(namespace, name string) string {
	return GatewayCredentialPrefix + namespace + "/" + name
}

// ParseGatewayCredential splits a GatewayCredential; ok is false for any
// other credentialName.
func ParseGatewayCredential(credentialName string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(credentialName, GatewayCredentialPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, "/")
	return namespace, name, ok && namespace != "" && name != ""
}
