package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// A record's Proof travels in State and PushPull frames and decodes to
// what was encoded; its size is what Proof.Size says.
func TestProofRoundTrip(t *testing.T) {
	rec := Record{Cluster: "east", Origin: "east-1", Generation: 9, Hash: Hash{1}, Body: []byte("xyz"),
		Proof: Proof{Chain: [][]byte{bytes.Repeat([]byte{1}, 500), bytes.Repeat([]byte{2}, 400)}, Sig: bytes.Repeat([]byte{3}, 72)}}
	unsigned := rec
	unsigned.Proof = Proof{}
	b, err := EncodeState(State{Mesh: "m", Holder: "east-1", Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := EncodeState(State{Mesh: "m", Holder: "east-1", Record: unsigned})
	if got, want := len(b)-len(u), rec.Proof.Size()-unsigned.Proof.Size(); got != want {
		t.Errorf("the proof adds %d bytes, Size says %d", got, want)
	}
	s, err := DecodeState(b, DefaultLimits)
	if err != nil || !reflect.DeepEqual(s.Record, rec) {
		t.Fatalf("state: %+v %v", s.Record.Proof, err)
	}
	pp, _ := EncodePushPull(PushPull{Mesh: "m", Holder: "h", Records: []Record{rec, unsigned}})
	p, err := DecodePushPull(pp, DefaultLimits)
	if err != nil || !reflect.DeepEqual(p.Records, []Record{rec, unsigned}) {
		t.Fatalf("pushpull: %v", err)
	}
	// bounds
	big := rec
	big.Proof.Chain = make([][]byte, MaxProofCerts+1)
	if _, err := EncodeState(State{Mesh: "m", Holder: "h", Record: big}); err == nil {
		t.Error("too many certificates encoded")
	}
	big.Proof = Proof{Sig: make([]byte, MaxProofSig+1)}
	if _, err := EncodeState(State{Mesh: "m", Holder: "h", Record: big}); err == nil {
		t.Error("an oversized signature encoded")
	}
	// a frame claiming too many certificates is oversized, not a panic
	cut := append([]byte{}, u[:len(u)-2]...)
	cut = append(cut, MaxProofCerts+1, 0)
	if _, err := DecodeState(cut, DefaultLimits); !errors.Is(err, ErrOversized) {
		t.Errorf("decode with %d certificates: %v", MaxProofCerts+1, err)
	}
}

// SignedBytes covers every field a receiver acts on.
func TestSignedBytesCoverTheRecord(t *testing.T) {
	base := Record{Cluster: "east", Origin: "east-1", Generation: 9, Hash: Hash{1}}
	ref := base.SignedBytes("m")
	for name, r := range map[string]Record{
		"cluster":    {Cluster: "west", Origin: "east-1", Generation: 9, Hash: Hash{1}},
		"origin":     {Cluster: "east", Origin: "east-2", Generation: 9, Hash: Hash{1}},
		"generation": {Cluster: "east", Origin: "east-1", Generation: 10, Hash: Hash{1}},
		"hash":       {Cluster: "east", Origin: "east-1", Generation: 9, Hash: Hash{2}},
		"boundary":   {Cluster: "eas", Origin: "teast-1", Generation: 9, Hash: Hash{1}},
	} {
		if bytes.Equal(r.SignedBytes("m"), ref) {
			t.Errorf("%s: not covered", name)
		}
	}
	if bytes.Equal(base.SignedBytes("other"), ref) {
		t.Error("mesh: not covered")
	}
	withBody := base
	withBody.Body, withBody.Proof = []byte("relayed unchanged"), Proof{Sig: []byte("x")}
	if !bytes.Equal(withBody.SignedBytes("m"), ref) {
		t.Error("the body and proof themselves are not signed (the hash binds the body)")
	}
}

// A Request's revive flag round-trips; unknown flags are corrupt.
func TestRequestReviveFlag(t *testing.T) {
	for _, revive := range []bool{false, true} {
		q := Request{Mesh: "m", Requester: "west-1", Cluster: "east", Have: 5, Revive: revive}
		b, err := EncodeRequest(q)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeRequest(b); err != nil || got != q {
			t.Fatalf("revive %v: %+v %v", revive, got, err)
		}
		b[len(b)-1] |= 0x80
		if _, err := DecodeRequest(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("unknown flag: %v", err)
		}
	}
}
