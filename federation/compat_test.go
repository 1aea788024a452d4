package federation

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/test/metrictest"
)

// TestUnknownBodyFieldsRelayed is the compatibility promise of the gossip
// wire format over real sockets: a record published by a newer daemon,
// whose body carries fields this release does not know (at the top, in a
// service, in an endpoint), crosses a node of this release that decodes
// it (and ignores what it does not know) and reaches nodes that cannot
// talk to the publisher, byte for byte: same compressed body, hash and
// proof, so its signature verifies at the far end and the unknown fields
// are there for a newer receiver. Both relay paths are taken: digest, then
// a state request answered by the relay (c, up before the record), and the
// full records of a join's push/pull (d, started after it).
//
//	a (newer) ──▶ b (relay, this release) ──▶ c, d    (a ↮ c, a ↮ d)
func TestUnknownBodyFieldsRelayed(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	b := m.start("b", 1, nil) // the relay, and everyone's seed
	a := m.start("a", 2, nil)
	c := m.start("c", 3, nil)
	m.net.separate(2, 3) // a and c (and later d) only through b
	for _, n := range []*tnode{a, b, c} {
		n.setLocal(t, 1, 2)
	}
	// Sealing settles first: a later re-seal (a new recipient) would
	// publish a's record again from its decoded content, as a's own
	// release would.
	m.waitSecrets(t, []*tnode{a, b, c})

	extra := map[string]json.RawMessage{
		"futureField": json.RawMessage(`{"kind":"from-release-n+1","weights":[3,1]}`),
	}
	gen := a.publishFromNewerRelease(t, extra,
		map[string]json.RawMessage{"futureServiceField": json.RawMessage(`"svc-extension"`)},
		map[string]json.RawMessage{"futureEndpointField": json.RawMessage(`{"drain":true}`)})
	want := a.localRecord()

	eventually(t, "c holds a's record from the newer release (through b)", func() bool { return c.heldGeneration("a") == gen })
	d := m.start("d", 3, nil) // joins b after the record: gets it in the join's push/pull
	eventually(t, "d holds a's record from the newer release (through b)", func() bool { return d.heldGeneration("a") == gen })

	for _, n := range []*tnode{b, c, d} {
		got, _ := n.heldRecord("a")
		if got == nil {
			t.Errorf("%s holds no record of a", n.name)
			continue
		}
		if !bytes.Equal(got.Body, want.Body) || got.Hash != want.Hash || got.Origin != want.Origin ||
			!bytes.Equal(got.Proof.Sig, want.Proof.Sig) || len(got.Proof.Chain) != len(want.Proof.Chain) {
			t.Errorf("%s holds a's generation %d changed on the way: body %d bytes (hash %s), want %d bytes (hash %s)",
				n.name, gen, len(got.Body), got.Hash.Short(), len(want.Body), want.Hash.Short())
			continue
		}
		// Held means verified (every test node checks signatures): the
		// proof over the hash of the body with the unknown fields holds.
		raw := inflate(t, got.Body)
		for _, field := range []string{`"futureField":{"kind":"from-release-n+1","weights":[3,1]}`,
			`"futureServiceField":"svc-extension"`, `"futureEndpointField":{"drain":true}`} {
			if !bytes.Contains(raw, []byte(field)) {
				t.Errorf("%s holds a's body without %s", n.name, field)
			}
		}
		if rs := n.remote("a"); revOf(rs) != 1 || len(rs.Services) != 1 || len(rs.Services[0].Endpoints) != 2 {
			t.Errorf("%s shows a as %+v, want its service with 2 endpoints at revision 1", n.name, rs)
		}
		// What a record can be refused for (unknown_requester, a state
		// request from a node joining that very moment, is not about records).
		for _, reason := range []string{ReasonCorrupt, ReasonOversized, ReasonVersion, ReasonConflict, ReasonUnknownType,
			ReasonUnsigned, ReasonBadSignature, ReasonBadSeal, ReasonFenced, ReasonNotAdmitted} {
			if got := metrictest.Sum(t, n.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": reason}); got != 0 {
				t.Errorf("%s rejected %v messages (%s)", n.name, got, reason)
			}
		}
	}
	for _, n := range []*tnode{c, d} {
		if !m.net.blocked(n.Addr(), a.Addr()) || !m.net.blocked(a.Addr(), n.Addr()) {
			t.Errorf("%s could talk to a directly: the test did not force a relay", n.name)
		}
	}
}

