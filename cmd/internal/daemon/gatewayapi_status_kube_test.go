//go:build integration

package daemon

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/logtest"
)

// meshgate run --kubeconfig writes the Gateway API status: `kubectl get
// gateway` shows PROGRAMMED True for a Gateway whose Service has endpoints,
// and `kubectl get gatewayclass` ACCEPTED True.
func TestKubeGatewayAPIStatus(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl")
	}
	c := kubetest.New(t, kubetest.Options{Name: "gwstatus-daemon"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := kubetest.InstallGatewayAPICRDs(ctx, c.RESTConfig(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := mustApplier(t, c).ApplyYAML(ctx, []byte(gatewayAPIStatusYAML)); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.ConfigDir, cfg.Kubeconfig = "", c.KubeconfigPath()
	d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	get := func(args ...string) string {
		out, err := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", c.KubeconfigPath(), "get"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl get %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// kubectl's printer columns read the status the daemon writes; kubectl
	// has no watch that ends on a condition here, so the test asks again
	// after each status event of the API server (kubectl get --watch)
	watch := exec.CommandContext(ctx, kubectl, "--kubeconfig", c.KubeconfigPath(), "get", "gateway", "-n", "istio-system", "web",
		"--watch", "-o", "jsonpath={.status.conditions[?(@.type==\"Programmed\")].status}{\"\\n\"}")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = watch.Process.Kill(); _ = watch.Wait() }()
	buf := make([]byte, 4096)
	var seen string
	for !strings.Contains(seen, "True") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("watching the Gateway: %v (seen %q)", err, seen)
		}
		seen += string(buf[:n])
	}
	gw := get("gateway", "-n", "istio-system", "web")
	if f := strings.Fields(strings.Split(gw, "\n")[1]); len(f) < 4 || f[1] != "istio" || f[3] != "True" {
		t.Errorf("kubectl get gateway:\n%s\nwant PROGRAMMED True", gw)
	}
	if cls := get("gatewayclass", "istio"); !strings.Contains(strings.Split(cls, "\n")[1], "True") {
		t.Errorf("kubectl get gatewayclass:\n%s\nwant ACCEPTED True", cls)
	}
	t.Logf("kubectl get gateway:\n%s", gw)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

const gatewayAPIStatusYAML = `apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Service
metadata: {name: gw-svc, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: gw-svc-1, namespace: istio-system, labels: {kubernetes.io/service-name: gw-svc}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: [10.0.0.5], conditions: {ready: true}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: gw-svc}]
  listeners: [{name: http, port: 80, protocol: HTTP}]
`
