package convert

import (
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// unixAddressPrefix marks a server bind to a unix domain socket.
const unixAddressPrefix = "unix://"

// Gateway validates and converts an Istio Gateway.
func Gateway(g *networkingv1.Gateway) (model.Gateway, []error) {
	fe := newFieldErrs(model.KindGateway, &g.ObjectMeta)
	validateGateway(fe, g)
	if len(fe.list) > 0 {
		return model.Gateway{}, fe.list
	}
	out := model.Gateway{Meta: meta(&g.ObjectMeta), Selector: cloneMap(g.Spec.GetSelector())}
	for _, s := range g.Spec.GetServers() {
		p, _ := protocolOf(s.GetPort().GetProtocol())
		out.Servers = append(out.Servers, model.Server{
			Port: model.Port{
				Number:     s.GetPort().GetNumber(),
				Protocol:   p,
				Name:       s.GetPort().GetName(),
				TargetPort: s.GetPort().GetTargetPort(), //nolint:staticcheck // rejected by validation; kept for symmetry
			},
			Bind:  s.GetBind(),
			Hosts: cloneSlice(s.GetHosts()),
			TLS:   serverTLS(s.GetTls()),
			Name:  s.GetName(),
		})
	}
	return out, nil
}

func serverTLS(t *networking.ServerTLSSettings) *model.ServerTLS {
	if t == nil {
		return nil
	}
	out := &model.ServerTLS{
		HTTPSRedirect:         t.GetHttpsRedirect(),
		ServerCertificate:     t.GetServerCertificate(),
		PrivateKey:            t.GetPrivateKey(),
		CACertificates:        t.GetCaCertificates(),
		CACRL:                 t.GetCaCrl(),
		CredentialName:        t.GetCredentialName(),
		CredentialNames:       cloneSlice(t.GetCredentialNames()),
		SubjectAltNames:       cloneSlice(t.GetSubjectAltNames()),
		VerifyCertificateSPKI: cloneSlice(t.GetVerifyCertificateSpki()),
		VerifyCertificateHash: cloneSlice(t.GetVerifyCertificateHash()),
		CipherSuites:          cloneSlice(t.GetCipherSuites()),
	}
	// The enums' zero values (PASSTHROUGH, TLS_AUTO) stay "", as in the model.
	if t.GetMode() != networking.ServerTLSSettings_PASSTHROUGH {
		out.Mode = model.TLSMode(t.GetMode().String())
	}
	if v := t.GetMinProtocolVersion(); v != networking.ServerTLSSettings_TLS_AUTO {
		out.MinProtocolVersion = v.String()
	}
	if v := t.GetMaxProtocolVersion(); v != networking.ServerTLSSettings_TLS_AUTO {
		out.MaxProtocolVersion = v.String()
	}
	return out
}

func validateGateway(fe *fieldErrs, g *networkingv1.Gateway) {
	if !isDNS1123Label(g.Name) {
		fe.add("metadata.name", "invalid gateway name %q: must be a DNS-1123 label", g.Name)
	}
	servers := g.Spec.GetServers()
	if len(servers) == 0 {
		fe.add("spec.servers", "a gateway must have at least one server")
	}
	portNames := map[string]int{}
	for i, s := range servers {
		f := idx("spec.servers", i)
		if s == nil {
			fe.add(f, "server may not be null")
			continue
		}
		validateServer(fe, f, s)
		if name := s.GetPort().GetName(); name != "" {
			if j, dup := portNames[name]; dup {
				fe.add(f+".port.name", "duplicate port name %q (also used by spec.servers[%d]): port names must be unique across servers", name, j)
			} else {
				portNames[name] = i
			}
		}
	}
}

func validateServer(fe *fieldErrs, f string, s *networking.Server) {
	if len(s.Hosts) == 0 {
		fe.add(f+".hosts", "a server must have at least one host")
	}
	for j, h := range s.Hosts {
		fe.addErr(idx(f+".hosts", j), validateGatewayHost(h))
	}
	portOK := validateServerPort(fe, f, s.Port, s.Bind)
	validateBind(fe, f, s)
	validateServerTLS(fe, f+".tls", s.Tls)
	if !portOK {
		return
	}
	p, _ := protocolOf(s.Port.Protocol)
	isTLS := p == model.ProtocolHTTPS || p == model.ProtocolTLS
	switch {
	case isTLS && s.Tls == nil:
		fe.add(f+".tls", "a server with protocol %s must have TLS settings", p)
	case !isTLS && s.Tls != nil && p.IsHTTP():
		t := s.Tls
		if t.Mode != networking.ServerTLSSettings_PASSTHROUGH || t.CaCertificates != "" || t.PrivateKey != "" || t.ServerCertificate != "" {
			fe.add(f+".tls", "a plain-text %s server can only have tls.httpsRedirect", p)
		}
	case !isTLS && s.Tls != nil:
		fe.add(f+".tls", "a server with protocol %s cannot have TLS settings (only HTTPS and TLS servers can)", p)
	}
}

// validateServerPort reports whether the port is usable for further checks.
func validateServerPort(fe *fieldErrs, f string, port *networking.Port, bind string) bool {
	if port == nil {
		fe.add(f+".port", "port is required")
		return false
	}
	ok := true
	switch {
	case port.Number == 0 && strings.HasPrefix(bind, unixAddressPrefix):
	case port.Number == 0:
		fe.add(f+".port.number", "port number is required")
	default:
		fe.addErr(f+".port.number", validatePort(port.Number))
	}
	switch _, known := protocolOf(port.Protocol); {
	case port.Protocol == "":
		fe.add(f+".port.protocol", "protocol is required (one of %s)", supportedProtocols)
		ok = false
	case !known:
		fe.add(f+".port.protocol", "unsupported protocol %q (supported: %s)", port.Protocol, supportedProtocols)
		ok = false
	}
	if port.Name == "" {
		fe.add(f+".port.name", "port name is required")
	}
	//nolint:staticcheck // TargetPort is deprecated; we reject it as Istio does.
	if port.TargetPort > 0 {
		fe.add(f+".port.targetPort", "targetPort is not allowed in a Gateway server (Istio rejects it: it has no effect on gateways)")
	}
	return ok
}

func validateBind(fe *fieldErrs, f string, s *networking.Server) {
	if s.Bind == "" {
		return
	}
	if path, ok := strings.CutPrefix(s.Bind, unixAddressPrefix); ok {
		if !strings.HasPrefix(path, "@") && (!strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/")) {
			fe.add(f+".bind", "%q is not an absolute path to a unix socket", s.Bind)
		}
		if s.Port.GetNumber() != 0 {
			fe.add(f+".port.number", "port number must be 0 for a unix domain socket bind")
		}
		return
	}
	if !isIP(s.Bind) {
		fe.add(f+".bind", "%q is not a valid IP address", s.Bind)
	}
}

// validateServerTLS follows Istio's validateTLSOptions (f is "...tls").
func validateServerTLS(fe *fieldErrs, f string, t *networking.ServerTLSSettings) {
	if t == nil {
		return
	}
	if len(t.TlsCertificates) > 0 {
		fe.add(f+".tlsCertificates", "tlsCertificates is not supported yet: use credentialName or serverCertificate/privateKey")
	}
	if t.Mode == networking.ServerTLSSettings_ISTIO_MUTUAL {
		for _, c := range []struct {
			set   bool
			field string
		}{
			{t.ServerCertificate != "", "serverCertificate"},
			{t.PrivateKey != "", "privateKey"},
			{t.CaCertificates != "", "caCertificates"},
			{t.CredentialName != "", "credentialName"},
			{len(t.CredentialNames) > 0, "credentialNames"},
		} {
			if c.set {
				fe.add(f+"."+c.field, "ISTIO_MUTUAL TLS cannot have %s (it uses the mesh certificates)", c.field)
			}
		}
		return
	}
	sources := 0
	for _, set := range []bool{t.ServerCertificate != "" && t.PrivateKey != "", t.CredentialName != "", len(t.CredentialNames) > 0, len(t.TlsCertificates) > 0} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		fe.add(f, "only one of credentialName, credentialNames, serverCertificate/privateKey and tlsCertificates may be set")
	}
	terminating := t.Mode == networking.ServerTLSSettings_SIMPLE || t.Mode == networking.ServerTLSSettings_MUTUAL ||
		t.Mode == networking.ServerTLSSettings_OPTIONAL_MUTUAL
	hasCredential := t.CredentialName != "" || len(t.CredentialNames) > 0
	if terminating && !hasCredential && len(t.TlsCertificates) == 0 {
		mode := t.Mode.String()
		if t.Mode != networking.ServerTLSSettings_SIMPLE && t.CaCertificates == "" {
			fe.add(f+".caCertificates", "%s TLS requires caCertificates (a client CA bundle) or credentialName", mode)
		}
		if t.ServerCertificate == "" {
			fe.add(f+".serverCertificate", "%s TLS requires serverCertificate and privateKey, or credentialName", mode)
		}
		if t.PrivateKey == "" {
			fe.add(f+".privateKey", "%s TLS requires serverCertificate and privateKey, or credentialName", mode)
		}
	}
	if t.CaCrl != "" {
		if t.CredentialName != "" {
			fe.add(f+".caCrl", "caCrl is not supported with credentialName: put the CRL in the credential")
		}
		if t.Mode == networking.ServerTLSSettings_SIMPLE {
			fe.add(f+".caCrl", "caCrl is not supported with SIMPLE TLS")
		}
	}
}
