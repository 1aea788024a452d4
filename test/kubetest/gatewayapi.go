package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// GatewayAPIResources are the Gateway API kinds meshgate reads, as resources.
var GatewayAPIResources = []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes", "tlsroutes", "tcproutes", "referencegrants"}

// InstallGatewayAPICRDs installs the experimental-channel CRDs of
// GatewayAPIResources (they serve every kind at v1, TLSRoute and TCPRoute
// at v1alpha2 too) of the sigs.k8s.io/gateway-api version go.mod requires,
// read from the module itself (`go list -m`), and waits until they are
// established.
func InstallGatewayAPICRDs(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		return fmt.Errorf("locate module sigs.k8s.io/gateway-api: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "experimental")
	var docs []string
	for _, r := range GatewayAPIResources {
		b, err := os.ReadFile(filepath.Join(dir, "gateway.networking.k8s.io_"+r+".yaml"))
		if err != nil {
			return err
		}
		docs = append(docs, string(b))
	}
	_, err = InstallCRDs(ctx, cfg, []byte(strings.Join(docs, "\n---\n")), timeout)
	return err
}
