//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
)

// The shared world: three clusters on three networks.
//
//	cluster1 (net1): echo v1;                  the ingress gateway (TCP :9000 → only-b)
//	cluster2 (net2): echo v1, echo v2, only-b v1
//	cluster3 (net3): echo v2
//
// Clients have routes (clusters + EDS) to echo, echo v1, echo v2 and only-b.
var (
	sharedOnce sync.Once
	shared     *meshlab.Mesh
	sharedErr  error
	binDir     string
)

// closeShared stops the shared mesh. After a failure the work directory
// (logs of every daemon, gateway and API server) is kept and named.
func closeShared(failed bool) {
	if shared != nil {
		_ = shared.Close()
	}
	if binDir == "" {
		return
	}
	if failed {
		fmt.Fprintf(os.Stderr, "e2e: tests failed; logs kept in %s\n", binDir)
		return
	}
	_ = os.RemoveAll(binDir)
}

var (
	tgtEcho   = workload.Target{Host: meshlab.Host("echo"), Port: meshlab.EchoPort}
	tgtEchoV1 = workload.Target{Host: meshlab.Host("echo"), Port: meshlab.EchoPort, Subset: "v1"}
	tgtEchoV2 = workload.Target{Host: meshlab.Host("echo"), Port: meshlab.EchoPort, Subset: "v2"}
	tgtOnlyB  = workload.Target{Host: meshlab.Host("only-b"), Port: meshlab.EchoPort}
)

// mesh returns the shared mesh, building it on first use. A failure to
// build fails every test that needs it, with the reason.
func mesh(t *testing.T) *meshlab.Mesh {
	t.Helper()
	requireLab(t)
	sharedOnce.Do(func() { shared, sharedErr = buildShared(t) })
	if sharedErr != nil {
		t.Fatalf("building the shared mesh: %v", sharedErr)
	}
	return shared
}

func buildShared(t *testing.T) (*meshlab.Mesh, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	if binDir, err = os.MkdirTemp("", "meshgate-e2e-"); err != nil {
		return nil, err
	}
	start := time.Now()
	bin, err := meshlab.BuildBinary(ctx, binDir)
	if err != nil {
		return nil, err
	}
	caps, err := meshlab.Probe(bin)
	if err != nil {
		return nil, err
	}
	if miss := caps.Missing("run", "gateway", "cert", "identity", "gossip"); len(miss) > 0 {
		return nil, missingErr(miss)
	}
	m, err := meshlab.New(ctx, slot, meshlab.Options{
		Clusters: 3, Dir: binDir, Bin: bin, Caps: caps,
		Services:       map[string][]string{"cluster1": {"echo"}, "cluster2": {"echo", "only-b"}, "cluster3": {"echo"}},
		ClientRoutes:   []meshlab.ClientRoute{{Service: "echo"}, {Service: "echo", Subset: "v1"}, {Service: "echo", Subset: "v2"}, {Service: "only-b"}},
		IngressCluster: "cluster1",
		Logf:           t.Logf,
	})
	if err != nil {
		return nil, err
	}
	pods := []struct{ cluster, svc, version string }{
		{"cluster1", "echo", "v1"}, {"cluster2", "echo", "v1"}, {"cluster2", "echo", "v2"},
		{"cluster2", "only-b", "v1"}, {"cluster3", "echo", "v2"},
	}
	for _, p := range pods {
		if _, err := m.Cluster(p.cluster).AddEchoPod(ctx, p.svc, p.version); err != nil {
			return m, err
		}
	}
	t.Logf("shared mesh: %d clusters, source %s, ready in %s (work dir %s)", len(m.Clusters), m.Opts.Source,
		time.Since(start).Round(time.Millisecond), binDir)
	return m, nil
}
