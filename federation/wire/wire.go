package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the wire format version written in the first byte of every frame.
// Version 2 added the Proof to every Record.
const Version byte = 2

// Type is the message type, the second byte of every frame.
type Type byte

// Message types.
const (
	TypeDigest   Type = 1
	TypeRequest  Type = 2
	TypeState    Type = 3
	TypePushPull Type = 4
	TypeMeta     Type = 5
)

func (t Type) String() string {
	switch t {
	case TypeDigest:
		return "digest"
	case TypeRequest:
		return "request"
	case TypeState:
		return "state"
	case TypePushPull:
		return "pushpull"
	case TypeMeta:
		return "meta"
	}
	return fmt.Sprintf("unknown(%d)", byte(t))
}

// Size limits.
const (
	// MaxNameLen bounds mesh ids, cluster ids and node names.
	MaxNameLen = 128
	// HashLen is the length of a content hash (SHA-256).
	HashLen = 32
	// MaxPacketFrame bounds Digest and Request frames so that one always fits
	// a single ~1400-byte UDP packet with memberlist's framing around it.
	MaxPacketFrame = 1024
	// MaxRecords bounds the records and digests of one push/pull.
	MaxRecords = 4096
	// MaxProofCerts, MaxProofCert and MaxProofSig bound a Record's Proof.
	MaxProofCerts = 8
	MaxProofCert  = 8 << 10
	MaxProofSig   = 1 << 10
)

// Errors returned (wrapped) by decoders.
var (
	ErrOversized = errors.New("oversized")
	ErrCorrupt   = errors.New("corrupt")
	ErrVersion   = errors.New("unsupported version")
)

// Limits bounds the large frames (State, PushPull) and decompressed bodies.
type Limits struct {
	// MaxFrame is the largest State or PushPull frame accepted (bytes on the wire).
	MaxFrame int
	// MaxBody is the largest decompressed body of one Record.
	MaxBody int
}

// DefaultLimits fit under memberlist's own 20 MiB limits for user messages
// and push/pull state.
var DefaultLimits = Limits{MaxFrame: 16 << 20, MaxBody: 64 << 20}

// Hash is a SHA-256 content hash.
type Hash [HashLen]byte

// Short is the first 8 hex digits of h, for logs.
func (h Hash) Short() string { return fmt.Sprintf("%x", h[:4]) }

// Digest announces that Holder holds generation Generation of Cluster's
// state, produced by node Origin with content hash Hash.
type Digest struct {
	Mesh       string
	Cluster    string
	Origin     string
	Holder     string
	Generation uint64
	Hash       Hash
}

// Request asks a holder for Cluster's state: the holder answers with a State
// when it holds a generation newer than Have, else with a Digest. Revive
// says the requester withdrew the cluster and asks its owner to re-sign
// (publish a newer generation) so that it may show it again.
type Request struct {
	Mesh      string
	Requester string
	Cluster   string
	Have      uint64
	Revive    bool
	// SentAt, when not zero, is the requester's clock (unix nanoseconds)
	// as it sent the request: the holder answers a State with Timing, from
	// which the requester estimates the clock offset between them (see
	// Timing). Only a holder whose records carry observedAt may be sent it:
	// older decoders refuse the flag.
	SentAt int64
	// DeltaBase, when set, is the hash of the body the requester holds (at
	// generation Have): the holder may answer with a State whose body is a
	// delta against it (State.DeltaBase). Only a holder whose records say
	// Deltas may be sent it: older decoders refuse the flag.
	DeltaBase *Hash
}

// Timing closes a timed exchange (NTP-style): the requester's SentAt
// echoed, and the holder's clock as the request arrived and as the answer
// left (unix nanoseconds). With the requester's receive time t4:
// offset = ((Received-Echo) + (Sent-t4)) / 2, delay = (t4-Echo) - (Sent-Received),
// and the offset is off by at most delay/2.
type Timing struct {
	Echo, Received, Sent int64
}

// Record is one cluster's state at one generation, as produced by its owner.
// Body is the compressed body; see EncodeBody and DecodeBody. Proof is the
// owner's signature over SignedBytes (empty when records are unsigned).
type Record struct {
	Cluster    string
	Origin     string
	Generation uint64
	Hash       Hash
	Body       []byte
	Proof      Proof
}

// Proof is a signature over a Record's SignedBytes and the DER
// certificates (leaf first) that bind the signing key to the cluster.
type Proof struct {
	Chain [][]byte
	Sig   []byte
}

// Empty reports whether p carries nothing (an unsigned record).
func (p *Proof) Empty() bool { return len(p.Chain) == 0 && len(p.Sig) == 0 }

// Size is the number of bytes p adds to an encoded Record.
func (p *Proof) Size() int {
	n := uvarintLen(len(p.Chain)) + uvarintLen(len(p.Sig)) + len(p.Sig)
	for _, c := range p.Chain {
		n += uvarintLen(len(c)) + len(c)
	}
	return n
}

func uvarintLen(v int) int { return len(binary.AppendUvarint(nil, uint64(v))) }

