package main

import (
	"os"
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

// A document of a kind no API serves (a misspelled kind, an unknown group)
// is rejected input, named as kubectl names it, with its file: exit 2.
func TestTranslateUnknownKind(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(`apiVersion: networking.istio.io/v1
kind: virtualservice
metadata: {name: x, namespace: default}
spec: {hosts: [a.example.com]}
---
apiVersion: example.com/v1
kind: Frobnicator
metadata: {name: y}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "", "translate", "-f", dir)
	if code != 2 {
		t.Errorf("exit %d, want 2 (rejected input)", code)
	}
	for _, want := range []string{`bad.yaml (document 1)`, `no matches for kind \"virtualservice\"`, `did you mean kind \"VirtualService\"`,
		`bad.yaml (document 2)`, `no matches for kind \"Frobnicator\"`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// An object the translator rejects (not the loader: a VirtualService bound
// to a Gateway that does not exist) is named with its file.
func TestTranslateRejectionNamesFile(t *testing.T) {
	dir := t.TempDir()
	vs := `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nogw, namespace: istio-system}
spec:
  hosts: ["y.example.com"]
  gateways: [missing-gateway]
  http:
  - route:
    - destination: {host: httpbin.default.svc.cluster.local, port: {number: 8000}}
`
	if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), []byte(vs), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "", "translate", "-f", "../../deploy/examples/quickstart", "-f", dir)
	if code != 2 || !strings.Contains(errOut, `routes.yaml: VirtualService istio-system/nogw: spec.gateways[0]: gateway \"istio-system/missing-gateway\" not found`) {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}
