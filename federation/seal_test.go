package federation

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/logtest"
	"github.com/meshgate/meshgate/test/metrictest"
)

// eavesdropper is a bare memberlist holding the gossip key, with node meta
// naming mesh1 and cluster, that keeps every message it receives (states,
// digests, push/pull) as bytes.
type eavesdropper struct {
	ml   *memberlist.Memberlist
	meta []byte
	mu   sync.Mutex
	msgs [][]byte
}

func newEavesdropper(t *testing.T, m *testMesh, name, cluster string) *eavesdropper {
	t.Helper()
	keys, err := LoadKeyringFile(m.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	e := &eavesdropper{}
	if e.meta, err = wire.EncodeMeta(wire.Meta{Mesh: "mesh1", Cluster: cluster}); err != nil {
		t.Fatal(err)
	}
	c := memberlist.DefaultLocalConfig()
	c.Name, c.BindAddr, c.BindPort = name, "127.0.0.1", 0
	c.SecretKey = keys[0]
	c.Logger, c.LogOutput = nil, io.Discard
	c.Delegate = e
	c.DelegateProtocolVersion, c.DelegateProtocolMin, c.DelegateProtocolMax = wire.Version, wire.Version, wire.Version
	if e.ml, err = memberlist.Create(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.ml.Shutdown() })
	return e
}

func (e *eavesdropper) keep(b []byte) {
	e.mu.Lock()
	e.msgs = append(e.msgs, bytes.Clone(b))
	e.mu.Unlock()
}

func (e *eavesdropper) NodeMeta(int) []byte                  { return e.meta }
func (e *eavesdropper) NotifyMsg(b []byte)                   { e.keep(b) }
func (e *eavesdropper) GetBroadcasts(int, int) [][]byte      { return nil }
func (e *eavesdropper) LocalState(bool) []byte               { return nil }
func (e *eavesdropper) MergeRemoteState(b []byte, join bool) { e.keep(b) }

// records decodes every record the eavesdropper received (states and
// push/pulls), newest last.
func (e *eavesdropper) records(t *testing.T) []wire.Record {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []wire.Record
	for _, b := range e.msgs {
		_, typ, err := wire.Header(b)
		if err != nil {
			continue
		}
		switch typ {
		case wire.TypeState:
			if st, err := wire.DecodeState(b, wire.DefaultLimits); err == nil {
				out = append(out, st.Record)
			}
		case wire.TypePushPull:
			if pp, err := wire.DecodePushPull(b, wire.DefaultLimits); err == nil {
				out = append(out, pp.Records...)
			}
		}
	}
	return out
}

// everything is all the bytes the eavesdropper holds, with every record's
// body decompressed next to it and every string of that JSON base64-decoded
// too (byte fields travel as base64): what a search for a secret must
// cover.
func (e *eavesdropper) everything(t *testing.T) []byte {
	t.Helper()
	var all []byte
	e.mu.Lock()
	for _, b := range e.msgs {
		all = append(all, b...)
	}
	e.mu.Unlock()
	for _, r := range e.records(t) {
		raw := inflate(t, r.Body)
		all = append(all, raw...)
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		all = logtest.JSONStrings(all, v)
	}
	return all
}

// newest keeps each cluster's newest record.
func newest(recs []wire.Record) map[string]wire.Record {
	out := map[string]wire.Record{}
	for _, r := range recs {
		if r.Generation > out[r.Cluster].Generation {
			out[r.Cluster] = r
		}
	}
	return out
}

