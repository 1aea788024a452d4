package dataplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// eastWest is the usual test setup: an east-west listener on a free port
// with one SNI chain per service, EDS clusters of the same names, and TLS
// backends whose certificates carry the SNI as DNS SAN.
type eastWest struct {
	ca       *testCA
	backends map[string]*backend // by SNI
	res      resources
}

func newEastWest(t *testing.T, snis ...string) *eastWest {
	t.Helper()
	ew := &eastWest{ca: newTestCA(t, "mesh root"), backends: map[string]*backend{}}
	var chains []*listenerv3.FilterChain
	for _, sni := range snis {
		cert := ew.ca.issue(t, []string{sni})
		b := startBackend(t, "backend-of-"+sni, tlsBackendConfig(cert.tls, nil, "istio", "h2"))
		ew.backends[sni] = b
		chains = append(chains, sniChain(sni))
		ew.res.clusters = append(ew.res.clusters, edsCluster(sni))
		ew.res.endpoints = append(ew.res.endpoints, cla(sni, ep{addr: b.addr}))
	}
	ew.res.listeners = []*listenerv3.Listener{listenerWith("0.0.0.0_15443", "127.0.0.1:0", true, chains...)}
	return ew
}

func TestEastWestSNIPassthrough(t *testing.T) {
	echoSNI := sniName(8080, "", "echo.ns1.svc.cluster.local")
	reviewsSNI := sniName(9080, "v2", "reviews.default.svc.cluster.local")
	ew := newEastWest(t, echoSNI, reviewsSNI)
	cp := newControlPlane(t)
	cp.set("v1", ew.res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	addr := g.ListenerAddr("0.0.0.0_15443").String()

	for _, sni := range []string{echoSNI, reviewsSNI, echoSNI} {
		// The client verifies the backend's certificate (RootCAs + ServerName):
		// TLS runs end to end between client and backend.
		var c *clientConn
		eventually(t, "route for "+sni, func() bool {
			var err error
			c, err = dial(addr, clientTLS(ew.ca, sni, "istio"))
			return err == nil
		})
		if want := ew.backends[sni].name; c.name != want {
			t.Fatalf("SNI %s reached %q, want %q", sni, c.name, want)
		}
		if err := c.roundTrip("hello " + sni); err != nil {
			t.Fatalf("echo through gateway: %v", err)
		}
		if cs := c.Conn.(*tls.Conn).ConnectionState(); !cs.HandshakeComplete || cs.NegotiatedProtocol != "istio" {
			t.Fatalf("client TLS state: complete %v, ALPN %q", cs.HandshakeComplete, cs.NegotiatedProtocol)
		}
		c.Close()
	}
	// The backends saw the client's own SNI and ALPN: passthrough, not termination.
	for sni, b := range ew.backends {
		hs := b.handshakes()
		if len(hs) == 0 {
			t.Fatalf("backend of %s saw no handshake", sni)
		}
		for _, h := range hs {
			if h.sni != sni || h.alpn != "istio" {
				t.Fatalf("backend of %s saw SNI %q ALPN %q", sni, h.sni, h.alpn)
			}
		}
	}
	if got := metric(t, g, "meshgate_gateway_downstream_cx_total", "listener", "0.0.0.0_15443"); got < 3 {
		t.Fatalf("downstream_cx_total = %v, want >= 3", got)
	}
	if got := metric(t, g, "meshgate_gateway_xds_config_applied_total", "type", "lds"); got < 1 {
		t.Fatalf("xds_config_applied_total{lds} = %v", got)
	}
	eventually(t, "tx bytes counted", func() bool {
		return metric(t, g, "meshgate_gateway_downstream_cx_tx_bytes_total", "listener", "0.0.0.0_15443") > 0
	})
}

// TestADSRequests checks what the gateway asks for, as Envoy would: node id
// and Istio node metadata, LDS and CDS wildcard, EDS for its EDS clusters,
// and ACKs carrying version_info and response_nonce.
func TestADSRequests(t *testing.T) {
	echoSNI := sniName(8080, "", "echo.ns1.svc.cluster.local")
	ew := newEastWest(t, echoSNI)
	cp := newControlPlane(t)
	cp.set("v1", ew.res.snapshot())
	g := startGateway(t, cp)
	waitReady(t, g)
	eventually(t, "EDS ACK", func() bool { return ackedVersion(cp, resourcev3.EndpointType) == "v1" })

	reqs := cp.requests()
	n := reqs[0].GetNode()
	md := n.GetMetadata().GetFields()
	if n.GetId() != testNodeID || md["NAMESPACE"].GetStringValue() != "istio-system" ||
		md["NETWORK"].GetStringValue() != "net1" || md["CLUSTER_ID"].GetStringValue() != "cluster1" ||
		md["LABELS"].GetStructValue().GetFields()["istio"].GetStringValue() != "eastwestgateway" {
		t.Fatalf("node = %v", n)
	}
	for _, r := range reqs {
		switch r.GetTypeUrl() {
		case resourcev3.ListenerType, resourcev3.ClusterType:
			if len(r.GetResourceNames()) != 0 {
				t.Fatalf("%s request not wildcard: %v", r.GetTypeUrl(), r.GetResourceNames())
			}
		case resourcev3.EndpointType:
			if !slices.Equal(r.GetResourceNames(), []string{echoSNI}) {
				t.Fatalf("EDS names = %v", r.GetResourceNames())
			}
		case resourcev3.SecretType:
			t.Fatalf("SDS requested although nothing references a secret: %v", r.GetResourceNames())
		}
	}
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType} {
		if ackedVersion(cp, typ) != "v1" {
			t.Fatalf("%s: no ACK of v1 with a nonce", typ)
		}
	}
}

