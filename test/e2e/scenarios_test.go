package e2e

import (
	"testing"
)

// TestServiceOnlyInRemoteCluster: a client in cluster1 (net1) calls only-b,
// which runs only in cluster2 (net2). Its daemon's EDS (split horizon) gives
// it cluster2's east-west gateway, never the pod address; every request goes
// through that gateway with the SNI of only-b and reaches the only-b pod,
// which verifies the client's SPIFFE ID.
func TestServiceOnlyInRemoteCluster(t *testing.T) {
	m := mesh(t)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	cl := newClient(t, c1, "client-only-b")
	tgt := target(m, tgtOnlyB, "only-b")
	took := waitEndpoints(t, cl, tgt, gw(c2))
	if err := cl.CheckSNI(tgt); err != nil {
		t.Error(err)
	}
	st := runLoad(callLoad("only-b", cl, tgt, 50), 200)
	requireAllOK(t, st, cl.ID.ID().String(), "cluster2/only-b-")
	for _, s := range st.Samples {
		if s.Result.SNI != tgt.Name().SNI() {
			t.Fatalf("echo saw SNI %q, want %q", s.Result.SNI, tgt.Name().SNI())
		}
	}
	figure(t, "%s; endpoints converged in %s", st, took)
}
