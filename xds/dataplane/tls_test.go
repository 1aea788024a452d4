package dataplane

import (
	"crypto/tls"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	gatewayID = "spiffe://cluster.local/ns/istio-system/sa/eastwest-gateway"
	echoID    = "spiffe://cluster.local/ns/ns1/sa/echo"
)

// TestUpstreamTLSOrigination: the gateway originates Istio mesh mTLS to
// endpoints labelled tlsMode istio (SDS default + ROOTCA, SNI, ALPN, SAN
// check) and plain TCP to the others; SDS rotation applies to new connections.
func TestUpstreamTLSOrigination(t *testing.T) {
	ca := newTestCA(t, "mesh root")
	backendCert := ca.issue(t, nil, echoID)
	mtls := startBackend(t, "echo-mtls", tlsBackendConfig(backendCert.tls, ca, "istio-peer-exchange", "istio"))
	plain := startBackend(t, "echo-plain", nil)
	sni := sniName(8080, "", "echo.ns1.svc.cluster.local")
	const cluster = "outbound|8080||echo.ns1.svc.cluster.local"

	mk := func(san string, eps ...ep) resources {
		return resources{
			listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo(cluster))},
			clusters:  []*clusterv3.Cluster{edsCluster(cluster, withIstioAutoMTLS(sni, san))},
			endpoints: []*endpointv3.ClusterLoadAssignment{cla(cluster, eps...)},
		}
	}
	both := []ep{{addr: mtls.addr, tlsMode: "istio"}, {addr: plain.addr}}
	res := mk(echoID, both...)
	res.secrets = []*tlsv3.Secret{certSecret("default", ca.issue(t, nil, gatewayID)), caSecret("ROOTCA", ca)}
	cp := newControlPlane(t)
	cp.set("v1", res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	addr := g.ListenerAddr("l").String()
	eventually(t, "secrets applied", func() bool {
		return metric(t, g, "meshgate_gateway_xds_config_applied_total", "type", "sds") >= 1 &&
			metric(t, g, "meshgate_gateway_xds_config_applied_total", "type", "eds") >= 1
	})

	wantCounts(t, "tlsMode istio and plain endpoints", countNames(t, addr, 20), map[string]int{"echo-mtls": 10, "echo-plain": 10})
	for _, h := range mtls.handshakes() {
		if h.sni != sni || h.alpn != "istio-peer-exchange" || !slices.Equal(h.peerURIs, []string{gatewayID}) {
			t.Fatalf("mTLS backend saw SNI %q ALPN %q client %v", h.sni, h.alpn, h.peerURIs)
		}
	}
	var sdsNames []string
	for _, r := range cp.requests() {
		if r.GetTypeUrl() == resourcev3.SecretType {
			sdsNames = r.GetResourceNames()
		}
	}
	if !slices.Equal(sdsNames, []string{"ROOTCA", "default"}) {
		t.Fatalf("SDS subscription %v, want [ROOTCA default]", sdsNames)
	}

	// Rotation of the gateway's certificate: new connections present the new one.
	const rotatedID = "spiffe://cluster.local/ns/istio-system/sa/rotated"
	res.secrets[0] = certSecret("default", ca.issue(t, nil, rotatedID))
	cp.set("v2", res.snapshot())
	eventually(t, "rotated client certificate in use", func() bool {
		countNames(t, addr, 2)
		hs := mtls.handshakes()
		return slices.Equal(hs[len(hs)-1].peerURIs, []string{rotatedID})
	})

	// A SAN mismatch fails the upstream handshake: a connect failure.
	bad := mk("spiffe://cluster.local/ns/ns1/sa/impostor", both[0])
	bad.secrets = res.secrets
	before := metric(t, g, "meshgate_gateway_upstream_cx_connect_fail_total", "cluster", cluster)
	cp.set("v3", bad.snapshot())
	eventually(t, "SAN mismatch refused", func() bool {
		_, err := dialName(addr, nil)
		return err != nil && metric(t, g, "meshgate_gateway_upstream_cx_connect_fail_total", "cluster", cluster) > before
	})
}

func downstreamTLSSocket(requireClient bool) *corev3.TransportSocket {
	ctx := &tlsv3.DownstreamTlsContext{
		RequireClientCertificate: wrapperspb.Bool(requireClient),
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols:                  []string{"h2", "http/1.1"},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsRef("kubernetes://gw-cred")},
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
				ValidationContextSdsSecretConfig: sdsRef("kubernetes://gw-cred-cacert"),
			},
		},
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAnyT(ctx)}}
}

