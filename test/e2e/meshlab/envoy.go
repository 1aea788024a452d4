package meshlab

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

// The real Envoy gateways (Options.Envoy): in every cluster the east-west
// gateway is an Envoy (instead of the built-in one: both would serve the
// network's gateway address on :15443), and the ingress cluster runs an
// Envoy ingress gateway beside the built-in ingress, on the ingress address
// (its Gateway servers bind it): HTTP on EnvoyHTTPPort, HTTPS (SIMPLE, a
// credentialName Secret over SDS) on EnvoyHTTPSPort, HTTPS MUTUAL on
// EnvoyMTLSPort. Its routes are the tests' VirtualServices.
const (
	EnvoyIngressLabel = "istio=envoy-ingressgateway"
	EnvoyHTTPPort     = 8000
	EnvoyHTTPSPort    = 8443
	EnvoyMTLSPort     = 8444
	EnvoySecureHost   = "secure.example.com" // served on EnvoyHTTPSPort
	EnvoyMutualHost   = "mutual.example.com" // served on EnvoyMTLSPort
	envoyCred         = "envoy-ingress-cred"
	envoyMTLSCred     = "envoy-ingress-mtls-cred"
	// IngressGatewaySA is the ingress gateways' service account (echo pods
	// accept it).
	IngressGatewaySA = "istio-ingressgateway"
)

// EnvoyGateway is a real Envoy process of a cluster, bootstrapped like
// `meshgate bootstrap` (xds/server/bootstrap, node id and metadata of
// xds/node) and connected to the cluster's daemon over ADS. It runs inside
// the cluster's network namespace; its admin listener is on the node
// address, on a port Envoy picks (AdminURL).
type EnvoyGateway struct {
	*Proc
	Cluster *Cluster
	// AdminURL is http://<node address>:<port> of the admin listener,
	// known once Start returned.
	AdminURL  string
	adminPath string
}

// Admin is the envoytest view of the gateway's admin listener
// (/config_dump, /stats).
func (g *EnvoyGateway) Admin() *envoytest.Envoy { return &envoytest.Envoy{AdminURL: g.AdminURL} }

// envoyGateway writes the bootstrap of an Envoy gateway named name (pod
// name-0 in istio-system, service account sa) at address ip and returns
// its process, not started.
func (c *Cluster) envoyGateway(ctx context.Context, name, sa string, ip netip.Addr, labels map[string]string, routerMode string) (*EnvoyGateway, error) {
	id := node.ID{Type: node.TypeRouter, IP: ip.String(), Pod: name + "-0", Namespace: SystemNS, DomainSuffix: model.DefaultDomainSuffix}
	// The daemon's secure port, with the SVID of the gateway's service account.
	svid, err := c.Mesh.PKI.Issue(ctx, c.CACerts, SystemNS, sa, c.ID+"-"+SystemNS+"-"+sa)
	if err != nil {
		return nil, err
	}
	b, err := bootstrap.Envoy(bootstrap.Options{NodeID: id.String(), XDSAddress: c.gatewayXDSAddr(), Labels: labels,
		XDSCertDir: svid, XDSServerName: XDSServerName,
		Namespace: SystemNS, Network: c.Net.Name, ClusterID: c.ID,
		AdminAddress: netip.AddrPortFrom(c.Net.NodeIP, 1).String()})
	if err != nil {
		return nil, err
	}
	// bootstrap.Options has no service account or router mode: the node
	// metadata is written whole here, with the same package.
	md, err := node.Metadata{Labels: labels, Namespace: SystemNS, Network: c.Net.Name, ClusterID: c.ID,
		ServiceAccount: sa, RouterMode: routerMode}.Struct()
	if err != nil {
		return nil, err
	}
	b.Node.Metadata = md
	// Admin on a port Envoy picks and writes to --admin-address-path.
	b.Admin = &bootstrapv3.Admin{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: c.Net.NodeIP.String(), PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 0}}}}}
	j, err := bootstrap.Marshal(b, "json")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(c.Dir, name+".bootstrap.json")
	if err := os.WriteFile(cfg, j, 0o600); err != nil {
		return nil, err
	}
	adminPath := filepath.Join(c.Dir, name+".admin-address")
	argv := append(c.Net.Exec(), c.Mesh.Opts.Envoy, "-c", cfg, "--disable-hot-restart", "--concurrency", "1",
		"--admin-address-path", adminPath, "--log-level", "info",
		// Connections of a replaced listener drain quickly in tests.
		"--drain-time-s", "5")
	return &EnvoyGateway{Proc: &Proc{Name: c.ID + "/" + name, Argv: argv, LogPath: filepath.Join(c.Dir, name+".log")},
		Cluster: c, adminPath: adminPath}, nil
}

