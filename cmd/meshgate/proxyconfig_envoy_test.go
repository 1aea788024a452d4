//go:build integration

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

// freePort returns a TCP port nothing listens on now (the kernel's pick).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A real Envoy connected to a real daemon: proxy-config shows the same
// listeners, routes, clusters and endpoints whether it reads the daemon
// (what it sent) or Envoy's own /config_dump (what Envoy holds).
func TestProxyConfigMatchesEnvoy(t *testing.T) {
	envoy := envoytest.Path(t)
	dir := t.TempDir()
	src := "../../deploy/examples/quickstart"
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	// The quickstart's gateway ports (8080, 8443) may be taken on a shared
	// machine: the ingress gateway's own Service and Pod get free ones.
	httpPort, httpsPort := freePort(t), freePort(t)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "ingressgateway.yaml" {
			b = []byte(strings.NewReplacer("8080", fmt.Sprint(httpPort), "8443", fmt.Sprint(httpsPort)).Replace(string(b)))
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, dir)

	b, err := bootstrap.Envoy(bootstrap.Options{NodeID: quickstartNode, XDSAddress: d.XDSAddr(),
		Labels: map[string]string{"istio": "ingressgateway"}, AdminAddress: "127.0.0.1:15000"})
	if err != nil {
		t.Fatal(err)
	}
	b.Admin.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 0}
	bj, err := bootstrap.Marshal(b, "json")
	if err != nil {
		t.Fatal(err)
	}
	e := envoytest.Start(t, envoy, bj)

	// Wait until Envoy ACKed every type the daemon sent (no ACK event:
	// the daemon's per-proxy status is polled, bounded).
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, ok := d.Server().Proxy(quickstartNode)
		acked := ok
		for _, typ := range []string{"listener", "route", "cluster", "endpoint", "secret"} {
			if !ok || st.Types[typ] == nil || st.Types[typ].Acked == "" || st.Types[typ].Acked != st.Types[typ].Sent {
				acked = false
			}
		}
		if acked {
			break
		}
		select {
		case <-e.Exited():
			t.Fatalf("envoy exited:\n%s", e.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Envoy did not ACK every type in 60 s; status %+v", st)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	// A listener is in Envoy's dump once warmed (its SDS secret arrived):
	// also polled.
	var dump []byte
	for {
		if dump, err = e.Admin(context.Background(), "/config_dump?include_eds"); err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(dump), `"active_state"`) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	dumpFile := filepath.Join(t.TempDir(), "envoy.json")
	if err := os.WriteFile(dumpFile, dump, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"listeners", "routes", "clusters", "endpoints"} {
		fromDaemon, errOut, code := runCLI(t, "", "pc", kind, quickstartNode, "--admin-address", d.AdminAddr())
		if code != 0 || strings.Contains(errOut, "preview") {
			t.Fatalf("pc %s from the daemon: exit %d, %s", kind, code, errOut)
		}
		// Envoy's dump also holds its bootstrap's static cluster (xds-grpc):
		// only Istio-named clusters are compared.
		fromEnvoy, errOut, code := runCLI(t, "", "pc", kind, "-f", dumpFile, "--direction", "outbound")
		if kind == "listeners" || kind == "routes" {
			fromEnvoy, errOut, code = runCLI(t, "", "pc", kind, "-f", dumpFile)
		}
		if code != 0 {
			t.Fatalf("pc %s -f envoy's config_dump: exit %d, %s", kind, code, errOut)
		}
		if fromDaemon != fromEnvoy {
			t.Errorf("pc %s: the daemon sent\n%s\nEnvoy holds\n%s", kind, fromDaemon, fromEnvoy)
		}
		if n := len(rowsOf(t, fromEnvoy, strings.Join(strings.Fields(strings.SplitN(fromEnvoy, "\n", 2)[0]), " "))); n < 2 {
			t.Errorf("pc %s: %d rows from Envoy, want at least 2:\n%s", kind, n, fromEnvoy)
		}
		t.Logf("pc %s (Envoy):\n%s", kind, fromEnvoy)
	}
	// Envoy's secrets dump: the credential's certificate (not its key).
	out, errOut, code := runCLI(t, "", "pc", "secrets", "-f", dumpFile, "--resource", "kubernetes://httpbin-credential")
	if ss := rowsOf(t, out, "NAME TYPE SERIAL NUMBER NOT BEFORE NOT AFTER"); code != 0 || len(ss) != 1 || ss[0][2] == "-" {
		t.Errorf("pc secrets from Envoy: exit %d (%s):\n%s", code, errOut, out)
	}
}
