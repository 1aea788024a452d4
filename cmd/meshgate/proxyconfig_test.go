package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/cmd/internal/daemon"
)

const quickstartNode = "router~127.0.0.10~ingress-0.istio-system~istio-system.svc.cluster.local"

// rowsOf returns the table's lines after the header, fields split on runs
// of spaces.
func rowsOf(t *testing.T, out, header string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || strings.Join(strings.Fields(lines[0]), " ") != header {
		t.Fatalf("header %q, want %q; output:\n%s", lines[0], header, out)
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func translatedQuickstart(t *testing.T) string {
	t.Helper()
	out, errOut, code := runCLI(t, "", "translate", "-f", "../../deploy/examples/quickstart")
	if code != 0 {
		t.Fatalf("translate: exit %d: %s", code, errOut)
	}
	p := filepath.Join(t.TempDir(), "quickstart.json")
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProxyConfigFromTranslate(t *testing.T) {
	file := translatedQuickstart(t)
	pc := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, "", append([]string{"proxy-config"}, args...)...)
		if code != 0 {
			t.Fatalf("proxy-config %v: exit %d: %s", args, code, errOut)
		}
		return out
	}

	ls := rowsOf(t, pc("listeners", "-f", file), "NAME ADDRESSES PORT MATCH DESTINATION")
	want := [][]string{
		{"0.0.0.0_8080", "0.0.0.0", "8080", "ALL", "Route:", "http.8080"},
		{"0.0.0.0_8443", "0.0.0.0", "8443", "SNI:", "httpbin.example.com", "Route:", "https.443.https.quickstart-gateway.istio-system"},
	}
	if !equalRows(ls, want) {
		t.Errorf("listeners = %q, want %q", ls, want)
	}
	if ls := rowsOf(t, pc("l", "-f", file, "--port", "8443"), "NAME ADDRESSES PORT MATCH DESTINATION"); len(ls) != 1 || ls[0][0] != "0.0.0.0_8443" {
		t.Errorf("--port 8443: %q", ls)
	}

	rs := rowsOf(t, pc("routes", "-f", file, "--resource", "http.8080"), "NAME VHOST NAME DOMAINS MATCH DESTINATION VIRTUAL SERVICE")
	if len(rs) != 3 {
		t.Fatalf("routes of http.8080: %q, want the catch-all and two httpbin routes", rs)
	}
	if got := strings.Join(rs[1], " "); got != "http.8080 httpbin.example.com:80 httpbin.example.com /status* outbound|8000|v1|httpbin.default.svc.cluster.local 90%, outbound|8000|v2|httpbin.default.svc.cluster.local 10% -" {
		t.Errorf("the /status route: %s", got)
	}

	cs := rowsOf(t, pc("clusters", "-f", file), "SERVICE FQDN PORT SUBSET DIRECTION TYPE DESTINATION RULE")
	want = [][]string{
		{"httpbin.default.svc.cluster.local", "8000", "v1", "outbound", "EDS", "-"},
		{"httpbin.default.svc.cluster.local", "8000", "v2", "outbound", "EDS", "-"},
		{"echo.default.svc.cluster.local", "8080", "-", "outbound", "EDS", "-"},
	}
	if !equalRows(cs, want) {
		t.Errorf("clusters = %q, want %q", cs, want)
	}

	eps := rowsOf(t, pc("endpoints", "-f", file, "--fqdn", "httpbin.default.svc.cluster.local", "--subset", "v2"), "ENDPOINT STATUS LOCALITY CLUSTER")
	want = [][]string{{"127.0.0.2:18000", "HEALTHY", "-", "outbound|8000|v2|httpbin.default.svc.cluster.local"}}
	if !equalRows(eps, want) {
		t.Errorf("endpoints of v2 = %q, want %q", eps, want)
	}
	if eps := rowsOf(t, pc("ep", "-f", file, "--status", "unhealthy"), "ENDPOINT STATUS LOCALITY CLUSTER"); len(eps) != 0 {
		t.Errorf("--status unhealthy: %q, want none", eps)
	}

	ss := rowsOf(t, pc("secrets", "-f", file), "NAME TYPE SERIAL NUMBER NOT BEFORE NOT AFTER")
	if len(ss) != 1 || ss[0][0] != "kubernetes://httpbin-credential" || ss[0][1] != "Cert" || ss[0][3] == "-" {
		t.Errorf("secrets = %q, want the credential with its certificate's serial", ss)
	}

	// -o yaml: the selected resources in full, from standard input.
	data, _ := os.ReadFile(file)
	out, errOut, code := runCLI(t, string(data), "pc", "endpoints", "-f", "-", "--subset", "v1", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "clusterName: outbound|8000|v1|httpbin.default.svc.cluster.local") ||
		strings.Contains(out, "v2|") || !strings.Contains(out, "address: 127.0.0.1") {
		t.Errorf("-o yaml: exit %d, %s\n%s", code, errOut, out)
	}
	// all: every table.
	all := pc("all", "-f", file)
	for _, h := range []string{"NAME  ", "VHOST NAME", "SERVICE FQDN", "ENDPOINT", "SERIAL NUMBER"} {
		if !strings.Contains(all, h) {
			t.Errorf("all lacks the %q table:\n%s", h, all)
		}
	}
}

func equalRows(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], " ") != strings.Join(b[i], " ") {
			return false
		}
	}
	return true
}