// Start starts (or restarts) Envoy and waits until it is ready: its admin
// address written, then /ready answering 200, which Envoy does once it has
// its first listeners and clusters from the daemon (bounded: 2 minutes).
func (g *EnvoyGateway) Start(ctx context.Context) error {
	_ = os.Remove(g.adminPath)
	if err := g.Proc.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for g.AdminURL = ""; g.AdminURL == ""; {
		if b, err := os.ReadFile(g.adminPath); err == nil && strings.TrimSpace(string(b)) != "" {
			g.AdminURL = "http://" + strings.TrimSpace(string(b))
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no admin address in %s: %v; log:\n%s", g.Name, g.adminPath, ctx.Err(), g.LogTail(30))
		case <-g.Exited():
			return fmt.Errorf("%s exited (%v) before its admin listener came up; log:\n%s", g.Name, g.ExitErr(), g.LogTail(30))
		case <-tick.C: // a file Envoy writes once
		}
	}
	return WaitHTTP(ctx, g.AdminURL+"/ready", g.Proc)
}

// IngressPKI is a CA outside the mesh: the Envoy ingress's north-south
// certificates (the server certificate of EnvoySecureHost and
// EnvoyMutualHost, and the client certificates MUTUAL requires), and the
// external service's of the egress gateway (Mesh.ExternalPKI).
type IngressPKI struct {
	CA *identity.CA
}

// newOutsidePKI makes a self-signed CA whose names are in trustDomain.
func newOutsidePKI(trustDomain string) (*IngressPKI, error) {
	td := spiffeid.RequireTrustDomainFromString(trustDomain)
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td, TTL: 24 * time.Hour}, identity.CAOptions{})
	if err != nil {
		return nil, err
	}
	return &IngressPKI{CA: ca}, nil
}

// Issue returns a certificate chain and key (PEM) for a client or server
// of the ingress, valid for dns.
func (p *IngressPKI) Issue(name string, dns ...string) (certPEM, keyPEM []byte, err error) {
	id := spiffeid.RequireFromPath(p.CA.Bundle().TrustDomain(), "/"+name)
	svid, err := p.CA.IssueX509SVID(id, identity.SVIDOptions{DNSNames: dns})
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = identity.EncodePrivateKeyPEM(svid.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return identity.EncodeCertificatesPEM(svid.Certificates), keyPEM, nil
}

// envoyIngressObjects are the Envoy ingress's Gateway (HTTP, HTTPS SIMPLE
// and MUTUAL servers bound to the ingress address) and its credentialName
// Secrets.
func envoyIngressObjects(c *Cluster, p *IngressPKI) (string, error) {
	cert, key, err := p.Issue("envoy-ingress", EnvoySecureHost, EnvoyMutualHost)
	if err != nil {
		return "", err
	}
	caPEM := identity.EncodeCertificatesPEM(p.CA.Bundle().X509Authorities())
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: envoy-ingress, namespace: %[1]s}
spec:
  selector: {istio: envoy-ingressgateway}
  servers:
  - port: {number: %[2]d, name: http, protocol: HTTP}
    bind: %[3]s
    hosts: ["*"]
  - port: {number: %[4]d, name: https, protocol: HTTPS}
    bind: %[3]s
    hosts: [%[6]s]
    tls: {mode: SIMPLE, credentialName: %[8]s}
  - port: {number: %[5]d, name: https-mtls, protocol: HTTPS}
    bind: %[3]s
    hosts: [%[7]s]
    tls: {mode: MUTUAL, credentialName: %[9]s}
---
apiVersion: v1
kind: Secret
metadata: {name: %[8]s, namespace: %[1]s}
type: kubernetes.io/tls
data: {tls.crt: %[10]s, tls.key: %[11]s}
---
apiVersion: v1
kind: Secret
metadata: {name: %[9]s, namespace: %[1]s}
type: Opaque
data: {tls.crt: %[10]s, tls.key: %[11]s, ca.crt: %[12]s}
`, SystemNS, EnvoyHTTPPort, c.Net.IngressIP, EnvoyHTTPSPort, EnvoyMTLSPort, EnvoySecureHost, EnvoyMutualHost,
		envoyCred, envoyMTLSCred, b64(cert), b64(key), b64(caPEM)), nil
}
