//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/e2e/meshlab"
)

// TestChaosCARotation rotates cluster2's CA to one under a new root while
// cluster1's client calls only-b in cluster2, by the supported path
// (federation's doc, X509Auth): first publish the old and the new roots
// while still signing under the old CA (cacerts root-cert.pem holds both;
// daemon restarted), then sign under the new CA (its cacerts; daemon
// restarted). cluster1's and cluster3's daemons pin the two-root bundle
// (a counted rotation), then accept cluster2's records signed under the
// new CA; no record is refused and no request fails.
func TestChaosCARotation(t *testing.T) {
	m := mesh(t)
	c1, c2, c3 := m.Cluster("cluster1"), m.Cluster("cluster2"), m.Cluster("cluster3")
	peers := []*meshlab.Cluster{c1, c3}
	cl := newClient(t, c1, "client-carotation")
	tgt := target(m, tgtOnlyB, "only-b")
	waitEndpoints(t, cl, tgt, gw(c2))
	r := startChaos(t, "ca-rotation", cl, tgt)
	ctx, cancel := context.WithTimeout(context.Background(), neverConverged)
	defer cancel()

	store := identity.DirStore{Dir: c2.CACerts}
	oldM, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newRoot, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: m.PKI.TrustDomain}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newCA, err := newRoot.NewIntermediate(m.PKI.TrustDomain, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newM, err := newCA.Material()
	if err != nil {
		t.Fatal(err)
	}
	both := slices.Concat(oldM.RootCert, newM.RootCert)
	badBefore := sumMetric(t, peers, "meshgate_federation_rejected_messages_total", `reason="bad_signature"`)
	rotBefore := sumMetric(t, peers, "meshgate_federation_trust_pins_total", `cluster="cluster2",how="rotation"`)
	// Whatever happens, cluster2 ends under a CA its peers accept: its
	// original intermediate with both roots pinned.
	t.Cleanup(func() {
		back := *oldM
		back.RootCert = both
		switchCA(t, m, c2, back)
	})
	r.fault()
	start := time.Now()

	step1 := *oldM
	step1.RootCert = both
	switchCA(t, m, c2, step1)
	waitUntil(t, "cluster1 and cluster3 pin cluster2's two-root bundle", nil, func() (bool, string) {
		n := sumMetric(t, peers, "meshgate_federation_trust_pins_total", `cluster="cluster2",how="rotation"`)
		return n >= rotBefore+float64(len(peers)), fmt.Sprint(n - rotBefore)
	})
	pinned := time.Since(start)

	step2 := *newM
	step2.RootCert = both
	switchCA(t, m, c2, step2)
	self := localGeneration(ctx, t, c2)
	waitUntil(t, "cluster1 and cluster3 hold cluster2's record signed under the new CA", nil, func() (bool, string) {
		var held []string
		ok := true
		for _, c := range peers {
			g := heldGeneration(ctx, t, c, c2.ID)
			held = append(held, fmt.Sprintf("%s:%d", c.ID, g))
			ok = ok && g >= self
		}
		return ok, fmt.Sprintf("want >= %d, have %v", self, held)
	})
	switched := time.Since(start)

	during := r.during(250)
	if during.Failed != 0 {
		t.Errorf("requests failed during cluster2's CA rotation: %s %v", during, during.Errors)
	}
	if bad := sumMetric(t, peers, "meshgate_federation_rejected_messages_total", `reason="bad_signature"`) - badBefore; bad != 0 {
		t.Errorf("%v of cluster2's records refused (bad_signature) during the rotation", bad)
	}
	r.heal()
	r.recover()
	figure(t, "cluster2's CA rotated: two-root bundle pinned by cluster1 and cluster3 %s after the start, new-CA record held everywhere after %s; requests meanwhile: %s",
		pinned.Round(time.Millisecond), switched.Round(time.Millisecond), during)
}

// switchCA writes material as c's cacerts and restarts c's daemon on it.
func switchCA(t *testing.T, m *meshlab.Mesh, c *meshlab.Cluster, material identity.Material) {
	t.Helper()
	if err := c.Daemon.Stop(); err != nil {
		t.Fatal(err)
	}
	// DirStore never overwrites a CA: replace the directory.
	if err := os.RemoveAll(c.CACerts); err != nil {
		t.Fatal(err)
	}
	if err := (identity.DirStore{Dir: c.CACerts}).Save(context.Background(), &material); err != nil {
		t.Fatal(err)
	}
	restartDaemon(t, m, c)
}

// localGeneration is the generation c's daemon publishes for its cluster.
func localGeneration(ctx context.Context, t *testing.T, c *meshlab.Cluster) uint64 {
	t.Helper()
	var gen uint64
	waitUntil(t, c.ID+" publishes its state", nil, func() (bool, string) {
		resp, err := (&federation.AdminClient{Addr: c.AdminAddr()}).Members(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, mb := range resp.Members {
			if mb.Local {
				gen = mb.Generation
			}
		}
		return gen != 0, "generation 0"
	})
	return gen
}

// heldGeneration is the generation of cluster's state c's daemon holds (0: none).
func heldGeneration(ctx context.Context, t *testing.T, c *meshlab.Cluster, cluster string) uint64 {
	t.Helper()
	resp, err := (&federation.AdminClient{Addr: c.AdminAddr()}).Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var g uint64
	for _, mb := range resp.Members {
		if mb.Cluster == cluster && !mb.Local {
			g = max(g, mb.Generation)
		}
	}
	return g
}
