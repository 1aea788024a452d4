package wire

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary frames to every decoder (run it with
// go test ./federation/wire -fuzz FuzzDecode). Decoders must not panic, must
// classify every failure as oversized, corrupt or version, and whatever they
// accept must encode back to the same bytes.
func FuzzDecode(f *testing.F) {
	h := Hash{0xaa}
	rec := Record{Cluster: "east", Origin: "east-1", Generation: 3, Hash: h, Body: []byte("body")}
	dg, _ := EncodeDigest(Digest{Mesh: "m", Cluster: "east", Origin: "east-1", Holder: "west-1", Generation: 1, Hash: h})
	rq, _ := EncodeRequest(Request{Mesh: "m", Requester: "west-1", Cluster: "east", Have: 1})
	st, _ := EncodeState(State{Mesh: "m", Holder: "east-1", Record: rec})
	pp, _ := EncodePushPull(PushPull{Mesh: "m", Holder: "east-1", Records: []Record{rec}, Digests: []Digest{{Mesh: "m", Holder: "east-1", Cluster: "x", Origin: "y"}}})
	mt, _ := EncodeMeta(Meta{Mesh: "m", Cluster: "east"})
	signed := rec
	signed.Proof = Proof{Chain: [][]byte{[]byte("leaf-der"), []byte("ca-der")}, Sig: []byte("sig")}
	sst, _ := EncodeState(State{Mesh: "m", Holder: "east-1", Record: signed})
	body := BodyFromState(sampleState(), []byte("secret"))
	z, bh, _ := EncodeBody(&body)
	full, _ := EncodeState(State{Mesh: "m", Holder: "east-1", Record: Record{Cluster: "east", Origin: "east-1", Generation: 4, Hash: bh, Body: z}})
	trq, _ := EncodeRequest(Request{Mesh: "m", Requester: "west-1", Cluster: "east", Have: 1, SentAt: 1e18})
	tst, _ := EncodeState(State{Mesh: "m", Holder: "east-1", Record: rec, Timing: &Timing{Echo: 1e18, Received: 2e18, Sent: 2e18 + 5}})
	for _, s := range [][]byte{dg, rq, st, sst, pp, mt, full, trq, tst, {}, {Version}, {Version, 9}} {
		f.Add(s)
	}
	// Release N−1's golden frames (testdata/v2), and a state whose body a
	// newer release wrote (unknown fields at every level).
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.hex"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if b, err = hex.DecodeString(strings.Join(strings.Fields(string(b)), "")); err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		f.Add(b)
	}
	if newer, err := os.ReadFile(filepath.Join(goldenDir, "body-newer.json")); err == nil {
		nst, _ := EncodeState(State{Mesh: "m", Holder: "east-1", Record: recordOf(f, newer)})
		f.Add(nst)
	} else {
		f.Fatal(err)
	}
	lim := Limits{MaxFrame: 1 << 16, MaxBody: 1 << 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrOversized) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unclassified error: %v", err)
			}
		}
		if m, err := DecodeDigest(b); err == nil {
			again, err := EncodeDigest(m)
			if err != nil || string(again) != string(b) {
				t.Fatalf("digest does not round-trip: %v", err)
			}
		} else {
			check(err)
		}
		_, err := DecodeRequest(b)
		check(err)
		if m, err := DecodeMeta(b); err == nil {
			again, err := EncodeMeta(m) // extensions kept: memberlist relays meta as is
			if err != nil || string(again) != string(b) {
				t.Fatalf("meta does not round-trip: %v", err)
			}
		} else {
			check(err)
		}
		s, err := DecodeState(b, lim)
		check(err)
		if err == nil {
			_, _, err = DecodeBody(&s.Record, lim)
			check(err)
		}
		p, err := DecodePushPull(b, lim)
		check(err)
		if err == nil {
			for i := range p.Records {
				_, _, err = DecodeBody(&p.Records[i], lim)
				check(err)
			}
		}
	})
}