func inflate(t *testing.T, z []byte) []byte {
	t.Helper()
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A holder of the gossip key that joins the mesh receives every record
// (the join's push/pull, and the state requests a member may send), but
// no remote secret: each is sealed for the other clusters' keys only, the
// bytes it holds contain no secret, and no envelope opens with its own key.
// Publishing a record of b with its own sealing key (it cannot sign for b)
// gets it nothing either: every node keeps sealing for b's genuine key.
func TestSealedSecretsUnreadableByAJoinedKeyHolder(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	nodes := []*tnode{m.start("a", 0, nil), m.start("b", 0, nil), m.start("c", 0, nil)}
	for _, n := range nodes {
		n.setLocal(t, 1, 2)
	}
	m.waitSecrets(t, nodes)

	eve := newEavesdropper(t, m, "eve", "eve")
	if _, err := eve.ml.Join([]string{nodes[0].Addr()}); err != nil {
		t.Fatalf("a gossip key holder cannot join: %v", err)
	}
	// A member may ask for states: it is answered (by a node that knows it
	// as a member already; asked again until every cluster's converged
	// record, sealed for the two others, is held).
	var asked time.Time
	eventually(t, "eve holds the converged records of a, b and c", func() bool {
		latest := newest(eve.records(t))
		done := true
		for _, c := range []string{"a", "b", "c"} {
			r, ok := latest[c]
			if ok {
				_, part, err := wire.DecodeBody(&r, wire.DefaultLimits)
				ok = err == nil && len(part.Sealed) == 2
			}
			done = done && ok
		}
		if !done && time.Since(asked) > 100*time.Millisecond {
			asked = time.Now()
			for _, n := range nodes {
				for _, c := range []string{"a", "b", "c"} {
					q, err := wire.EncodeRequest(wire.Request{Mesh: "mesh1", Requester: "eve", Cluster: c})
					if err != nil {
						t.Fatal(err)
					}
					_ = eve.ml.SendReliable(mlNode(t, n), q) // refused until n knows eve: asked again
				}
			}
		}
		return done
	})

	eveKey, err := newSealer(nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	all := eve.everything(t)
	if bytes.Contains(all, []byte("kubeconfig-of-")) {
		t.Fatal("the joined key holder holds a remote secret in clear")
	}
	latest := newest(eve.records(t))
	for _, r := range eve.records(t) {
		_, part, err := wire.DecodeBody(&r, wire.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if len(part.Plain) != 0 || len(part.SealingKey) == 0 {
			t.Errorf("record of %s: plaintext %d bytes, sealing key %d bytes", r.Cluster, len(part.Plain), len(part.SealingKey))
		}
		var to []string
		for _, e := range part.Sealed {
			to = append(to, e.Recipient)
			if _, err := eveKey.open("mesh1", r.Cluster, "eve", part.SealedAt, e, 1<<20); err == nil {
				t.Errorf("record of %s: the envelope for %s opens with another key", r.Cluster, e.Recipient)
			}
		}
		want := slices.DeleteFunc([]string{"a", "b", "c"}, func(c string) bool { return c == r.Cluster })
		if r.Generation == latest[r.Cluster].Generation && !slices.Equal(to, want) {
			t.Errorf("record of %s sealed for %v, want %v", r.Cluster, to, want)
		}
	}
	// The same search finds a secret that travels in clear (what daemons
	// did before sealing): the assertion above is not vacuous.
	plain := wire.BodyFromState(clusterState("a", 1, 2), []byte("kubeconfig-of-a"))
	z, _, err := wire.EncodeBody(&plain)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(inflate(t, z), &v); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logtest.JSONStrings(nil, v), []byte("kubeconfig-of-a")) {
		t.Fatal("the search misses a secret in clear")
	}

	// eve publishes a record of b carrying its own sealing key, signed by a
	// CA of its own: refused; a and c keep sealing for b's genuine key.
	evilCA := newCA(t)
	forged := withBundle("b", 7, identity.EncodeCertificatesPEM(evilCA.Roots()))
	body := wire.BodyFromState(forged, nil)
	body.SealingKey = eveKey.pub
	rec := signedRecord(t, &body, "b-forged", uint64(time.Now().Add(time.Hour).UnixNano()), authOf(t, evilCA, "b"))
	before := []float64{rejected(t, nodes[0], ReasonBadSignature), rejected(t, nodes[2], ReasonBadSignature)}
	sendRecord(t, m, rec, nodes[0], nodes[2])
	eventually(t, "a and c refuse the record", func() bool {
		return rejected(t, nodes[0], ReasonBadSignature) > before[0] && rejected(t, nodes[2], ReasonBadSignature) > before[1]
	})
	for _, n := range []*tnode{nodes[0], nodes[2]} {
		n.Node.mu.Lock()
		got := n.local.sealedFor["b"]
		n.Node.mu.Unlock()
		if want := hex.EncodeToString(nodes[1].sealer.id); got != want {
			t.Errorf("%s seals for b's key %s, want b's genuine %s", n.cluster, got, want)
		}
	}
}

// signedRecord is cluster body.Cluster's record at gen with body as is.
func signedRecord(t *testing.T, body *wire.Body, origin string, gen uint64, signer *X509Auth) wire.Record {
	t.Helper()
	z, h, err := wire.EncodeBody(body)
	if err != nil {
		t.Fatal(err)
	}
	r := wire.Record{Cluster: body.Cluster, Origin: origin, Generation: gen, Hash: h, Body: z}
	if r.Proof, err = signer.Sign(r.SignedBytes("mesh1")); err != nil {
		t.Fatal(err)
	}
	return r
}

func secretResults(t *testing.T, n *tnode, cluster, result string) float64 {
	return metrictest.Sum(t, n.reg, "meshgate_federation_remote_secrets_total", map[string]string{"cluster": cluster, "result": result})
}

// Envelopes are bound to their recipient and sealing generation, and
// authenticated: an envelope moved to another generation, one sealed for
// another recipient and relabelled, and a tampered one do not open
// (rejected, reason bad_seal), even inside a record its owner signed; the
// recipient keeps the secret it held. One sealed for a previous key of the
// recipient is kept aside (old_key) without a rejection.
func TestSealedSecretReplayAndTamperRefused(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("a", 0, nil)
	a.setLocal(t, 1, 2)
	x := authOf(t, m.ca("x"), "x") // cluster x's genuine signer (no daemon of x runs)
	self := []sealRecipient{{cluster: "a", key: a.sealer.pub}}
	base := uint64(time.Now().UnixNano())
	record := func(gen, sealedAt uint64, envs []wire.SealedSecret) wire.Record {
		body := wire.BodyFromState(withBundle("x", 1, identity.EncodeCertificatesPEM(m.ca("x").Roots())), nil)
		body.SealingKey, body.SealedAt, body.SealedSecrets = a.sealer.pub, sealedAt, envs // any key: x's own is not used here
		return signedRecord(t, &body, "x-1", gen, x)
	}
	seal := func(sealedAt uint64, secret string, to ...sealRecipient) []wire.SealedSecret {
		envs, err := sealSecret("mesh1", "x", sealedAt, []byte(secret), to)
		if err != nil {
			t.Fatal(err)
		}
		return envs
	}
	held := func() string { return string(a.RemoteSecrets()["x"]) }
	heldGen := func() uint64 { return a.heldGeneration("x") }

	first := seal(base+1, "kubeconfig-of-x", self...)
	sendRecord(t, m, record(base+1, base+1, first), a)
	eventually(t, "a opens x's remote secret", func() bool { return held() == "kubeconfig-of-x" })
	if n := secretResults(t, a, "x", secretOpened); n != 1 {
		t.Fatalf("remote_secrets_total{x,opened} = %v", n)
	}

	tampered := seal(base+4, "kubeconfig-of-x-4", self...)
	tampered[0].Sealed[len(tampered[0].Sealed)-1] ^= 1
	relabelled := seal(base+3, "kubeconfig-of-x-3", sealRecipient{cluster: "c", key: a.sealer.pub}) // for c, under a's key
	relabelled[0].Recipient = "a"
	cases := []struct {
		name string
		rec  wire.Record
	}{
		{"an envelope of generation 1 replayed at generation 2", record(base+2, base+2, first)},
		{"an envelope sealed for c relabelled for a", record(base+3, base+3, relabelled)},
		{"a tampered ciphertext", record(base+4, base+4, tampered)},
	}
	for i, tc := range cases {
		before := rejected(t, a, ReasonBadSeal)
		sendRecord(t, m, tc.rec, a)
		eventually(t, tc.name+": accepted, its secret refused", func() bool {
			return heldGen() == tc.rec.Generation && rejected(t, a, ReasonBadSeal) == before+1
		})
		if held() != "kubeconfig-of-x" {
			t.Errorf("%s: a's secret of x is now %q", tc.name, held())
		}
		if n := secretResults(t, a, "x", secretOpened); n != 1 {
			t.Errorf("case %d: remote_secrets_total{x,opened} = %v", i, n)
		}
	}

	old, err := newSealer(nil, "", "") // a's key before a restart
	if err != nil {
		t.Fatal(err)
	}
	stale := seal(base+5, "kubeconfig-of-x-5", sealRecipient{cluster: "a", key: old.pub})
	before := rejected(t, a, ReasonBadSeal)
	sendRecord(t, m, record(base+5, base+5, stale), a)
	eventually(t, "an envelope for a's previous key is set aside", func() bool { return secretResults(t, a, "x", secretOldKey) == 1 })
	if rejected(t, a, ReasonBadSeal) != before || held() != "kubeconfig-of-x" {
		t.Errorf("old key: bad_seal +%v, secret %q", rejected(t, a, ReasonBadSeal)-before, held())
	}

	fresh := seal(base+6, "kubeconfig-of-x-6", self...)
	sendRecord(t, m, record(base+6, base+6, fresh), a)
	eventually(t, "x's next sealed secret opens", func() bool { return held() == "kubeconfig-of-x-6" })
}

// The local secret follows the remote set: sealed for a cluster when its
// daemon appears, re-sealed for its new key when it restarts, and no longer
// sealed for it once it is withdrawn.
func TestResealOnJoinRestartAndWithdrawal(t *testing.T) {
	const window = time.Second
	m := newTestMesh(t, window)
	a, b := m.start("a", 0, nil), m.start("b", 0, nil)
	a.setLocal(t, 1, 2)
	b.setLocal(t, 1, 2)
	m.waitSecrets(t, []*tnode{a, b})
	sealedFor := func(n *tnode) map[string]string {
		n.Node.mu.Lock()
		defer n.Node.mu.Unlock()
		return n.local.sealedFor
	}
	c := m.start("c", 0, nil)
	c.setLocal(t, 1, 2)
	m.waitSecrets(t, []*tnode{a, b, c})
	if got := a.SealedFor(); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("a seals for %v", got)
	}

	c.Close()
	c2 := m.start("c", 0, nil)
	c2.setLocal(t, 2, 2)
	eventually(t, "a re-seals for c's new key", func() bool {
		return sealedFor(a)["c"] == hex.EncodeToString(c2.sealer.id)
	})
	eventually(t, "the restarted c opens a's secret", func() bool { return string(c2.RemoteSecrets()["a"]) == "kubeconfig-of-a" })

	c2.Close()
	eventually(t, "a withdraws c and stops sealing for it", func() bool {
		_, ok := sealedFor(a)["c"]
		return a.remote("c") == nil && !ok
	})
	if got := a.SealedFor(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("a seals for %v after c's withdrawal", got)
	}
	if g := metrictest.Sum(t, a.reg, "meshgate_federation_sealed_recipients", map[string]string{"state": "sealed"}); g != 1 {
		t.Errorf("sealed_recipients{sealed} = %v", g)
	}
}

// A daemon that predates sealing (its record has no sealing key and its
// secret in clear) still federates: its secret is read, counted
// plaintext, and it gets no secret from the others (fail closed), which
// is logged once and shown by sealed_recipients{no_sealing_key}.
func TestOlderDaemonWithoutSealingKey(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("a", 0, nil)
	a.setLocal(t, 1, 2)
	old := newEavesdropper(t, m, "old-1", "old") // a live member of cluster old
	if _, err := old.ml.Join([]string{a.Addr()}); err != nil {
		t.Fatal(err)
	}
	body := wire.BodyFromState(withBundle("old", 1, identity.EncodeCertificatesPEM(m.ca("old").Roots())), []byte("kubeconfig-of-old"))
	sendRecord(t, m, signedRecord(t, &body, "old-1", uint64(time.Now().UnixNano()), authOf(t, m.ca("old"), "old")), a)
	eventually(t, "a reads old's secret in clear", func() bool { return string(a.RemoteSecrets()["old"]) == "kubeconfig-of-old" })
	eventually(t, "a counts old as a cluster it cannot seal for", func() bool {
		return metrictest.Sum(t, a.reg, "meshgate_federation_sealed_recipients", map[string]string{"state": "no_sealing_key"}) == 1
	})
	if n := secretResults(t, a, "old", secretPlaintext); n != 1 {
		t.Errorf("remote_secrets_total{old,plaintext} = %v", n)
	}
	a.Node.mu.Lock()
	rec := a.local.rec
	a.Node.mu.Unlock()
	_, part, err := wire.DecodeBody(&rec, wire.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(part.Sealed) != 0 || len(part.Plain) != 0 || len(a.SealedFor()) != 0 {
		t.Errorf("a's record carries %d envelopes and %d plaintext bytes for an older daemon", len(part.Sealed), len(part.Plain))
	}
}

// A record whose sealing key is not an X25519 key is rejected naming the
// field.
func TestBadSealingKeyRejected(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("a", 0, nil)
	body := wire.BodyFromState(withBundle("x", 1, identity.EncodeCertificatesPEM(m.ca("x").Roots())), nil)
	body.SealingKey = []byte("short")
	sendRecord(t, m, signedRecord(t, &body, "x-1", uint64(time.Now().UnixNano()), authOf(t, m.ca("x"), "x")), a)
	eventually(t, "a rejects the record", func() bool { return rejected(t, a, ReasonCorrupt) == 1 })
	if a.RemoteSecrets()["x"] != nil || len(a.RemoteStates()) != 0 {
		t.Error("a took a record with a bad sealing key")
	}
}

// remoteSecretFixture is a remote secret of realistic size: a v1 Secret
// (YAML) holding a kubeconfig with a CA certificate and a service-account
// token (a JWT of about 900 bytes), base64 in the Secret's data.
func remoteSecretFixture(t testing.TB) []byte {
	ca := identity.EncodeCertificatesPEM(newCAOf(t).Roots())
	tok := "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9." + strings.Repeat("eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Ii", 13) + "." +
		strings.Repeat("Zm9vYmFy0123456789-_", 17)
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster-b\n  cluster:\n    server: https://10.0.0.2:6443\n" +
		"    certificate-authority-data: " + b64(ca) + "\ncontexts:\n- name: cluster-b\n  context: {cluster: cluster-b, user: cluster-b}\n" +
		"current-context: cluster-b\nusers:\n- name: cluster-b\n  user:\n    token: " + tok + "\n"
	return []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: istio-remote-secret-cluster-b\n  namespace: istio-system\n" +
		"  labels: {istio/multiCluster: \"true\"}\n  annotations: {networking.istio.io/cluster: cluster-b}\n" +
		"data:\n  cluster-b: " + b64([]byte(kc)) + "\n")
}

func newCAOf(t testing.TB) *identity.CA {
	t.Helper()
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestFigureSealedBytes: what sealing adds to a record per recipient, for a
// realistic remote secret, on the wire (compressed body).
func TestFigureSealedBytes(t *testing.T) {
	secret := remoteSecretFixture(t)
	st := clusterState("a", 1, 10)
	own, err := newSealer(nil, "", "")
	if err != nil {
		t.Fatal(err)
	}
	size := func(k int) int {
		body := wire.BodyFromState(st, nil)
		var to []sealRecipient
		for i := range k {
			s, err := newSealer(nil, "", "")
			if err != nil {
				t.Fatal(err)
			}
			to = append(to, sealRecipient{cluster: "c" + strconv.Itoa(i), key: s.pub})
		}
		body.SealingKey, body.SealedAt = own.pub, 1
		var err error
		if body.SealedSecrets, err = sealSecret("mesh1", "a", 1, secret, to); err != nil {
			t.Fatal(err)
		}
		z, _, err := wire.EncodeBody(&body)
		if err != nil {
			t.Fatal(err)
		}
		return len(z)
	}
	plain := wire.BodyFromState(st, secret)
	zp, _, _ := wire.EncodeBody(&plain)
	none, one, ten := size(0), size(1), size(10)
	t.Logf("FIGURE sealed remote secret: secret %d B; record body %d B with no envelope, %d B with 1 (+%d), %d B with 10 (+%d per recipient); in clear (before sealing) %d B",
		len(secret), none, one, one-none, ten, (ten-none)/10, len(zp))
	if per := (ten - none) / 10; per <= 0 || per > len(secret)+256 {
		t.Errorf("%d bytes per recipient for a %d-byte secret", per, len(secret))
	}
}

// BenchmarkSealSecret is what an owner pays to seal a realistic remote
// secret for 1 and 10 recipients (compressed once, then HPKE per
// recipient).
func BenchmarkSealSecret(b *testing.B) {
	secret := remoteSecretFixture(b)
	for _, k := range []int{1, 10} {
		b.Run(strconv.Itoa(k)+"-recipients", func(b *testing.B) {
			var to []sealRecipient
			for i := range k {
				r, err := newSealer(nil, "", "")
				if err != nil {
					b.Fatal(err)
				}
				to = append(to, sealRecipient{cluster: "c" + strconv.Itoa(i), key: r.pub})
			}
			for b.Loop() {
				if _, err := sealSecret("mesh1", "a", 1, secret, to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenSecret is what a recipient pays per record carrying its
// envelope.
func BenchmarkOpenSecret(b *testing.B) {
	secret := remoteSecretFixture(b)
	r, err := newSealer(nil, "", "")
	if err != nil {
		b.Fatal(err)
	}
	envs, err := sealSecret("mesh1", "a", 1, secret, []sealRecipient{{cluster: "b", key: r.pub}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := r.open("mesh1", "a", "b", 1, envs[0], 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// A change of the local state alone (new endpoints) publishes the envelopes
// of the last sealing again, at the new generation: no sealing, and the
// recipients still open them.
func TestStateChangeKeepsEnvelopes(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a, b := m.start("a", 0, nil), m.start("b", 0, nil)
	a.setLocal(t, 1, 2)
	b.setLocal(t, 1, 2)
	m.waitSecrets(t, []*tnode{a, b})
	sealedAt := func() (uint64, uint64) {
		a.Node.mu.Lock()
		defer a.Node.mu.Unlock()
		return a.local.sealedAt, a.local.rec.Generation
	}
	before, gen1 := sealedAt()
	opened := secretResults(t, b, "a", secretOpened)
	a.setLocal(t, 2, 3)
	eventually(t, "b has a's rev 2", func() bool { return revOf(b.remote("a")) == 2 })
	after, gen2 := sealedAt()
	if after != before || gen2 <= gen1 {
		t.Errorf("sealed at %d, then %d (generations %d, %d): re-sealed for a state change", before, after, gen1, gen2)
	}
	if n := secretResults(t, b, "a", secretOpened); n <= opened || string(b.RemoteSecrets()["a"]) != "kubeconfig-of-a" {
		t.Errorf("b opened a's envelope %v more times, holds %q", n-opened, b.RemoteSecrets()["a"])
	}
}
