package wire

import "fmt"

// Header returns the version and type of a frame without decoding the rest.
func Header(b []byte) (byte, Type, error) {
	if len(b) < 2 {
		return 0, 0, fmt.Errorf("%w: frame: %d bytes, need at least 2", ErrCorrupt, len(b))
	}
	if b[0] != Version {
		return b[0], Type(b[1]), fmt.Errorf("%w: frame version %d (this node speaks %d)", ErrVersion, b[0], Version)
	}
	return b[0], Type(b[1]), nil
}

func open(b []byte, want Type, max int) (*decoder, error) {
	_, t, err := Header(b)
	if err != nil {
		return nil, err
	}
	if t != want {
		return nil, fmt.Errorf("%w: frame type %s, want %s", ErrCorrupt, t, want)
	}
	if len(b) > max {
		return nil, fmt.Errorf("%w: %s frame of %d bytes exceeds the limit %d", ErrOversized, t, len(b), max)
	}
	return &decoder{b: b, off: 2}, nil
}

// EncodeDigest encodes a Digest frame.
func EncodeDigest(m Digest) ([]byte, error) {
	e := newEncoder(TypeDigest, 64+len(m.Mesh)+len(m.Cluster)+len(m.Origin)+len(m.Holder))
	if err := encodeDigestFields(e, m, true); err != nil {
		return nil, fmt.Errorf("encode digest: %w", err)
	}
	return e.b, nil
}

func encodeDigestFields(e *encoder, m Digest, full bool) error {
	if full {
		if err := e.str("mesh", m.Mesh); err != nil {
			return err
		}
	}
	if err := e.str("cluster", m.Cluster); err != nil {
		return err
	}
	if err := e.str("origin", m.Origin); err != nil {
		return err
	}
	if full {
		if err := e.str("holder", m.Holder); err != nil {
			return err
		}
	}
	e.u64(m.Generation)
	e.hash(m.Hash)
	return nil
}

// DecodeDigest decodes a Digest frame.
func DecodeDigest(b []byte) (Digest, error) {
	d, err := open(b, TypeDigest, MaxPacketFrame)
	if err != nil {
		return Digest{}, err
	}
	m := Digest{Mesh: d.str("mesh"), Cluster: d.str("cluster"), Origin: d.str("origin"), Holder: d.str("holder")}
	m.Generation = d.u64("generation")
	m.Hash = d.hash("hash")
	return m, d.end()
}

// EncodeRequest encodes a Request frame.
func EncodeRequest(m Request) ([]byte, error) {
	e := newEncoder(TypeRequest, 16+len(m.Mesh)+len(m.Requester)+len(m.Cluster))
	for _, f := range []struct{ n, v string }{{"mesh", m.Mesh}, {"requester", m.Requester}, {"cluster", m.Cluster}} {
		if err := e.str(f.n, f.v); err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
	}
	e.u64(m.Have)
	var flags byte
	if m.Revive {
		flags |= flagRevive
	}
	if m.SentAt != 0 {
		flags |= flagTimed
	}
	if m.DeltaBase != nil {
		flags |= flagDelta
	}
	e.b = append(e.b, flags)
	if m.SentAt != 0 {
		e.u64(uint64(m.SentAt))
	}
	if m.DeltaBase != nil {
		e.hash(*m.DeltaBase)
	}
	return e.b, nil
}

// Request flags: flagRevive is Request.Revive; flagTimed says SentAt
// follows the flags; flagDelta says DeltaBase follows (after SentAt).
const (
	flagRevive byte = 1
	flagTimed  byte = 2
	flagDelta  byte = 4
)

// DecodeRequest decodes a Request frame.
func DecodeRequest(b []byte) (Request, error) {
	d, err := open(b, TypeRequest, MaxPacketFrame)
	if err != nil {
		return Request{}, err
	}
	m := Request{Mesh: d.str("mesh"), Requester: d.str("requester"), Cluster: d.str("cluster")}
	m.Have = d.u64("have")
	if d.need("flags", 1) {
		flags := d.b[d.off]
		d.off++
		if flags&^(flagRevive|flagTimed|flagDelta) != 0 {
			d.fail("flags", ErrCorrupt, "unknown flags %#x", flags)
		}
		m.Revive = flags&flagRevive != 0
		if flags&flagTimed != 0 {
			if m.SentAt = int64(d.u64("sentAt")); m.SentAt <= 0 && d.err == nil {
				d.fail("sentAt", ErrCorrupt, "%d is not a time", m.SentAt)
			}
		}
		if flags&flagDelta != 0 {
			h := d.hash("deltaBase")
			m.DeltaBase = &h
		}
	}
	return m, d.end()
}

