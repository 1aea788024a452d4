package dataplane

import (
	"strings"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// TestXDSFailoverToNextAddress: a gateway given two xDS addresses (two
// replicas of the daemon, which build the same configuration) uses the
// first; when that one dies it moves at once to the second and tells it the
// versions it holds (whether the server sends them again is the server's
// business: meshgate's does not, see xds/server's reconnect tests); it keeps
// serving the same config, and the metrics say which address is in use and
// that it moved once.
func TestXDSFailoverToNextAddress(t *testing.T) {
	ew := newEastWest(t, sniName(8080, "", "echo.ns1.svc.cluster.local"))
	a, b := newControlPlane(t), newControlPlane(t)
	a.set("v1", ew.res.snapshot())
	b.set("v1", ew.res.snapshot())
	g := startGateway(t, a, func(c *Config) { c.XDSAddress = a.addr + "," + b.addr })
	waitReady(t, g)
	eventually(t, "EDS ACK at the first address", func() bool { return ackedVersion(a, resourcev3.EndpointType) == "v1" })
	if n := len(b.requests()); n != 0 {
		t.Fatalf("the second address got %d requests while the first served", n)
	}
	if metric(t, g, "meshgate_gateway_xds_server", "address", a.addr) != 1 || metric(t, g, "meshgate_gateway_xds_server", "address", b.addr) != 0 {
		t.Fatal("xds_server does not name the first address")
	}

	a.stop()
	eventually(t, "the gateway asks the second address", func() bool {
		return metric(t, g, "meshgate_gateway_xds_server", "address", b.addr) == 1 && len(b.requests()) >= 3
	})
	eventually(t, "EDS ACK at the second address", func() bool { return ackedVersion(b, resourcev3.EndpointType) == "v1" })
	for _, r := range b.requests() {
		if r.GetResponseNonce() == "" && r.GetVersionInfo() != "v1" {
			t.Errorf("first %s request to the second address holds version %q, want v1", r.GetTypeUrl(), r.GetVersionInfo())
		}
	}
	if got := metric(t, g, "meshgate_gateway_xds_failovers_total"); got != 1 {
		t.Errorf("xds_failovers_total = %v, want 1", got)
	}
	if metric(t, g, "meshgate_gateway_xds_server", "address", a.addr) != 0 {
		t.Error("xds_server still names the dead address")
	}
	for _, typ := range []string{"lds", "cds", "eds"} {
		if metric(t, g, "meshgate_gateway_xds_config_version_info", "type", typ, "version", "v1") != 1 {
			t.Errorf("%s: the gateway does not hold v1 after the move", typ)
		}
	}
	select {
	case <-g.Ready():
	default:
		t.Error("the gateway is not ready after the move")
	}
}

// TestXDSAddressesValidated: each address of a list must be host:port,
// and none listed twice.
func TestXDSAddressesValidated(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:15012,127.0.0.1":       `xds address "127.0.0.1"`,
		"127.0.0.1:15012,127.0.0.1:15012": "listed twice",
		"127.0.0.1:15012,":                `xds address ""`,
	} {
		cfg := DefaultConfig()
		cfg.XDSAddress, cfg.NodeID = addr, testNodeID
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", addr, err, want)
		}
	}
	cfg := DefaultConfig()
	cfg.XDSAddress, cfg.NodeID = "10.0.0.2:15012,10.0.0.3:15012", testNodeID
	if err := cfg.Validate(); err != nil {
		t.Errorf("two addresses: %v", err)
	}
}