// signedPrefix separates record signatures from any other use of the key.
const signedPrefix = "meshgate federation record v2\x00"

// SignedBytes is what a Record's Proof signs: a fixed prefix, the mesh id,
// the cluster id, the origin, the generation and the content hash (which
// binds the body: receivers check it after decompression). Everything a
// receiver acts on is covered, so any node may relay a record unchanged.
func (r *Record) SignedBytes(mesh string) []byte {
	b := make([]byte, 0, len(signedPrefix)+3+len(mesh)+len(r.Cluster)+len(r.Origin)+8+HashLen)
	b = append(b, signedPrefix...)
	for _, s := range []string{mesh, r.Cluster, r.Origin} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, r.Generation)
	return append(b, r.Hash[:]...)
}

// Digest returns the digest of r as held by holder.
func (r *Record) Digest(mesh, holder string) Digest {
	return Digest{Mesh: mesh, Cluster: r.Cluster, Origin: r.Origin, Holder: holder, Generation: r.Generation, Hash: r.Hash}
}

// State carries one Record from Holder.
type State struct {
	Mesh   string
	Holder string
	Record Record
	// Timing answers a timed Request (nil otherwise; only a requester that
	// sent SentAt may be sent it: older decoders refuse the extra bytes).
	Timing *Timing
	// DeltaBase, when set, says Record.Body is not the compressed body but
	// a delta (ApplyDelta) against the body whose hash it is: only an
	// answer to a Request with that DeltaBase carries it (older decoders
	// refuse the extra bytes). The record's Hash and Proof are the full
	// record's, but for an empty Proof.Chain, which stands for the base
	// record's chain: the rebuilt body and the signature are checked
	// against them as any other.
	DeltaBase *Hash
}

// PushPull is a node's push/pull state: full records and/or digests (with
// Holder the sending node and Mesh set on each).
type PushPull struct {
	Mesh    string
	Holder  string
	Records []Record
	Digests []Digest
}

// Meta is a node's memberlist metadata.
type Meta struct {
	Mesh    string
	Cluster string
	// Ext is what a newer release wrote after the fields this one knows
	// (its extensions), kept as is and otherwise ignored: memberlist
	// relays every node's meta to every member, and an older member must
	// neither refuse a newer one for it (a refused meta cancels whole
	// push/pull merges) nor change it. Empty from this release.
	Ext string
}

// CheckName reports whether s is a valid mesh id, cluster id or node name:
// 1..MaxNameLen bytes of printable ASCII without spaces.
func CheckName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("longer than %d bytes", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("byte %d is not printable ASCII", i)
		}
	}
	return nil
}

// encoder appends fields to a frame.
type encoder struct{ b []byte }

func newEncoder(t Type, size int) *encoder {
	e := &encoder{b: make([]byte, 0, size)}
	e.b = append(e.b, Version, byte(t))
	return e
}

func (e *encoder) str(field, s string) error {
	if err := CheckName(s); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	e.b = append(e.b, byte(len(s)))
	e.b = append(e.b, s...)
	return nil
}

func (e *encoder) u64(v uint64)  { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) hash(h Hash)   { e.b = append(e.b, h[:]...) }
func (e *encoder) uvarint(v int) { e.b = binary.AppendUvarint(e.b, uint64(v)) }
func (e *encoder) bytes(p []byte) {
	e.uvarint(len(p))
	e.b = append(e.b, p...)
}

// decoder reads fields from a frame; the first error sticks.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(field string, base error, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s (at byte %d)", base, field, fmt.Sprintf(format, args...), d.off)
	}
}

func (d *decoder) need(field string, n int) bool {
	if d.err != nil {
		return false
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail(field, ErrCorrupt, "truncated: need %d bytes, have %d", n, len(d.b)-d.off)
		return false
	}
	return true
}

func (d *decoder) str(field string) string {
	if !d.need(field, 1) {
		return ""
	}
	n := int(d.b[d.off])
	d.off++
	if !d.need(field, n) {
		return ""
	}
	s := string(d.b[d.off : d.off+n])
	d.off += n
	if err := CheckName(s); err != nil {
		d.fail(field, ErrCorrupt, "%v", err)
	}
	return s
}

func (d *decoder) u64(field string) uint64 {
	if !d.need(field, 8) {
		return 0
	}
	v := binary.BigEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *decoder) hash(field string) (h Hash) {
	if !d.need(field, HashLen) {
		return h
	}
	copy(h[:], d.b[d.off:])
	d.off += HashLen
	return h
}

func (d *decoder) uvarint(field string, max int) int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(field, ErrCorrupt, "bad varint")
		return 0
	}
	d.off += n
	if v > uint64(max) {
		d.fail(field, ErrOversized, "%d exceeds the limit %d", v, max)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(field string, max int) []byte {
	n := d.uvarint(field+" length", max)
	if !d.need(field, n) {
		return nil
	}
	p := make([]byte, n)
	copy(p, d.b[d.off:])
	d.off += n
	return p
}

func (d *decoder) end() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("frame", ErrCorrupt, "%d trailing bytes", len(d.b)-d.off)
	}
	return d.err
}