func encodeRecord(e *encoder, r *Record) error {
	if err := e.str("record.cluster", r.Cluster); err != nil {
		return err
	}
	if err := e.str("record.origin", r.Origin); err != nil {
		return err
	}
	e.u64(r.Generation)
	e.hash(r.Hash)
	e.bytes(r.Body)
	if len(r.Proof.Chain) > MaxProofCerts {
		return fmt.Errorf("record.proof: %d certificates, at most %d", len(r.Proof.Chain), MaxProofCerts)
	}
	e.uvarint(len(r.Proof.Chain))
	for _, c := range r.Proof.Chain {
		if len(c) > MaxProofCert {
			return fmt.Errorf("record.proof: a certificate of %d bytes, at most %d", len(c), MaxProofCert)
		}
		e.bytes(c)
	}
	if len(r.Proof.Sig) > MaxProofSig {
		return fmt.Errorf("record.proof: a signature of %d bytes, at most %d", len(r.Proof.Sig), MaxProofSig)
	}
	e.bytes(r.Proof.Sig)
	return nil
}

func decodeRecord(d *decoder, lim Limits) Record {
	r := Record{Cluster: d.str("record.cluster"), Origin: d.str("record.origin")}
	r.Generation = d.u64("record.generation")
	r.Hash = d.hash("record.hash")
	r.Body = d.bytes("record.body", lim.MaxFrame)
	n := d.uvarint("record.proof.chain count", MaxProofCerts)
	for i := 0; i < n && d.err == nil; i++ {
		r.Proof.Chain = append(r.Proof.Chain, d.bytes("record.proof.chain", MaxProofCert))
	}
	if sig := d.bytes("record.proof.sig", MaxProofSig); len(sig) > 0 {
		r.Proof.Sig = sig // nil when unsigned: decoding is the inverse of encoding
	}
	return r
}

// EncodeState encodes a State frame.
func EncodeState(m State) ([]byte, error) {
	e := newEncoder(TypeState, 128+len(m.Record.Body)+m.Record.Proof.Size())
	if err := e.str("mesh", m.Mesh); err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	if err := e.str("holder", m.Holder); err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	if err := encodeRecord(e, &m.Record); err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	if t := m.Timing; t != nil {
		e.b = append(e.b, timingTag)
		e.u64(uint64(t.Echo))
		e.u64(uint64(t.Received))
		e.u64(uint64(t.Sent))
	}
	if m.DeltaBase != nil {
		e.b = append(e.b, deltaTag)
		e.hash(*m.DeltaBase)
	}
	return e.b, nil
}

// The optional parts after a State's record, each started by its tag, in
// this order: the Timing, then the DeltaBase.
const (
	timingTag byte = 1
	deltaTag  byte = 2
)

// DecodeState decodes a State frame. The record's body is not decompressed:
// see DecodeBody.
func DecodeState(b []byte, lim Limits) (State, error) {
	d, err := open(b, TypeState, lim.MaxFrame)
	if err != nil {
		return State{}, err
	}
	m := State{Mesh: d.str("mesh"), Holder: d.str("holder")}
	m.Record = decodeRecord(d, lim)
	last := byte(0) // tags in increasing order, each at most once
	for d.err == nil && d.off < len(d.b) && d.need("tag", 1) {
		tag := d.b[d.off]
		if tag <= last || tag > deltaTag {
			d.fail("tag", ErrCorrupt, "unknown or repeated tag %d", tag)
			break
		}
		d.off++
		last = tag
		switch tag {
		case timingTag:
			t := &Timing{Echo: int64(d.u64("timing.echo")), Received: int64(d.u64("timing.received")), Sent: int64(d.u64("timing.sent"))}
			if d.err == nil && (t.Echo <= 0 || t.Received <= 0 || t.Sent < t.Received) {
				d.fail("timing", ErrCorrupt, "echo %d, received %d, sent %d: not times in order", t.Echo, t.Received, t.Sent)
			}
			m.Timing = t
		case deltaTag:
			h := d.hash("deltaBase")
			m.DeltaBase = &h
		}
	}
	return m, d.end()
}