func TestProxyConfigErrors(t *testing.T) {
	file := translatedQuickstart(t)
	for _, c := range []struct {
		args       []string
		stdin, msg string
		code       int
	}{
		{[]string{"pc", "clusters"}, "", "name a node id", 2},
		{[]string{"pc", "clusters", quickstartNode, "-f", file}, "", "exclude each other", 2},
		{[]string{"pc", "clusters", "-f", file, "--direction", "sideways"}, "", `--direction "sideways"`, 2},
		{[]string{"pc", "clusters", "-f", file, "-o", "table"}, "", `--output "table"`, 2},
		{[]string{"pc", "listeners", "-f", "-"}, "{}", "no listeners, routes, clusters, endpoints or secrets", 1},
		{[]string{"pc", "listeners", "-f", "-"}, `{"listeners": [{"name": 3}]}`, "listeners[0]", 1},
		{[]string{"pc", "listeners", "-f", filepath.Join(t.TempDir(), "missing.json")}, "", "no such file", 1},
		{[]string{"pc", "listeners", quickstartNode, "--admin-address", "127.0.0.1:1"}, "", "connection refused", 1},
	} {
		_, errOut, code := runCLI(t, c.stdin, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}
}

// startDaemon runs a daemon on configDir with every listener on a loopback
// port of the kernel's choice, and returns once it is ready.
func startDaemon(t *testing.T, configDir string) *daemon.Daemon {
	t.Helper()
	cfg := daemon.DefaultConfig()
	cfg.ConfigDir = configDir
	cfg.XDSAddress, cfg.MonitoringAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	d, err := daemon.New(cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for i := 0; !d.Server().Ready(); i++ {
		if i > 2000 {
			t.Fatal("the daemon did not become ready in 10 s")
		}
		time.Sleep(5 * time.Millisecond) // the server has no readiness event; bounded poll
	}
	return d
}

// Against a running daemon: a node that has not connected is previewed,
// and what it would get is what translate prints for it.
func TestProxyConfigFromDaemon(t *testing.T) {
	d := startDaemon(t, "../../deploy/examples/quickstart")
	file := translatedQuickstart(t)
	for _, kind := range []string{"listeners", "routes", "clusters", "endpoints"} {
		want, _, _ := runCLI(t, "", "pc", kind, "-f", file)
		got, errOut, code := runCLI(t, "", "pc", kind, quickstartNode, "--admin-address", d.AdminAddr())
		if code != 0 || got != want {
			t.Errorf("pc %s from the daemon: exit %d (%s)\n%s\nwant (from translate):\n%s", kind, code, errOut, got, want)
		}
		if !strings.Contains(errOut, "level=INFO msg=\"the node is not connected: this is a preview") {
			t.Errorf("pc %s: stderr %q does not say it is a preview", kind, errOut)
		}
	}
	// Preview metadata from the flags: labels no Gateway selects.
	out, errOut, code := runCLI(t, "", "pc", "listeners", quickstartNode, "--admin-address", d.AdminAddr(), "--label", "app=nothing")
	if code != 0 || len(rowsOf(t, out, "NAME ADDRESSES PORT MATCH DESTINATION")) != 0 || !strings.Contains(errOut, "level=WARN msg=\"no Gateway selects labels app=nothing") {
		t.Errorf("--label app=nothing: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	// A malformed node id is the caller's error.
	if _, errOut, code := runCLI(t, "", "pc", "listeners", "not-a-node", "--admin-address", d.AdminAddr()); code != 2 || !strings.Contains(errOut, "not-a-node") {
		t.Errorf("malformed node id: exit %d, %s", code, errOut)
	}
}