// publishFromNewerRelease publishes tn's current content again as a newer
// release would: with unknown fields added to the body's JSON (top, every
// service, every endpoint), signed over the hash of that JSON. It returns
// the new generation.
func (tn *tnode) publishFromNewerRelease(t *testing.T, top, svc, ep map[string]json.RawMessage) uint64 {
	t.Helper()
	tn.Node.mu.Lock()
	defer tn.Node.mu.Unlock()
	var body map[string]json.RawMessage
	if err := json.Unmarshal(inflate(t, tn.local.rec.Body), &body); err != nil {
		t.Fatal(err)
	}
	var services []map[string]json.RawMessage
	if err := json.Unmarshal(body["services"], &services); err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		var eps []map[string]json.RawMessage
		if err := json.Unmarshal(s["endpoints"], &eps); err != nil {
			t.Fatal(err)
		}
		for _, e := range eps {
			addFields(e, ep)
		}
		s["endpoints"] = mustJSON(t, eps)
		addFields(s, svc)
	}
	body["services"] = mustJSON(t, services)
	addFields(body, top)
	raw := mustJSON(t, body)
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestSpeed)
	_, _ = zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	cp := *tn.local
	cp.rec.Body, cp.rec.Hash = z.Bytes(), wire.Hash(sha256.Sum256(raw))
	tn.local = &cp
	return tn.republishLocked() // a new generation, signed, its digest queued
}

func addFields(obj, fields map[string]json.RawMessage) {
	for k, v := range fields {
		obj[k] = v
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// localRecord is tn's own current record.
func (tn *tnode) localRecord() wire.Record {
	tn.Node.mu.Lock()
	defer tn.Node.mu.Unlock()
	return tn.local.rec
}

// TestNewerMetaRelayed: a member whose node meta a newer release extended
// (bytes after the mesh and cluster) joins a mesh of this release: it is
// admitted (an old decoder that refused the meta would refuse the member
// and cancel every push/pull merge with a node that knows it), its
// records are accepted, and memberlist relays its meta byte for byte to a
// node that cannot talk to it.
func TestNewerMetaRelayed(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	b := m.start("b", 1, nil)
	c := m.start("c", 3, nil)
	m.net.separate(2, 3)
	cfg := m.testConfig("a")
	cfg.Seeds = []string{b.Addr()}
	reg := prometheus.NewRegistry()
	n, err := New(cfg, Options{Logger: testLogger(), Registerer: reg, WrapTransport: m.net.wrap(2), Auth: m.auth("a")})
	if err != nil {
		t.Fatal(err)
	}
	n.meta = append(n.meta, "\x01\x05zone9"...) // read by memberlist from Run on
	newer := slices.Clone(n.meta)
	a := &tnode{Node: n, cluster: "a", reg: reg, maxGen: map[string]uint64{}, arrival: map[string]time.Time{}}
	n.Subscribe(a.observe)
	a.stop = runNode(t, n)
	m.nodes = append(m.nodes, a)
	for _, tn := range []*tnode{a, b, c} {
		tn.setLocal(t, 1, 2)
	}
	for _, tn := range []*tnode{a, b, c} {
		eventually(t, tn.cluster+" everywhere", func() bool { return m.allHave([]*tnode{a, b, c}, tn.cluster, 1) })
	}
	for _, tn := range []*tnode{b, c} {
		eventually(t, tn.name+" sees a alive", func() bool { return tn.sees(a.name, "alive") })
		var got []byte
		for _, mem := range tn.ml.Members() {
			if mem.Name == a.name {
				got = mem.Meta
			}
		}
		if !bytes.Equal(got, newer) {
			t.Errorf("%s holds a's meta as %x, want %x as a sent it", tn.name, got, newer)
		}
		if got := metrictest.Sum(t, tn.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonCorrupt}); got != 0 {
			t.Errorf("%s refused %v messages as corrupt", tn.name, got)
		}
	}
	if !m.net.blocked(c.Addr(), a.Addr()) {
		t.Error("c could talk to a directly: the test did not force a relay")
	}
}