// EncodePushPull encodes a PushPull frame. Digests are written without their
// Mesh and Holder, which are the frame's.
func EncodePushPull(m PushPull) ([]byte, error) {
	if len(m.Records) > MaxRecords || len(m.Digests) > MaxRecords {
		return nil, fmt.Errorf("encode pushpull: more than %d records or digests", MaxRecords)
	}
	size := 128
	for i := range m.Records {
		size += 64 + len(m.Records[i].Body) + m.Records[i].Proof.Size()
	}
	e := newEncoder(TypePushPull, size+len(m.Digests)*128)
	if err := e.str("mesh", m.Mesh); err != nil {
		return nil, fmt.Errorf("encode pushpull: %w", err)
	}
	if err := e.str("holder", m.Holder); err != nil {
		return nil, fmt.Errorf("encode pushpull: %w", err)
	}
	e.uvarint(len(m.Records))
	for i := range m.Records {
		if err := encodeRecord(e, &m.Records[i]); err != nil {
			return nil, fmt.Errorf("encode pushpull: records[%d]: %w", i, err)
		}
	}
	e.uvarint(len(m.Digests))
	for i, dg := range m.Digests {
		if err := encodeDigestFields(e, dg, false); err != nil {
			return nil, fmt.Errorf("encode pushpull: digests[%d]: %w", i, err)
		}
	}
	return e.b, nil
}

// DecodePushPull decodes a PushPull frame; each digest gets the frame's Mesh
// and Holder.
func DecodePushPull(b []byte, lim Limits) (PushPull, error) {
	d, err := open(b, TypePushPull, lim.MaxFrame)
	if err != nil {
		return PushPull{}, err
	}
	m := PushPull{Mesh: d.str("mesh"), Holder: d.str("holder")}
	n := d.uvarint("records count", MaxRecords)
	for i := 0; i < n && d.err == nil; i++ {
		m.Records = append(m.Records, decodeRecord(d, lim))
	}
	n = d.uvarint("digests count", MaxRecords)
	for i := 0; i < n && d.err == nil; i++ {
		dg := Digest{Mesh: m.Mesh, Holder: m.Holder, Cluster: d.str("digest.cluster"), Origin: d.str("digest.origin")}
		dg.Generation = d.u64("digest.generation")
		dg.Hash = d.hash("digest.hash")
		m.Digests = append(m.Digests, dg)
	}
	return m, d.end()
}

// MaxMetaFrame is memberlist's limit on node metadata.
const MaxMetaFrame = 512

// EncodeMeta encodes node metadata.
func EncodeMeta(m Meta) ([]byte, error) {
	e := newEncoder(TypeMeta, 4+len(m.Mesh)+len(m.Cluster))
	if err := e.str("mesh", m.Mesh); err != nil {
		return nil, fmt.Errorf("encode meta: %w", err)
	}
	if err := e.str("cluster", m.Cluster); err != nil {
		return nil, fmt.Errorf("encode meta: %w", err)
	}
	e.b = append(e.b, m.Ext...)
	if len(e.b) > MaxMetaFrame {
		return nil, fmt.Errorf("encode meta: %d bytes, at most %d", len(e.b), MaxMetaFrame)
	}
	return e.b, nil
}

// DecodeMeta decodes node metadata. Bytes after the cluster are a newer
// release's extensions: kept in Ext (the meta encodes back to b), never
// refused.
func DecodeMeta(b []byte) (Meta, error) {
	d, err := open(b, TypeMeta, MaxMetaFrame)
	if err != nil {
		return Meta{}, err
	}
	m := Meta{Mesh: d.str("mesh"), Cluster: d.str("cluster")}
	if d.err == nil && d.off < len(d.b) {
		m.Ext = string(d.b[d.off:])
		d.off = len(d.b)
	}
	return m, d.end()
}
