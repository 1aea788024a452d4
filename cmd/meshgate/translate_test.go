package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTranslateProxyLocality: --locality makes locality load balancing
// relative to the gateway (case 116: region1/zone1 first, region2 last, behind
// the region3 failover), and a malformed value is refused.
func TestTranslateProxyLocality(t *testing.T) {
	dir := filepath.Join("..", "..", "xds", "translate", "testdata", "cases", "116-doc-locality-failover-distribute")
	args := []string{"translate"}
	for _, f := range []string{"config.yaml", "gateway-svc.yaml", "k8s.yaml"} {
		args = append(args, "-f", filepath.Join(dir, f))
	}
	out, errOut, code := runCLI(t, "", append(args, "--locality", "region1/zone1/sub1")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"priority": 3`) {
		t.Errorf("no endpoints at priority 3 (region2): the proxy locality was not applied")
	}
	out, errOut, code = runCLI(t, "", args...)
	if code != 0 || strings.Contains(out, `"priority": 3`) {
		t.Errorf("without --locality: exit %d, priority 3 present: %v (%s)", code, strings.Contains(out, `"priority": 3`), errOut)
	}
	_, errOut, code = runCLI(t, "", append(args, "--locality", "a/b/c/d")...)
	if code != 2 || !strings.Contains(errOut, "--locality") {
		t.Errorf("malformed locality: exit %d, stderr %q; want 2 and a --locality error", code, errOut)
	}
}