// ackedVersion returns the version of the last request of typ that answers
// a response (has a nonce) without error_detail.
func ackedVersion(cp *controlPlane, typ string) string {
	v := ""
	for _, r := range cp.requests() {
		if r.GetTypeUrl() == typ && r.GetResponseNonce() != "" && r.GetErrorDetail() == nil {
			v = r.GetVersionInfo()
		}
	}
	return v
}

func TestReadyAndAdmin(t *testing.T) {
	cp := newControlPlane(t)
	g := startGateway(t, cp)
	base := fmt.Sprintf("http://%s", g.AdminAddr())
	if code, _ := httpGet(t, base+"/ready"); code != 503 {
		t.Fatalf("/ready before config = %d, want 503", code)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	ew := newEastWest(t, sniName(8080, "", "echo.ns1.svc.cluster.local"))
	cp.set("v1", ew.res.snapshot())
	waitReady(t, g)
	if code, body := httpGet(t, base+"/ready"); code != 200 || body != "LIVE\n" {
		t.Fatalf("/ready = %d %q", code, body)
	}
	_, body := httpGet(t, base+"/metrics")
	for _, want := range []string{"meshgate_gateway_xds_config_applied_total", "meshgate_gateway_xds_config_version_info{type=\"lds\",version=\"v1\"} 1"} {
		if !contains(body, want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
	_, body = httpGet(t, base+"/config_dump")
	for _, want := range []string{"0.0.0.0_15443", "ListenersConfigDump", "ClustersConfigDump", "EndpointsConfigDump"} {
		if !contains(body, want) {
			t.Fatalf("/config_dump lacks %q", want)
		}
	}
}

// Run is the whole lifecycle: it returns the error that keeps the gateway
// from running, nil when its context ends, and runs once.
func TestRunLifecycle(t *testing.T) {
	cp := newControlPlane(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := DefaultConfig()
	cfg.XDSAddress, cfg.NodeID, cfg.Logger = cp.addr, testNodeID, testLogger(t)
	cfg.AdminAddress = busy.Addr().String()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "admin address") {
		t.Errorf("Run with a taken admin address = %v, want the bind error", err)
	}
	if err := g.Run(context.Background()); err == nil {
		t.Error("a second Run was accepted")
	}

	cfg.AdminAddress = "127.0.0.1:0"
	g, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-g.Started()
	if g.AdminAddr() == nil {
		t.Error("started without an admin address")
	}
	select {
	case <-g.Ready(): // the control plane has no snapshot for the node: not ready
		t.Fatal("ready without configuration")
	case err := <-done:
		t.Fatalf("Run returned %v before its context ended", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}

	cfg.NodeID = "router~10.0.0.7~gw-0.istio-system~istio-system" // no .svc.<domain>
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "invalid node id") {
		t.Errorf("New with a malformed node id = %v", err)
	}
}
