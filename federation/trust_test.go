package federation

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/metrictest"
)

// forge builds a record of cluster at gen holding state, signed by signer
// (nil: unsigned), as an attacker holding the gossip key would send it.
func forge(t *testing.T, state *model.ClusterState, origin string, gen uint64, signer *X509Auth) wire.Record {
	t.Helper()
	body := wire.BodyFromState(state, []byte("forged-kubeconfig"))
	z, h, err := wire.EncodeBody(&body)
	if err != nil {
		t.Fatal(err)
	}
	r := wire.Record{Cluster: state.ID, Origin: origin, Generation: gen, Hash: h, Body: z}
	if signer != nil {
		if r.Proof, err = signer.Sign(r.SignedBytes("mesh1")); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// sendRecord sends r to every node in to as a State from a bare memberlist
// holding the gossip key (and nothing else).
func sendRecord(t *testing.T, m *testMesh, r wire.Record, to ...*tnode) {
	t.Helper()
	msg, err := wire.EncodeState(wire.State{Mesh: "mesh1", Holder: "raw", Record: r})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawSender(t, m)
	for _, n := range to {
		if err := raw.SendReliable(mlNode(t, n), msg); err != nil {
			t.Fatal(err)
		}
	}
}

func rejected(t *testing.T, n *tnode, reason string) float64 {
	return metrictest.Sum(t, n.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": reason})
}

// newCA is a fresh self-signed CA (an attacker's, or a cluster's next one).
func newCA(t *testing.T) *identity.CA {
	t.Helper()
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func authOf(t *testing.T, ca *identity.CA, cluster string) *X509Auth {
	t.Helper()
	a, err := NewX509Auth(ca, cluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// withBundle is clusterState with an explicit trust bundle.
func withBundle(cluster string, rev int, bundle []byte) *model.ClusterState {
	c := clusterState(cluster, rev, 2)
	c.TrustBundle = bundle
	return c
}

// A node holding the gossip key but not cluster b's signing key forges
// records of b: new endpoints and a new trust bundle, signed by its own CA
// for b's identity; unsigned; and signed with its own cluster's genuine
// key. Every node rejects each one, counts it by reason, and keeps b's
// genuine state, remote secret and pinned bundle; b's next genuine change
// still arrives.
func TestForgedRecordRejected(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a, b, c := m.start("a", 0, nil), m.start("b", 0, nil), m.start("c", 0, nil)
	nodes := []*tnode{a, b, c}
	for _, n := range nodes { // a and c publish too: b seals its remote secret for them
		n.setLocal(t, 1, 2)
	}
	eventually(t, "b rev 1 everywhere", func() bool { return m.allHave(nodes, "b", 1) })
	m.waitSecrets(t, nodes)
	genuine := a.remote("b")

	evilCA := newCA(t)
	evil := authOf(t, evilCA, "b") // the attacker's CA certifies "b": not b's pinned bundle
	forged := withBundle("b", 66, identity.EncodeCertificatesPEM(evilCA.Roots()))
	forged.NetworkGateways[0].Address = "203.0.113.66"
	gen := uint64(time.Now().Add(time.Hour).UnixNano())
	attacks := []struct {
		name, reason string
		rec          wire.Record
	}{
		{"signed by another CA, carrying its bundle", ReasonBadSignature, forge(t, forged, "b-forged", gen, evil)},
		{"unsigned", ReasonUnsigned, forge(t, forged, "b-forged", gen, nil)},
		{"signed by cluster c's genuine key", ReasonBadSignature, forge(t, forged, "b-forged", gen, authOf(t, m.ca("c"), "c"))},
	}
	for _, at := range attacks {
		t.Run(at.name, func(t *testing.T) {
			before := []float64{rejected(t, a, at.reason), rejected(t, c, at.reason)}
			sendRecord(t, m, at.rec, a, c)
			eventually(t, "a and c count the rejection", func() bool {
				return rejected(t, a, at.reason) > before[0] && rejected(t, c, at.reason) > before[1]
			})
		})
	}
	for _, n := range []*tnode{a, c} {
		got := n.remote("b")
		if revOf(got) != 1 || got.Generation != genuine.Generation || !bytes.Equal(got.TrustBundle, genuine.TrustBundle) ||
			got.NetworkGateways[0].Address != "192.0.2.1" {
			t.Errorf("%s: b changed to rev %d generation %d gateways %v", n.name, revOf(got), got.Generation, got.NetworkGateways)
		}
		if string(n.RemoteSecrets()["b"]) != "kubeconfig-of-b" {
			t.Errorf("%s: b's remote secret changed", n.name)
		}
		if !bytes.Equal(n.pinnedBundle("b"), genuine.TrustBundle) {
			t.Errorf("%s: b's pinned bundle changed", n.name)
		}
	}
	// the genuine owner still gets through, above the forged generation
	b.setLocal(t, 2, 2)
	eventually(t, "b rev 2 everywhere", func() bool { return m.allHave(nodes, "b", 2) })
	for _, n := range nodes {
		n.checkMonotonic(t)
	}
}

// Replaying b's genuine, signed, older record changes nothing: it is stale.
func TestReplayedRecordIgnored(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a, b := m.start("a", 0, nil), m.start("b", 0, nil)
	b.setLocal(t, 1, 2)
	eventually(t, "a has b rev 1", func() bool { return revOf(a.remote("b")) == 1 })
	a.mu.Lock()
	old := a.records["b"].rec
	a.mu.Unlock()
	b.setLocal(t, 2, 2)
	eventually(t, "a has b rev 2", func() bool { return revOf(a.remote("b")) == 2 })
	stale := metrictest.Sum(t, a.reg, "meshgate_federation_stale_states_total", map[string]string{"cluster": "b"})
	sendRecord(t, m, old, a)
	eventually(t, "a counts the replay as stale", func() bool {
		return metrictest.Sum(t, a.reg, "meshgate_federation_stale_states_total", map[string]string{"cluster": "b"}) > stale
	})
	if revOf(a.remote("b")) != 2 {
		t.Fatalf("the replay took a back to rev %d", revOf(a.remote("b")))
	}
	a.checkMonotonic(t)
}

// A withdrawn cluster cannot be revived by a node holding only the gossip
// key: not by joining as a "live owner" of that cluster (its own records
// are rejected), nor by confirming the held generation with a digest, nor
// by replaying the genuine record. Its genuine owner, restarted, brings it
// back.
func TestWithdrawnClusterNotRevivedByForgery(t *testing.T) {
	const window = 500 * time.Millisecond
	m := newTestMesh(t, window)
	a, b := m.start("a", 0, nil), m.start("b", 0, nil)
	b.setLocal(t, 1, 2)
	eventually(t, "a has b", func() bool { return revOf(a.remote("b")) == 1 })
	a.mu.Lock()
	held := a.records["b"].rec
	a.mu.Unlock()
	b.Close()
	eventually(t, "a withdraws b", func() bool { return a.remote("b") == nil })

	// an impostor daemon claiming cluster b, with its own CA, is a live
	// "owner" of b as far as membership goes
	evilCA := newCA(t)
	imp := m.start("b", 0, func(c *Config, o *Options) { c.Seeds = []string{a.Addr()}; o.Auth = authOf(t, evilCA, "b") })
	imp.setLocal(t, 99, 2)
	eventually(t, "a sees the impostor alive", func() bool { return a.sees(imp.name, "alive") })
	digest, _ := wire.EncodeDigest(held.Digest("mesh1", imp.name))
	if err := imp.ml.SendReliable(mlNode(t, a), digest); err != nil {
		t.Fatal(err)
	}
	sendRecord(t, m, held, a) // the genuine record, replayed
	eventually(t, "a rejects the impostor's records", func() bool { return rejected(t, a, ReasonBadSignature) > 0 })
	// the impostor keeps publishing; a keeps b withdrawn
	imp.setLocal(t, 100, 2)
	eventually(t, "a rejects the impostor's next record", func() bool { return rejected(t, a, ReasonBadSignature) > 1 })
	if got := a.remote("b"); got != nil {
		t.Fatalf("b revived by the impostor: rev %d", revOf(got))
	}
	if r := metrictest.Sum(t, a.reg, "meshgate_federation_restores_total", map[string]string{"cluster": "b"}); r != 0 {
		t.Fatalf("restores of b: %v", r)
	}
	imp.Close()

	// the genuine owner (b's CA) brings it back
	b2 := m.start("b", 0, func(c *Config, _ *Options) { c.Seeds = []string{a.Addr()} })
	b2.setLocal(t, 3, 2)
	eventually(t, "a has b rev 3 from the restarted owner", func() bool { return revOf(a.remote("b")) == 3 })
	a.checkMonotonic(t)
}

// A withdrawn cluster whose owner comes back unchanged (a partition that
// healed) returns through a freshly signed generation: the owner re-signs
// when probed for the generation the prober holds.
func TestWithdrawnClusterRestoredByOwnerProbe(t *testing.T) {
	const window = 300 * time.Millisecond
	m := newTestMesh(t, window)
	a := m.start("a", 0, nil)
	b := m.start("b", 1, nil)
	b.setLocal(t, 1, 2)
	eventually(t, "a has b", func() bool { return revOf(a.remote("b")) == 1 })
	gen := b.LocalGeneration()
	m.net.partition(true)
	eventually(t, "a withdraws b", func() bool { return a.remote("b") == nil })
	m.net.partition(false)
	eventually(t, "a has b again", func() bool { return revOf(a.remote("b")) == 1 })
	if g := a.remote("b").Generation; g <= gen {
		t.Fatalf("b restored at generation %d, not above the withdrawn %d", g, gen)
	}
	a.checkMonotonic(t)
}

// A cluster's CA rotation under gossip: the owner first publishes a bundle
// with both roots, signed under the old CA; then signs with a key of the
// new CA and publishes the new bundle alone. Every node accepts both steps
// and pins the new bundle, a node joining afterwards pins it at first
// contact, and a record signed under the retired CA, or a jump to a CA the
// pinned bundle does not hold, is rejected.
func TestCARotationUnderGossip(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	oldCA := m.ca("b")
	authB := m.auth("b")
	a := m.start("a", 0, nil)
	b := m.start("b", 0, func(_ *Config, o *Options) { o.Auth = authB })
	c := m.start("c", 0, nil)
	nodes := []*tnode{a, b, c}
	oldPEM := identity.EncodeCertificatesPEM(oldCA.Roots())
	b.setLocal(t, 1, 2)
	eventually(t, "b rev 1 everywhere", func() bool { return m.allHave(nodes, "b", 1) })

	nextCA := newCA(t)
	bothPEM := slices.Concat(oldPEM, identity.EncodeCertificatesPEM(nextCA.Roots()))
	if err := b.SetLocal(withBundle("b", 2, bothPEM), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both roots pinned everywhere", func() bool {
		return m.allHave(nodes, "b", 2) && bytes.Equal(a.pinnedBundle("b"), bothPEM) && bytes.Equal(c.pinnedBundle("b"), bothPEM)
	})
	if err := authB.Renew(nextCA, "b", time.Hour); err != nil {
		t.Fatal(err)
	}
	newPEM := identity.EncodeCertificatesPEM(nextCA.Roots())
	if err := b.SetLocal(withBundle("b", 3, newPEM), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new bundle pinned everywhere", func() bool {
		return m.allHave(nodes, "b", 3) && bytes.Equal(a.pinnedBundle("b"), newPEM) && bytes.Equal(c.pinnedBundle("b"), newPEM)
	})
	for _, n := range []*tnode{a, c} {
		if r := metrictest.Sum(t, n.reg, "meshgate_federation_trust_pins_total", map[string]string{"cluster": "b", "how": pinRotation}); r != 2 {
			t.Errorf("%s: %v rotations of b's bundle, want 2", n.name, r)
		}
	}
	d := m.start("d", 0, nil)
	eventually(t, "a late node pins the new bundle", func() bool {
		return revOf(d.remote("b")) == 3 && bytes.Equal(d.pinnedBundle("b"), newPEM)
	})

	// the retired CA's key no longer speaks for b
	retired := forge(t, withBundle("b", 4, oldPEM), "b-old", uint64(time.Now().Add(time.Hour).UnixNano()), authOf(t, oldCA, "b"))
	before := rejected(t, a, ReasonBadSignature)
	sendRecord(t, m, retired, a)
	eventually(t, "a rejects the retired CA's record", func() bool { return rejected(t, a, ReasonBadSignature) > before })

	// a jump to a CA outside the pinned bundle: b's own record, accepted by
	// nobody
	before = rejected(t, a, ReasonBadSignature)
	otherCA := newCA(t)
	if err := authB.Renew(otherCA, "b", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLocal(withBundle("b", 5, identity.EncodeCertificatesPEM(otherCA.Roots())), nil); err != nil {
		t.Fatal(err) // consistent in itself: only the peers can tell
	}
	eventually(t, "a rejects the unannounced CA", func() bool { return rejected(t, a, ReasonBadSignature) > before })
	for _, n := range []*tnode{a, c, d} {
		if revOf(n.remote("b")) != 3 || !bytes.Equal(n.pinnedBundle("b"), newPEM) {
			t.Errorf("%s: b at rev %d after an unannounced CA change", n.name, revOf(n.remote("b")))
		}
		n.checkMonotonic(t)
	}
}

// X509Auth refuses a proof whose leaf names another cluster, a tampered
// signature, and anchors that do not hold the issuer.
func TestX509AuthVerify(t *testing.T) {
	ca := newCA(t)
	a := authOf(t, ca, "b")
	anchors := a.Anchors()
	r := wire.Record{Cluster: "b", Origin: "b-1", Generation: 7, Hash: wire.Hash{1}}
	msg := r.SignedBytes("mesh1")
	p, err := a.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Verify("b", anchors, msg, p); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	bad := p
	bad.Sig = slices.Clone(p.Sig)
	bad.Sig[len(bad.Sig)-1] ^= 1
	other := r
	other.Generation++
	for name, err := range map[string]error{
		"another cluster":   a.Verify("c", anchors, msg, p),
		"tampered":          a.Verify("b", anchors, msg, bad),
		"another record":    a.Verify("b", anchors, other.SignedBytes("mesh1"), p),
		"another mesh":      a.Verify("b", anchors, r.SignedBytes("mesh2"), p),
		"other anchors":     a.Verify("b", identity.EncodeCertificatesPEM(newCA(t).Roots()), msg, p),
		"no anchors":        a.Verify("b", nil, msg, p),
		"unsigned":          a.Verify("b", anchors, msg, wire.Proof{}),
		"garbage chain":     a.Verify("b", anchors, msg, wire.Proof{Chain: [][]byte{[]byte("x")}, Sig: p.Sig}),
		"signature, no key": a.Verify("b", anchors, msg, wire.Proof{Sig: p.Sig}),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewX509Auth(ca, "b%c", time.Hour); err == nil {
		t.Error("a cluster id that is no SPIFFE path segment was accepted")
	}
}

// Outside insecure mode a Node needs an Auth; operator pins are checked.
func TestAuthRequired(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	cfg := m.testConfig("a")
	if _, err := New(cfg, Options{Logger: testLogger()}); err == nil {
		t.Fatal("a node without Auth started with encryption on")
	}
	cfg.TrustPins = map[string][]byte{"b": []byte("not PEM")}
	if err := cfg.Validate(); err == nil {
		t.Fatal("a trust pin that is not PEM was accepted")
	}
}

// A node holding the gossip key that has not joined gets no state (and so
// no remote secret) by asking: its request is refused and counted.
func TestRequestFromNonMemberRefused(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a, b := m.start("a", 0, nil), m.start("b", 0, nil)
	b.setLocal(t, 1, 2)
	eventually(t, "a has b", func() bool { return revOf(a.remote("b")) == 1 })
	q, err := wire.EncodeRequest(wire.Request{Mesh: "mesh1", Requester: "raw", Cluster: "b"})
	if err != nil {
		t.Fatal(err)
	}
	sent := metrictest.Sum(t, a.reg, "meshgate_federation_messages_total", map[string]string{"direction": "out", "type": wire.TypeState.String()})
	if err := rawSender(t, m).SendReliable(mlNode(t, a), q); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refuses the request", func() bool { return rejected(t, a, ReasonUnknownRequester) == 1 })
	if n := metrictest.Sum(t, a.reg, "meshgate_federation_messages_total", map[string]string{"direction": "out", "type": wire.TypeState.String()}); n != sent {
		t.Errorf("a sent %v states after the request", n-sent)
	}
}

// Two records of b in flight at once: a rotation record (old and new
// roots) and an older one carrying the old bundle, both signed by the old
// CA. The older passes the generation check first, then the newer is
// stored (offerHook) before the older is verified: the older is stale and
// moves no pin. Before, it was pinned first and found stale after: the pin
// went back to the old bundle and b's records under the new CA were
// refused.
func TestStaleRecordMovesNoPin(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	oldCA := m.ca("b")
	a := m.start("a", 0, nil)
	oldPEM := identity.EncodeCertificatesPEM(oldCA.Roots())
	signer := authOf(t, oldCA, "b")
	gen := uint64(time.Now().UnixNano())
	a.offerRecord(forge(t, withBundle("b", 1, oldPEM), "b-1", gen, signer), "relay")
	if !bytes.Equal(a.pinnedBundle("b"), oldPEM) {
		t.Fatal("b's first record did not pin its bundle")
	}
	nextCA := newCA(t)
	bothPEM := slices.Concat(oldPEM, identity.EncodeCertificatesPEM(nextCA.Roots()))
	older := forge(t, withBundle("b", 2, oldPEM), "b-1", gen+1, signer)
	newer := forge(t, withBundle("b", 3, bothPEM), "b-1", gen+2, signer)
	staleBefore := metrictest.Sum(t, a.reg, "meshgate_federation_stale_states_total", map[string]string{"cluster": "b"})
	a.offerHook = func(r wire.Record) {
		if r.Generation == older.Generation {
			a.offerHook = nil
			a.offerRecord(newer, "relay") // stored while the older one is in flight
		}
	}
	a.offerRecord(older, "relay")
	if g := a.heldGeneration("b"); g != newer.Generation {
		t.Fatalf("a holds b at generation %d, want the newer record's %d", g, newer.Generation)
	}
	if got := a.pinnedBundle("b"); !bytes.Equal(got, bothPEM) {
		t.Fatalf("a stale record moved b's pin (to the old bundle: %v)", bytes.Equal(got, oldPEM))
	}
	if n := metrictest.Sum(t, a.reg, "meshgate_federation_stale_states_total", map[string]string{"cluster": "b"}); n <= staleBefore {
		t.Errorf("the older record was not counted stale (%v)", n)
	}
	// b switches to the new CA: a accepts it.
	newPEM := identity.EncodeCertificatesPEM(nextCA.Roots())
	a.offerRecord(forge(t, withBundle("b", 4, newPEM), "b-1", gen+3, authOf(t, nextCA, "b")), "relay")
	if g := a.heldGeneration("b"); g != gen+3 || !bytes.Equal(a.pinnedBundle("b"), newPEM) {
		t.Fatalf("a refused b's record under the new CA: holds generation %d", g)
	}
}
