//go:build integration

package istiocompat

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/kubeapply"
	"github.com/meshgate/meshgate/test/kubetest"
)

// repoRoot is the meshgate checkout this module sits in.
const repoRoot = "../.."

var meshgateBin struct {
	sync.Once
	path string
	err  error
}

// meshgate builds the product's binary once per test run (from the main
// module, as users build it) and returns its path.
func meshgate(t *testing.T) string {
	t.Helper()
	meshgateBin.Do(func() {
		dir, err := os.MkdirTemp("", "istiocompat-meshgate-")
		if err != nil {
			meshgateBin.err = err
			return
		}
		meshgateBin.path = filepath.Join(dir, "meshgate")
		cmd := exec.Command("go", "build", "-o", meshgateBin.path, "./cmd/meshgate")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			meshgateBin.err = fmt.Errorf("go build ./cmd/meshgate: %v\n%s", err, out)
		}
	})
	if meshgateBin.err != nil {
		t.Fatal(meshgateBin.err)
	}
	return meshgateBin.path
}

// istioctl finds the real istioctl: $MESHGATE_ISTIOCTL, else the cache of
// test/tools/istioctl.sh. It never builds (a cold build takes many
// minutes): without one the test fails with the command to run.
func istioctl(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MESHGATE_ISTIOCTL"); p != "" {
		return p
	}
	script := filepath.Join(repoRoot, "test", "tools", "istioctl.sh")
	out, err := exec.Command(script, "--no-build").Output()
	if err != nil {
		t.Fatalf("no istioctl: build it once with %s (test/all.sh's integration tier does), or set MESHGATE_ISTIOCTL (%v)", script, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// run runs a command and returns its standard output; it fails the test,
// with both outputs, when the command fails.
func run(t *testing.T, ctx context.Context, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

func apply(t *testing.T, ctx context.Context, c *kubetest.Cluster, yaml string) {
	t.Helper()
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyYAML(ctx, []byte(yaml)); err != nil {
		t.Fatal(err)
	}
}

// poll calls cond until it returns "" (done) or ctx ends; the last reason
// fails the test.
func poll(ctx context.Context, t *testing.T, what string, cond func() string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		why := cond()
		if why == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %s", what, why)
		case <-tick.C:
		}
	}
}

// freeAddr is a loopback address with a port that was free.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// echoWorld is the remote cluster's application: the Service echo.app with
// one endpoint (10.2.0.7, not loopback: the API server refuses those in
// EndpointSlices), its pod on node-1, and node-1 (region1/zone1).
const echoWorld = `
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: app}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: app}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, namespace: app, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
endpoints:
- addresses: [10.2.0.7]
  conditions: {ready: true}
  nodeName: node-1
  targetRef: {kind: Pod, name: echo-0, namespace: app}
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {topology.kubernetes.io/region: region1, topology.kubernetes.io/zone: zone1}
---
apiVersion: v1
kind: Pod
metadata: {name: echo-0, namespace: app, labels: {app: echo}}
spec:
  nodeName: node-1
  containers: [{name: echo, image: echo}]
`
