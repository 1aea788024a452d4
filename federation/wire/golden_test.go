package wire

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "write missing golden files (existing ones are never rewritten)")

// goldenDir holds frames and bodies of format Version 2 as release d320c62
// (test/e2e/testdata/previous-release) wrote them. They are the
// compatibility promise in bytes: this release must decode each to the
// same value and encode that value to the same bytes. A file here is never
// rewritten: a change that breaks one needs a new Version, spoken next to
// this one for a release (see the package doc, "Compatibility").
const goldenDir = "testdata/v2"

// goldenFrames are the frames of every type, with each optional part.
func goldenFrames() map[string]any {
	h := Hash{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28}
	rec := Record{Cluster: "east", Origin: "east-7f3a", Generation: 1764752400000000000, Hash: h, Body: []byte{1, 2, 3}}
	signed := rec
	signed.Proof = Proof{Chain: [][]byte{[]byte("leaf-der"), []byte("intermediate-der")}, Sig: []byte("signature")}
	return map[string]any{
		"digest":         Digest{Mesh: "mesh1", Cluster: "east", Origin: "east-7f3a", Holder: "west-01", Generation: 42, Hash: h},
		"request":        Request{Mesh: "mesh1", Requester: "west-01", Cluster: "east", Have: 41},
		"request-revive": Request{Mesh: "mesh1", Requester: "west-01", Cluster: "east", Have: 41, Revive: true},
		"request-timed":  Request{Mesh: "mesh1", Requester: "west-01", Cluster: "east", Have: 41, SentAt: 1764752400123456789},
		"state":          State{Mesh: "mesh1", Holder: "west-01", Record: rec},
		"state-signed":   State{Mesh: "mesh1", Holder: "west-01", Record: signed},
		"state-timing": State{Mesh: "mesh1", Holder: "east-7f3a", Record: signed,
			Timing: &Timing{Echo: 1764752400123456789, Received: 1764752400223456789, Sent: 1764752400233456789}},
		"pushpull": PushPull{Mesh: "mesh1", Holder: "west-01", Records: []Record{signed, rec},
			Digests: []Digest{{Mesh: "mesh1", Holder: "west-01", Cluster: "north", Origin: "north-1", Generation: 7, Hash: h}}},
		"meta": Meta{Mesh: "mesh1", Cluster: "east"},
	}
}

func encodeAny(v any) ([]byte, error) {
	switch m := v.(type) {
	case Digest:
		return EncodeDigest(m)
	case Request:
		return EncodeRequest(m)
	case State:
		return EncodeState(m)
	case PushPull:
		return EncodePushPull(m)
	case Meta:
		return EncodeMeta(m)
	}
	return nil, errors.New("no encoder")
}

func decodeLike(v any, b []byte) (any, error) {
	switch v.(type) {
	case Digest:
		return DecodeDigest(b)
	case Request:
		return DecodeRequest(b)
	case State:
		return DecodeState(b, DefaultLimits)
	case PushPull:
		return DecodePushPull(b, DefaultLimits)
	case Meta:
		return DecodeMeta(b)
	}
	return nil, errors.New("no decoder")
}

// golden returns the golden file's bytes; with -update a missing file is
// written from got first.
func golden(t *testing.T, name string, got []byte, hexed bool) []byte {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && *update {
		out := got
		if hexed {
			out = []byte(hexLines(got))
		}
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err != nil {
		t.Fatalf("%v (a new golden file is written with -update)", err)
	}
	if hexed {
		if b, err = hex.DecodeString(strings.Join(strings.Fields(string(b)), "")); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return b
}

// hexLines is b in hex, 32 bytes a line.
func hexLines(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(32, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]) + "\n")
		b = b[n:]
	}
	return sb.String()
}

// TestGoldenFramesV2: every frame type, as release N−1 wrote it, decodes to
// the same value, and that value encodes to the same bytes.
func TestGoldenFramesV2(t *testing.T) {
	for name, v := range goldenFrames() {
		t.Run(name, func(t *testing.T) {
			enc, err := encodeAny(v)
			if err != nil {
				t.Fatal(err)
			}
			want := golden(t, name+".hex", enc, true)
			if !bytes.Equal(enc, want) {
				t.Errorf("this release encodes %s differently from release N−1 (golden %s):\n got %x\nwant %x\n"+
					"a change of the frame format needs a new Version, and N−1's frames decoded for a release", name, name+".hex", enc, want)
			}
			dec, err := decodeLike(v, want)
			if err != nil {
				t.Fatalf("release N−1's %s frame does not decode: %v", name, err)
			}
			if !reflect.DeepEqual(dec, v) {
				t.Errorf("release N−1's %s frame decodes to\n%+v\nwant\n%+v", name, dec, v)
			}
		})
	}
}

