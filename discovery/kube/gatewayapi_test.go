//go:build integration

package kube

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/test/kubetest"
)

// gatewayAPICRDs are the experimental-channel CRDs (they serve TLSRoute and TCPRoute at v1alpha2 too) of the kinds the source reads.
var gatewayAPICRDs = []string{"gatewayclasses", "gateways", "httproutes", "tlsroutes", "tcproutes", "referencegrants"}

// installGatewayAPICRDs installs the Gateway API CRDs of the module version
// go.mod requires (from the module's own config/crd/experimental).
func installGatewayAPICRDs(t testing.TB, cfg *rest.Config) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("locate sigs.k8s.io/gateway-api: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "experimental")
	var docs []string
	for _, r := range gatewayAPICRDs {
		b, err := os.ReadFile(filepath.Join(dir, "gateway.networking.k8s.io_"+r+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	if _, err := kubetest.InstallCRDs(ctxT(t), cfg, []byte(strings.Join(docs, "\n---\n")), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// gatewayAPIGVRs are the Gateway API resources of dumpGVRs.
func gatewayAPIGVRs() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, r := range gatewayAPICRDs {
		out = append(out, schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: r})
	}
	return out
}
