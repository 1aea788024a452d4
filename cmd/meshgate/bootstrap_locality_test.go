package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// --locality becomes the bootstrap's node.locality (what locality load
// balancing is relative to); a malformed one is rejected input (exit 2).
func TestBootstrapLocality(t *testing.T) {
	const id = "router~10.0.0.1~gw-0.istio-system~istio-system.svc.cluster.local"
	out, errOut, code := runCLI(t, "", "bootstrap", "--node-id", id, "--locality", "us-east/a/rack1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var b struct {
		Node struct {
			Locality map[string]string `json:"locality"`
		} `json:"node"`
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatal(err)
	}
	if l := b.Node.Locality; l["region"] != "us-east" || l["zone"] != "a" || l["subZone"] != "rack1" {
		t.Errorf("node.locality = %v", l)
	}
	if out, _, _ := runCLI(t, "", "bootstrap", "--node-id", id); strings.Contains(out, "locality") {
		t.Error("a bootstrap without --locality has a node.locality")
	}
	if _, errOut, code := runCLI(t, "", "bootstrap", "--node-id", id, "--locality", "us-east//rack1"); code != 2 || !strings.Contains(errOut, "locality") {
		t.Errorf("malformed --locality: exit %d, %q; want 2 naming the flag", code, errOut)
	}
}