// goldenBody is a Body with every field this release writes or reads.
func goldenBody() Body {
	b := BodyFromState(sampleState(), []byte("kubeconfig-in-clear"))
	b.ServiceExports = []ServiceExport{{Name: "reviews", Namespace: "default", Created: "2026-12-01T10:00:00Z"}}
	b.SealingKey = bytes.Repeat([]byte{7}, 32)
	b.SealedAt = 100
	b.SealedSecrets = []SealedSecret{{Recipient: "west", KeyID: []byte{1, 2, 3, 4}, Sealed: []byte("sealed-bytes")}}
	b.UnreachableGateways = []ProbedGateway{{Network: "net-west", Cluster: "west", Address: "192.0.2.9", Port: 15443}}
	b.ObservedAt = time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC).UnixNano()
	b.Lease = &Lease{Holder: "meshgate-0_7f3a", Transitions: 3}
	return b
}

// recordOf is a record of cluster east at generation 200 carrying raw
// (uncompressed JSON), hashed as its owner would.
func recordOf(t testing.TB, raw []byte) Record {
	t.Helper()
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestSpeed)
	_, _ = zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return Record{Cluster: "east", Origin: "east-1", Generation: 200, Hash: sha256.Sum256(raw), Body: z.Bytes()}
}

// TestGoldenBodyV2: release N−1's body JSON is what this release writes for
// the same content, and decodes to the same state and secret part.
func TestGoldenBodyV2(t *testing.T) {
	b := goldenBody()
	raw, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	want := golden(t, "body.json", raw, false)
	if !bytes.Equal(raw, want) {
		t.Errorf("this release writes the body differently from release N−1 (testdata/v2/body.json):\n got %s\nwant %s", raw, want)
	}
	rec := recordOf(t, want)
	got, part, err := DecodeBody(&rec, DefaultLimits)
	if err != nil {
		t.Fatalf("release N−1's body does not decode: %v", err)
	}
	rec2 := recordOf(t, raw)
	again, part2, err := DecodeBody(&rec2, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, again) || !reflect.DeepEqual(part, part2) {
		t.Errorf("release N−1's body decodes to another state than this release's")
	}
	if part.Lease == nil || *part.Lease != *b.Lease || len(got.Services) != 1 || len(got.ServiceExports) != 1 {
		t.Errorf("decoded %+v (lease %+v): lost fields", got, part.Lease)
	}
}

// TestBodyUnknownFieldsIgnored: a body written by a newer release, with
// fields this release does not know at every level (body-newer.json: the
// golden body plus unknown fields in the body, a service, a port, an
// endpoint, the lease, a sealed secret), decodes to exactly what the same
// body without them decodes to: its hash covers the bytes as sent, so
// the record still verifies, and relaying nodes forward those bytes.
func TestBodyUnknownFieldsIgnored(t *testing.T) {
	newer, err := os.ReadFile(filepath.Join(goldenDir, "body-newer.json"))
	if err != nil {
		t.Fatal(err)
	}
	plain := golden(t, "body.json", nil, false)
	recN, recP := recordOf(t, newer), recordOf(t, plain)
	gotN, partN, err := DecodeBody(&recN, DefaultLimits)
	if err != nil {
		t.Fatalf("a newer release's body is refused: %v", err)
	}
	gotP, partP, err := DecodeBody(&recP, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotN, gotP) || !reflect.DeepEqual(partN, partP) {
		t.Errorf("unknown fields changed what the body means:\n%+v\nwant\n%+v", gotN, gotP)
	}
	for _, f := range []string{`"futureField"`, `"futureService"`, `"futurePort"`, `"futureEndpoint"`, `"futureLease"`, `"futureSealed"`} {
		if !bytes.Contains(newer, []byte(f)) {
			t.Errorf("body-newer.json lacks %s", f)
		}
	}
}

// TestMetaExtensionKept: a newer release's node meta (meta-newer.hex: the
// fields of this one, then bytes of its own) decodes to the mesh and
// cluster, keeps the rest, and encodes back to the same bytes, as
// memberlist relays it.
func TestMetaExtensionKept(t *testing.T) {
	want := Meta{Mesh: "mesh1", Cluster: "east", Ext: "\x01\x05zone9"}
	enc, err := EncodeMeta(want)
	if err != nil {
		t.Fatal(err)
	}
	b := golden(t, "meta-newer.hex", enc, true)
	got, err := DecodeMeta(b)
	if err != nil {
		t.Fatalf("a newer release's meta is refused: %v", err)
	}
	if got != want {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	if again, err := EncodeMeta(got); err != nil || !bytes.Equal(again, b) {
		t.Errorf("meta does not encode back to what was received: %x, %v", again, err)
	}
	if _, err := EncodeMeta(Meta{Mesh: "mesh1", Cluster: "east", Ext: strings.Repeat("x", MaxMetaFrame)}); err == nil {
		t.Error("an oversized meta was encoded")
	}
}
