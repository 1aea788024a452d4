package meshlab

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/netip"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// The Envoy egress gateway (Options.EgressCluster, with Options.Envoy), in
// the style of Istio's "Egress gateways" and "Egress gateway with TLS
// origination" tasks. A service outside the mesh, ExternalHost, is an
// HTTP and an HTTPS server (a CA of its own, not the mesh's) on the node
// address of Options.ExternalCluster, a public address of another network
// (there is no DNS in the namespaces: a ServiceEntry with resolution STATIC
// names that address). The egress gateway is an Envoy on a pod address of
// its cluster (EgressIP: reachable only from inside that network, like a
// pod), labelled istio=egressgateway as Istio's; its Gateway servers bind
// that address:
//
//	EgressHTTPPort      HTTP           → ExternalHost:80, plain HTTP
//	EgressOriginatePort HTTP           → ExternalHost:443, TLS originated by the gateway
//	                                     (DestinationRule SIMPLE, sni, credentialName CA over SDS)
//	EgressMutualPort    HTTPS ISTIO_MUTUAL (the client proves an SVID) → ExternalHost:443, originated
//
// ExternalWrongCAHost is the same server behind a DestinationRule whose
// credentialName holds another CA: the gateway must refuse the server's
// certificate.
const (
	EgressGatewaySA     = "istio-egressgateway"
	ExternalHost        = "external.example.com"
	ExternalWrongCAHost = "wrong-ca.example.com"
	ExternalHTTPPort    = 80
	ExternalHTTPSPort   = 443
	EgressHTTPPort      = 80
	EgressOriginatePort = 8081
	EgressMutualPort    = 443
	externalCACred      = "external-ca"
	// ExternalWrongCACred is the credentialName Secret of
	// ExternalWrongCAHost's DestinationRule (CASecret rewrites it).
	ExternalWrongCACred = "external-wrong-ca"
)

// setupEgress starts the external service and writes the egress objects
// into the egress cluster: ServiceEntries, the egress Gateway, its
// VirtualServices and DestinationRules, and the CA Secrets. The egress
// gateway's address is a new pod address of its cluster.
func (m *Mesh) setupEgress(ctx context.Context) error {
	c, ext := m.Cluster(m.Opts.EgressCluster), m.Cluster(m.Opts.ExternalCluster)
	if c == nil || ext == nil || c == ext {
		return fmt.Errorf("egress cluster %q and external cluster %q must be two clusters of the mesh", m.Opts.EgressCluster, m.Opts.ExternalCluster)
	}
	if m.Opts.Envoy == "" {
		return fmt.Errorf("the egress gateway is an Envoy: Options.Envoy is not set")
	}
	var err error
	if m.ExternalPKI, err = newOutsidePKI("external.example"); err != nil {
		return err
	}
	wrong, err := newOutsidePKI("wrong.example")
	if err != nil {
		return err
	}
	certPEM, keyPEM, err := m.ExternalPKI.Issue("external", ExternalHost)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	if m.External, err = workload.StartExternal(workload.ExternalConfig{Net: ext.Net, Name: ExternalHost,
		HTTP:  netip.AddrPortFrom(ext.Net.NodeIP, ExternalHTTPPort),
		HTTPS: netip.AddrPortFrom(ext.Net.NodeIP, ExternalHTTPSPort), Cert: cert}); err != nil {
		return err
	}
	if c.EgressIP, err = c.Net.AddPod(); err != nil {
		return err
	}
	c.mu.Lock()
	c.extra = append(c.extra, egressObjects(c.EgressIP, ext.Net.NodeIP, m.ExternalPKI, wrong))
	c.mu.Unlock()
	return c.Publish(ctx)
}

func egressObjects(egress, external netip.Addr, ca, wrong *IngressPKI) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: %[1]s}
spec:
  hosts: [%[2]s]
  location: MESH_EXTERNAL
  ports:
  - {number: %[4]d, name: http, protocol: HTTP}
  - {number: %[5]d, name: https, protocol: HTTPS}
  resolution: STATIC
  endpoints: [{address: %[6]s}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-wrong-ca, namespace: %[1]s}
spec:
  hosts: [%[3]s]
  location: MESH_EXTERNAL
  ports:
  - {number: %[5]d, name: https, protocol: HTTPS}
  resolution: STATIC
  endpoints: [{address: %[6]s}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: %[1]s}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: %[8]d, name: http, protocol: HTTP}
    bind: %[7]s
    hosts: [%[2]s]
  - port: {number: %[9]d, name: http-tls-origination, protocol: HTTP}
    bind: %[7]s
    hosts: [%[2]s, %[3]s]
  - port: {number: %[10]d, name: https-istio-mutual, protocol: HTTPS}
    bind: %[7]s
    hosts: [%[2]s]
    tls: {mode: ISTIO_MUTUAL}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: external-through-egress-gateway, namespace: %[1]s}
spec:
  hosts: [%[2]s]
  gateways: [istio-egressgateway]
  http:
  - match: [{port: %[8]d}]
    route: [{destination: {host: %[2]s, port: {number: %[4]d}}}]
  - match: [{port: %[9]d}]
    route: [{destination: {host: %[2]s, port: {number: %[5]d}}}]
  - match: [{port: %[10]d}]
    route: [{destination: {host: %[2]s, port: {number: %[5]d}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wrong-ca-through-egress-gateway, namespace: %[1]s}
spec:
  hosts: [%[3]s]
  gateways: [istio-egressgateway]
  http:
  - route: [{destination: {host: %[3]s, port: {number: %[5]d}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-tls-for-external, namespace: %[1]s}
spec:
  host: %[2]s
  trafficPolicy:
    portLevelSettings:
    - port: {number: %[5]d}
      tls: {mode: SIMPLE, sni: %[2]s, credentialName: %[11]s}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: originate-tls-with-wrong-ca, namespace: %[1]s}
spec:
  host: %[3]s
  trafficPolicy:
    tls: {mode: SIMPLE, sni: %[2]s, credentialName: %[12]s}
---
`, SystemNS, ExternalHost, ExternalWrongCAHost, ExternalHTTPPort, ExternalHTTPSPort, external, egress,
		EgressHTTPPort, EgressOriginatePort, EgressMutualPort, externalCACred, ExternalWrongCACred) +
		CASecret(externalCACred, ca) + "---\n" + CASecret(ExternalWrongCACred, wrong)
}

// CASecret is a credentialName Secret of the gateways' namespace holding
// only the CA certificates (ca.crt) of p: what a DestinationRule's SIMPLE
// TLS origination verifies the server with.
func CASecret(name string, p *IngressPKI) string {
	pem := base64.StdEncoding.EncodeToString(identity.EncodeCertificatesPEM(p.CA.Bundle().X509Authorities()))
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: %s, namespace: %s}
type: Opaque
data: {ca.crt: %s}
`, name, SystemNS, pem)
}
