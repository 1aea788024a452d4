package wire

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// State deltas. A holder that answers a Request with DeltaBase may send,
// instead of the compressed body, the new body (its canonical JSON)
// compressed by zstd with the requester's body as a raw dictionary (the
// history the new body's matches refer to): a one-endpoint change of a
// 10,000-endpoint cluster is about a kilobyte rather than the whole
// compressed body. The requester rebuilds the body with the one it holds
// and checks it against the record's Hash (and the signature over it), as
// for any record: a delta gives no way around the signature.

// deltaWindow is the largest zstd window of a delta (and the most a
// receiver accepts): the base and the new body must fit in it for matches
// to reach the whole base (bodies are at most MaxBody, 64 MiB by default;
// a larger base just makes a larger delta).
const deltaWindow = 128 << 20

// EncodeDelta returns the delta of raw (a body's canonical JSON) against
// base (the body the requester holds).
func EncodeDelta(base, raw []byte) ([]byte, error) {
	window := 1 << 20 // a power of two that holds the base and the body: matches reach the whole base
	for window < len(base)+len(raw) && window < deltaWindow {
		window <<= 1
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(1, base), zstd.WithWindowSize(window),
		zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("encode delta: %w", err)
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil), nil
}

// ApplyDelta rebuilds a body's canonical JSON from base and a delta
// (EncodeDelta), at most lim.MaxBody bytes, and checks it against want
// (the record's Hash).
func ApplyDelta(base, delta []byte, want Hash, lim Limits) ([]byte, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDictRaw(1, base), zstd.WithDecoderMaxWindow(deltaWindow),
		zstd.WithDecoderMaxMemory(uint64(lim.MaxBody)), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("%w: delta: %v", ErrCorrupt, err)
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(delta, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: delta: %v", ErrCorrupt, err)
	}
	if len(raw) > lim.MaxBody {
		return nil, fmt.Errorf("%w: delta: rebuilt body of %d bytes exceeds the limit %d", ErrOversized, len(raw), lim.MaxBody)
	}
	if sha256.Sum256(raw) != want {
		return nil, fmt.Errorf("%w: delta: the rebuilt body does not match the record's hash %s", ErrCorrupt, want.Short())
	}
	return raw, nil
}

// RawBody returns the canonical JSON of r's body (decompressed, at most
// lim.MaxBody bytes), unchecked.
func RawBody(r *Record, lim Limits) ([]byte, error) {
	zr := flate.NewReader(bytes.NewReader(r.Body))
	raw, err := io.ReadAll(io.LimitReader(zr, int64(lim.MaxBody)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: cluster %s: body: decompress: %v", ErrCorrupt, r.Cluster, err)
	}
	if len(raw) > lim.MaxBody {
		return nil, fmt.Errorf("%w: cluster %s: body: decompressed size exceeds the limit %d", ErrOversized, r.Cluster, lim.MaxBody)
	}
	return raw, nil
}

// CompressBody compresses a body's canonical JSON as a Record carries it.
func CompressBody(raw []byte) []byte {
	var buf bytes.Buffer
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed) // level is valid: no error
	_, _ = zw.Write(raw)                            // bytes.Buffer writes do not fail
	_ = zw.Close()                                  // nor does closing it
	return buf.Bytes()
}
