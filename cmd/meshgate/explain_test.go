package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshgate/meshgate/xds/translate"
)

func TestExplainCommand(t *testing.T) {
	out, errOut, code := runCLI(t, "", "explain", "-f", "../../deploy/examples/quickstart", "--host", "httpbin.example.com")
	if code != 0 || !strings.HasPrefix(out, "The proxy has host httpbin.example.com.") ||
		!strings.Contains(out, "VirtualService default/httpbin (gateway.yaml)") {
		t.Errorf("offline: exit %d (%s)\n%s", code, errOut, out)
	}
	// Against a running daemon, for the quickstart's ingress gateway
	// (previewed: not connected), as JSON.
	d := startDaemon(t, "../../deploy/examples/quickstart")
	out, errOut, code = runCLI(t, "", "explain", "--node-id", quickstartNode, "--admin-address", d.AdminAddr(),
		"--cluster-name", "outbound|8000|v9|httpbin.default.svc.cluster.local", "-o", "json")
	var x translate.Explanation
	if code != 0 || json.Unmarshal([]byte(out), &x) != nil || x.Present || len(x.Missing) != 1 || !strings.Contains(x.Missing[0], "subset v9") {
		t.Errorf("daemon: exit %d (%s)\n%s", code, errOut, out)
	}
	// The daemon's preview metadata: labels no Gateway selects.
	out, _, code = runCLI(t, "", "explain", "--node-id", quickstartNode, "--admin-address", d.AdminAddr(), "--label", "app=nothing", "--host", "httpbin.example.com")
	if code != 0 || !strings.Contains(out, "no Gateway selects the proxy (labels app=nothing)") {
		t.Errorf("daemon, --label: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"explain", "-f", "../../deploy/examples/quickstart"}, "exactly one of --host"},
		{[]string{"explain", "-f", "../../deploy/examples/quickstart", "--host", "a", "--sni", "b"}, "exactly one of --host"},
		{[]string{"explain", "--host", "a"}, "--node-id (a running daemon) or -f PATH"},
		{[]string{"explain", "-f", "../../deploy/examples/quickstart", "--endpoint", "nope"}, `endpoint "nope": want IP:PORT`},
		{[]string{"explain", "--node-id", "garbage", "--admin-address", d.AdminAddr(), "--host", "a"}, "garbage"},
	} {
		_, errOut, code := runCLI(t, "", c.args...)
		if code != 2 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.msg)
		}
	}
	// A daemon that cannot be reached is a failure (1), not a usage error.
	if _, errOut, code := runCLI(t, "", "explain", "--node-id", quickstartNode, "--admin-address", "127.0.0.1:1", "--host", "a"); code != 1 {
		t.Errorf("unreachable daemon: exit %d, stderr %q; want 1", code, errOut)
	}
}