// TestDownstreamTLSTermination: a MUTUAL-style chain terminates TLS with an
// SDS certificate, requires a client certificate from the SDS CA and proxies
// plain text to the backend.
func TestDownstreamTLSTermination(t *testing.T) {
	ca := newTestCA(t, "gateway ca")
	backend := startBackend(t, "app", nil)
	fc := chainTo("app", &listenerv3.FilterChainMatch{ServerNames: []string{"gw.example.com"}})
	fc.TransportSocket = downstreamTLSSocket(true)
	serverCert := ca.issue(t, []string{"gw.example.com"})
	res := resources{
		listeners: []*listenerv3.Listener{listenerWith("https", "127.0.0.1:0", true, fc)},
		clusters:  []*clusterv3.Cluster{staticCluster("app", backend.addr)},
		secrets:   []*tlsv3.Secret{certSecret("kubernetes://gw-cred", serverCert), caSecret("kubernetes://gw-cred-cacert", ca)},
	}
	cp := newControlPlane(t)
	cp.set("v1", res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	addr := g.ListenerAddr("https").String()
	client := ca.issue(t, nil, "spiffe://example/client")
	cfg := clientTLS(ca, "gw.example.com", "h2")
	cfg.Certificates = []tls.Certificate{client.tls}

	var c *clientConn
	eventually(t, "termination with SDS certificate", func() bool {
		var err error
		c, err = dial(addr, cfg)
		return err == nil
	})
	defer c.Close()
	if c.name != "app" || c.Conn.(*tls.Conn).ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("reached %q, ALPN %q", c.name, c.Conn.(*tls.Conn).ConnectionState().NegotiatedProtocol)
	}
	if err := c.roundTrip("decrypted at the gateway"); err != nil {
		t.Fatal(err)
	}
	if _, err := dialName(addr, clientTLS(ca, "gw.example.com")); err == nil {
		t.Fatalf("client without certificate accepted; require_client_certificate is set")
	}
	eventually(t, "handshake failure counted", func() bool {
		return metric(t, g, "meshgate_gateway_downstream_tls_handshake_failures_total", "listener", "https") >= 1
	})

	// Private keys never leave through the admin interface.
	_, dump := httpGet(t, "http://"+g.AdminAddr().String()+"/config_dump")
	keyB64 := base64.StdEncoding.EncodeToString(serverCert.keyPEM)
	if strings.Contains(dump, "PRIVATE KEY") || strings.Contains(dump, keyB64[:60]) || strings.Contains(dump, string(serverCert.keyPEM[40:80])) {
		t.Fatalf("config dump leaks a private key")
	}
	if !strings.Contains(dump, "[redacted]") || !strings.Contains(dump, "kubernetes://gw-cred") {
		t.Fatalf("config dump lacks the redacted secret:\n%s", dump)
	}
}

// TestUpstreamTLSWithoutSecrets: until SDS delivers default and ROOTCA,
// connections to mTLS endpoints are closed and counted (no plaintext fallback).
func TestUpstreamTLSWithoutSecrets(t *testing.T) {
	ca := newTestCA(t, "mesh root")
	mtls := startBackend(t, "echo-mtls", tlsBackendConfig(ca.issue(t, nil, echoID).tls, ca, "istio"))
	sni := sniName(8080, "", "echo.ns1.svc.cluster.local")
	res := resources{
		listeners: []*listenerv3.Listener{plainListener("l", tcpProxyTo("c"))},
		clusters:  []*clusterv3.Cluster{edsCluster("c", withIstioAutoMTLS(sni, echoID))},
		endpoints: []*endpointv3.ClusterLoadAssignment{cla("c", ep{addr: mtls.addr, tlsMode: "istio"})},
	}
	cp := newControlPlane(t)
	cp.set("v1", res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	eventually(t, "connection refused for lack of secrets", func() bool {
		_, err := dialName(g.ListenerAddr("l").String(), nil)
		return err != nil && metric(t, g, "meshgate_gateway_upstream_tls_config_errors_total", "cluster", "c") >= 1
	})
	if len(mtls.handshakes()) != 0 || metric(t, g, "meshgate_gateway_upstream_cx_connect_fail_total", "cluster", "c") != 0 {
		t.Fatalf("the endpoint was contacted or blamed although the gateway had no certificate")
	}
}
