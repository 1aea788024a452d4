package wire

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/json"
	"io"
	"testing"
)

// TestLeaseIsCompatible: the publishing lease is a Body JSON field. A body
// without one encodes exactly as before the field existed (no "lease" key:
// the hashes and signatures of records without it are unchanged); a body
// with one round-trips through DecodeBody; and a decoder that predates the
// field (here: a struct without it, as older daemons have) still decodes
// the rest of the body.
func TestLeaseIsCompatible(t *testing.T) {
	body := BodyFromState(sampleState(), nil)
	z, _, err := EncodeBody(&body)
	if err != nil {
		t.Fatal(err)
	}
	if raw := inflate(t, z); bytes.Contains(raw, []byte(`"lease"`)) {
		t.Fatalf("a body without a lease encodes a lease key: %s", raw)
	}

	body.Lease = &Lease{Holder: "meshgate-7d9f-x_0a1b", Transitions: 3}
	z, h, err := EncodeBody(&body)
	if err != nil {
		t.Fatal(err)
	}
	r := Record{Cluster: body.Cluster, Origin: "n1", Generation: 7, Hash: h, Body: z}
	_, part, err := DecodeBody(&r, Limits{MaxFrame: 1 << 20, MaxBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if part.Lease == nil || *part.Lease != *body.Lease {
		t.Fatalf("decoded lease %+v, want %+v", part.Lease, body.Lease)
	}

	raw := inflate(t, z)
	if sha256.Sum256(raw) != h {
		t.Fatal("the hash does not cover the bytes sent")
	}
	var older struct { // Body as a daemon that predates leases decodes it
		Cluster    string    `json:"cluster"`
		Services   []Service `json:"services"`
		SealingKey []byte    `json:"sealingKey"`
	}
	if err := json.Unmarshal(raw, &older); err != nil {
		t.Fatalf("an older decoder fails on a body with a lease: %v", err)
	}
	if older.Cluster != body.Cluster || len(older.Services) != len(body.Services) {
		t.Fatalf("an older decoder read %+v", older)
	}

	body.Lease = &Lease{Holder: "has space", Transitions: 1}
	z, h, _ = EncodeBody(&body)
	r = Record{Cluster: body.Cluster, Origin: "n1", Generation: 7, Hash: h, Body: z}
	if _, _, err := DecodeBody(&r, Limits{MaxFrame: 1 << 20, MaxBody: 1 << 20}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("lease.holder")) {
		t.Fatalf("a bad lease holder: err = %v, want one naming lease.holder", err)
	}
}

func TestLeaseOlder(t *testing.T) {
	seen := Lease{Holder: "b", Transitions: 2}
	for _, c := range []struct {
		l    Lease
		want bool
	}{
		{Lease{"a", 1}, true}, {Lease{"a", 2}, true}, {Lease{"b", 2}, false}, {Lease{"a", 3}, false},
	} {
		if got := c.l.Older(seen); got != c.want {
			t.Errorf("%+v.Older(%+v) = %v, want %v", c.l, seen, got, c.want)
		}
	}
}

func inflate(t *testing.T, z []byte) []byte {
	t.Helper()
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
