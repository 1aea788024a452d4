package convert

import (
	"reflect"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

func TestGatewayConversion(t *testing.T) {
	g := gw(t, `
selector: {istio: ingressgateway}
servers:
- port: {number: 80, name: http, protocol: http}
  hosts: ["ns1/*", "./a.example.com"]
  tls: {httpsRedirect: true}
- port: {number: 443, name: https, protocol: HTTPS}
  bind: 10.0.0.1
  name: secure
  hosts: ["*.example.com"]
  tls:
    mode: MUTUAL
    credentialName: cred
    subjectAltNames: [client.example.com]
    verifyCertificateSpki: [spki]
    verifyCertificateHash: [hash]
    minProtocolVersion: TLSV1_2
    maxProtocolVersion: TLSV1_3
    cipherSuites: [ECDHE-RSA-AES256-GCM-SHA384]
- port: {number: 15443, name: tls, protocol: TLS}
  hosts: ["*.local"]
  tls: {mode: AUTO_PASSTHROUGH}
- port: {number: 8443, name: passthrough, protocol: TLS}
  hosts: [nginx.example.com]
  tls: {mode: PASSTHROUGH, minProtocolVersion: TLS_AUTO}
`)
	got, errs := Gateway(g)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := model.Gateway{
		Meta:     model.Meta{Name: "gw", Namespace: "istio-system"},
		Selector: map[string]string{"istio": "ingressgateway"},
		Servers: []model.Server{
			{Port: model.Port{Number: 80, Protocol: "HTTP", Name: "http"}, Hosts: []string{"ns1/*", "./a.example.com"},
				TLS: &model.ServerTLS{HTTPSRedirect: true}},
			{Port: model.Port{Number: 443, Protocol: "HTTPS", Name: "https"}, Bind: "10.0.0.1", Name: "secure", Hosts: []string{"*.example.com"},
				TLS: &model.ServerTLS{Mode: "MUTUAL", CredentialName: "cred", SubjectAltNames: []string{"client.example.com"},
					VerifyCertificateSPKI: []string{"spki"}, VerifyCertificateHash: []string{"hash"},
					MinProtocolVersion: "TLSV1_2", MaxProtocolVersion: "TLSV1_3", CipherSuites: []string{"ECDHE-RSA-AES256-GCM-SHA384"}}},
			{Port: model.Port{Number: 15443, Protocol: "TLS", Name: "tls"}, Hosts: []string{"*.local"}, TLS: &model.ServerTLS{Mode: "AUTO_PASSTHROUGH"}},
			{Port: model.Port{Number: 8443, Protocol: "TLS", Name: "passthrough"}, Hosts: []string{"nginx.example.com"}, TLS: &model.ServerTLS{}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Servers[3].TLS.EffectiveMode() != model.TLSPassthrough {
		t.Errorf("zero mode must read as PASSTHROUGH")
	}
}

func TestGatewayValidation(t *testing.T) {
	const hosts = `hosts: [a.example.com]`
	tests := []struct {
		name  string
		spec  string
		field string
	}{
		{"no servers", `selector: {istio: x}`, "spec.servers"},
		{"no hosts", `servers: [{port: {number: 80, name: http, protocol: HTTP}}]`, "spec.servers[0].hosts"},
		{"invalid host bookinfo.*", `servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["bookinfo.*"]}]`, "spec.servers[0].hosts[0]"},
		{"partial wildcard", `servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*foo.com"]}]`, "spec.servers[0].hosts[0]"},
		{"short name", `servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["reviews"]}]`, "spec.servers[0].hosts[0]"},
		{"bad namespace", `servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["Bad_NS/a.com"]}]`, "spec.servers[0].hosts[0]"},
		{"empty dns part", `servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["ns/"]}]`, "spec.servers[0].hosts[0]"},
		{"upper case host", `servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["A.example.com"]}]`, "spec.servers[0].hosts[0]"},
		{"numeric tld", `servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["foo.123"]}]`, "spec.servers[0].hosts[0]"},
		{"no port", `servers: [{` + hosts + `}]`, "spec.servers[0].port"},
		{"no port number", `servers: [{port: {name: http, protocol: HTTP}, ` + hosts + `}]`, "spec.servers[0].port.number"},
		{"port number too big", `servers: [{port: {number: 70000, name: http, protocol: HTTP}, ` + hosts + `}]`, "spec.servers[0].port.number"},
		{"no protocol", `servers: [{port: {number: 80, name: http}, ` + hosts + `}]`, "spec.servers[0].port.protocol"},
		{"unknown protocol", `servers: [{port: {number: 80, name: http, protocol: SPDY}, ` + hosts + `}]`, "spec.servers[0].port.protocol"},
		{"no port name", `servers: [{port: {number: 80, protocol: HTTP}, ` + hosts + `}]`, "spec.servers[0].port.name"},
		{"targetPort", `servers: [{port: {number: 80, name: http, protocol: HTTP, targetPort: 8080}, ` + hosts + `}]`, "spec.servers[0].port.targetPort"},
		{"duplicate port names", `servers: [{port: {number: 80, name: web, protocol: HTTP}, ` + hosts + `}, {port: {number: 81, name: web, protocol: HTTP}, ` + hosts + `}]`, "spec.servers[1].port.name"},
		{"bad bind", `servers: [{port: {number: 80, name: http, protocol: HTTP}, bind: "not-an-ip", ` + hosts + `}]`, "spec.servers[0].bind"},
		{"HTTPS without tls", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `}]`, "spec.servers[0].tls"},
		{"TCP with tls", `servers: [{port: {number: 31400, name: tcp, protocol: TCP}, ` + hosts + `, tls: {mode: SIMPLE, credentialName: c}}]`, "spec.servers[0].tls"},
		{"HTTP with certificates", `servers: [{port: {number: 80, name: http, protocol: HTTP}, ` + hosts + `, tls: {serverCertificate: /c, privateKey: /k}}]`, "spec.servers[0].tls"},
		{"SIMPLE without certificate", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `, tls: {mode: SIMPLE, privateKey: /k}}]`, "spec.servers[0].tls.serverCertificate"},
		{"SIMPLE without key", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `, tls: {mode: SIMPLE, serverCertificate: /c}}]`, "spec.servers[0].tls.privateKey"},
		{"MUTUAL without CA", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `, tls: {mode: MUTUAL, serverCertificate: /c, privateKey: /k}}]`, "spec.servers[0].tls.caCertificates"},
		{"two certificate sources", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `, tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, credentialName: cred}}]`, "spec.servers[0].tls"},
		{"ISTIO_MUTUAL with credentialName", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `, tls: {mode: ISTIO_MUTUAL, credentialName: c}}]`, "spec.servers[0].tls.credentialName"},
		{"ISTIO_MUTUAL with CA", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `, tls: {mode: ISTIO_MUTUAL, caCertificates: /ca}}]`, "spec.servers[0].tls.caCertificates"},
		{"CRL with SIMPLE", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `, tls: {mode: SIMPLE, serverCertificate: /c, privateKey: /k, caCrl: /crl}}]`, "spec.servers[0].tls.caCrl"},
		{"tlsCertificates unsupported", `servers: [{port: {number: 443, name: https, protocol: HTTPS}, ` + hosts + `, tls: {mode: SIMPLE, tlsCertificates: [{serverCertificate: /c, privateKey: /k}]}}]`, "spec.servers[0].tls.tlsCertificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := Gateway(gw(t, tt.spec))
			assertOneFieldError(t, errs, model.Ref{Kind: model.KindGateway, Namespace: "istio-system", Name: "gw"}, tt.field)
		})
	}
}

func TestGatewayValidAccepted(t *testing.T) {
	for _, s := range []string{
		`servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: MUTUAL, credentialName: c}}]`,
		`servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["ns/*.example.com", "*/b.example.com", "./c.example.com"], tls: {mode: SIMPLE, credentialName: c}}]`,
		`servers: [{port: {number: 15443, name: tls, protocol: TLS}, hosts: ["*.local"], tls: {mode: AUTO_PASSTHROUGH}}]`,
		`servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["1.2.3.4"], tls: {mode: ISTIO_MUTUAL}}]`,
		`servers: [{port: {number: 0, name: uds, protocol: HTTP}, bind: "unix:///var/run/gw.sock", hosts: ["*"]}]`,
		`servers: [{port: {number: 80, name: a, protocol: HTTP}, hosts: [a.com]}, {port: {number: 80, name: b, protocol: HTTP}, hosts: [b.com]}]`,
	} {
		if _, errs := Gateway(gw(t, s)); len(errs) > 0 {
			t.Errorf("%s: %v", s, errs)
		}
	}
}
