package wire

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
)

// TestDeltaFrames: a Request with DeltaBase (timed or not) and the State
// answering it with a delta (with and without Timing) round-trip; without
// DeltaBase the frames are the previous format; tags out of order, repeated
// or unknown are refused.
func TestDeltaFrames(t *testing.T) {
	base := Hash{7, 7}
	for _, sent := range []int64{0, 1_700_000_000_000_000_000} {
		rq := Request{Mesh: "mesh1", Requester: "west-1", Cluster: "east", Have: 7, SentAt: sent, DeltaBase: &base}
		b, err := EncodeRequest(rq)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeRequest(b); err != nil || !reflect.DeepEqual(got, rq) {
			t.Fatalf("delta request: %+v %v", got, err)
		}
		plain := rq
		plain.DeltaBase = nil
		pb, _ := EncodeRequest(plain)
		if len(pb) != len(b)-HashLen || b[len(pb)-1-8*min(int(sent), 1)]&flagDelta == 0 {
			t.Fatalf("a request without DeltaBase differs from the previous format by more than the flag and hash:\n%x\n%x", pb, b)
		}
	}
	rec := Record{Cluster: "east", Origin: "east-1", Generation: 9, Hash: Hash{1}, Body: []byte("delta")}
	for _, timing := range []*Timing{nil, {Echo: 10, Received: 20, Sent: 25}} {
		st := State{Mesh: "mesh1", Holder: "east-1", Record: rec, Timing: timing, DeltaBase: &base}
		b, err := EncodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeState(b, DefaultLimits); err != nil || !reflect.DeepEqual(got, st) {
			t.Fatalf("delta state: %+v %v", got, err)
		}
		plain := st
		plain.DeltaBase = nil
		pb, _ := EncodeState(plain)
		if !bytes.Equal(pb, b[:len(b)-1-HashLen]) {
			t.Fatal("a state without DeltaBase is not the previous format")
		}
	}
	st, _ := EncodeState(State{Mesh: "mesh1", Holder: "east-1", Record: rec})
	delta := append([]byte{deltaTag}, base[:]...)
	timing := []byte{timingTag}
	for range 24 {
		timing = append(timing, 1)
	}
	for name, tail := range map[string][]byte{
		"delta before timing": append(append([]byte{}, delta...), timing...),
		"delta twice":         append(append([]byte{}, delta...), delta...),
		"unknown tag":         {3},
	} {
		if _, err := DecodeState(append(append([]byte{}, st...), tail...), DefaultLimits); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want corrupt", name, err)
		}
	}
}

// TestApplyDelta: a delta rebuilds the body from its base, and only that:
// another base, a tampered delta or a body over the limit is refused.
func TestApplyDelta(t *testing.T) {
	base := bytes.Repeat([]byte(`{"address":"10.0.0.1","ready":true},`), 5000)
	raw := bytes.Replace(base, []byte("10.0.0.1"), []byte("10.9.9.9"), 1)
	h := sha256.Sum256(raw)
	d, err := EncodeDelta(base, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) > len(CompressBody(raw))/4 {
		t.Errorf("delta of %d bytes for a one-address change, full %d", len(d), len(CompressBody(raw)))
	}
	got, err := ApplyDelta(base, d, h, DefaultLimits)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("ApplyDelta: %v", err)
	}
	other := bytes.Clone(base)
	copy(other[len(other)-30:], "10.0.0.2") // a base that differs where the delta copies from it
	if _, err := ApplyDelta(other, d, h, DefaultLimits); !errors.Is(err, ErrCorrupt) {
		t.Errorf("another base: %v, want corrupt", err)
	}
	bad := bytes.Clone(d)
	bad[len(bad)/2] ^= 0xff
	if _, err := ApplyDelta(base, bad, h, DefaultLimits); !errors.Is(err, ErrCorrupt) {
		t.Errorf("tampered delta: %v, want corrupt", err)
	}
	if _, err := ApplyDelta(base, d, h, Limits{MaxFrame: 1 << 20, MaxBody: len(raw) / 2}); err == nil {
		t.Error("a rebuilt body over MaxBody was accepted")
	}
}

// TestDecodeRaw: a body decoded from its rebuilt JSON (a delta's result) is
// the body DecodeBody reads from the record, and is checked the same way.
func TestDecodeRaw(t *testing.T) {
	body := BodyFromState(sampleState(), nil)
	z, h, err := EncodeBody(&body)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Record{Cluster: body.Cluster, Generation: 3, Hash: h, Body: z}
	want, wsec, err := DecodeBody(rec, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := RawBody(rec, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	got, gsec, err := DecodeRaw(rec, raw)
	if err != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gsec, wsec) {
		t.Fatalf("DecodeRaw differs from DecodeBody: %v\n%+v\n%+v", err, got, want)
	}
	other := *rec
	other.Cluster = "another"
	if _, _, err := DecodeRaw(&other, raw); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a body of another cluster: %v, want corrupt", err)
	}
	if _, _, err := DecodeRaw(rec, []byte(`{"cluster":`)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("truncated JSON: %v, want corrupt", err)
	}
}
