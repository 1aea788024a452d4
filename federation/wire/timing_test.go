package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestTimedExchange: a timed Request and the State answering it round-trip;
// without SentAt and Timing the frames are exactly the previous format (what
// older decoders read), and the previous format decodes unchanged.
func TestTimedExchange(t *testing.T) {
	rq := Request{Mesh: "mesh1", Requester: "west-1", Cluster: "east", Have: 7, Revive: true, SentAt: 1_700_000_000_000_000_000}
	b, err := EncodeRequest(rq)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeRequest(b); err != nil || got != rq {
		t.Fatalf("timed request: %+v %v", got, err)
	}
	plain := rq
	plain.SentAt = 0
	pb, _ := EncodeRequest(plain)
	if len(pb) != len(b)-8 || !bytes.Equal(pb, append(append([]byte{}, b[:len(pb)-1]...), flagRevive)) {
		t.Fatalf("an untimed request is not the previous format:\n%x\n%x", pb, b)
	}

	rec := Record{Cluster: "east", Origin: "east-1", Generation: 9, Hash: Hash{1}, Body: []byte("xyz")}
	st := State{Mesh: "mesh1", Holder: "east-1", Record: rec, Timing: &Timing{Echo: 10, Received: 20, Sent: 25}}
	b, err = EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeState(b, DefaultLimits); err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("timed state: %+v %v", got, err)
	}
	old, _ := EncodeState(State{Mesh: "mesh1", Holder: "east-1", Record: rec})
	if !bytes.Equal(old, b[:len(b)-25]) {
		t.Fatal("the timing is not a suffix of the previous format")
	}
	if got, err := DecodeState(old, DefaultLimits); err != nil || got.Timing != nil {
		t.Fatalf("untimed state: %+v %v", got, err)
	}

	for name, frame := range map[string][]byte{
		"unknown tag":      append(append([]byte{}, old...), 7),
		"truncated timing": b[:len(b)-3],
		"sent before recv": mustState(t, State{Mesh: "mesh1", Holder: "east-1", Record: rec, Timing: &Timing{Echo: 1, Received: 9, Sent: 8}}),
	} {
		if _, err := DecodeState(frame, DefaultLimits); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	bad := append(append([]byte{}, pb[:len(pb)-1]...), flagTimed, 0x80, 0, 0, 0, 0, 0, 0, 0) // negative time
	if _, err := DecodeRequest(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("negative sentAt: got %v, want ErrCorrupt", err)
	}
}

func mustState(t *testing.T, s State) []byte {
	t.Helper()
	b, err := EncodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestObservedAtTravels: the owner's observation time is in the body (under
// the hash), comes back as ClusterState.ObservedAt, and a body without it
// (an older daemon) decodes with none.
func TestObservedAtTravels(t *testing.T) {
	c := sampleState()
	at := time.Unix(1_700_000_000, 123456789)
	c.ObservedAt = at
	b := BodyFromState(c, nil)
	z, h, err := EncodeBody(&b)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := DecodeBody(&Record{Cluster: "east", Generation: 5, Hash: h, Body: z}, DefaultLimits)
	if err != nil || !out.ObservedAt.Equal(at) {
		t.Fatalf("observedAt: %v %v, want %v", out.ObservedAt, err, at)
	}
	b.ObservedAt = 0
	z, h2, _ := EncodeBody(&b)
	if h2 == h {
		t.Fatal("the hash does not cover observedAt")
	}
	out, _, err = DecodeBody(&Record{Cluster: "east", Generation: 5, Hash: h2, Body: z}, DefaultLimits)
	if err != nil || !out.ObservedAt.IsZero() {
		t.Fatalf("no observedAt: %v %v", out.ObservedAt, err)
	}
	b.ObservedAt = -1
	z, h3, _ := EncodeBody(&b)
	if _, _, err := DecodeBody(&Record{Cluster: "east", Generation: 5, Hash: h3, Body: z}, DefaultLimits); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("negative observedAt: %v", err)
	}
}
