// Package wire is the versioned gossip wire format of meshgate's federation.
//
//	federation.Node ──Encode*──▶ frame ──memberlist (AES-GCM)──▶ peer ──Decode──▶ federation.Node
//
// Every frame starts with two bytes: the format Version and the message Type.
// The rest depends on the type (all integers big-endian, str = 1-byte length +
// bytes, at most MaxNameLen, printable ASCII without spaces):
//
//	Digest    (UDP broadcast, ≤ MaxPacketFrame bytes)
//	  str mesh | str cluster | str origin | str holder | u64 generation | [32]hash
//	Request   (reliable, ≤ MaxPacketFrame bytes)
//	  str mesh | str requester | str cluster | u64 have | u8 flags (1 = revive, 2 = timed)
//	  [| u64 sentAt]                                  (flag 2)
//	State     (reliable; Limits.MaxFrame)
//	  str mesh | str holder | Record [| u8 1 | u64 echo | u64 received | u64 sent]
//	PushPull  (memberlist TCP push/pull; Limits.MaxFrame)
//	  str mesh | str holder | uvarint n | n × Record | uvarint m | m × DigestEntry
//	Meta      (memberlist node meta, ≤ 512 bytes)
//	  str mesh | str cluster [| ext: a newer release's bytes, kept and ignored]
//
//	Record      = str cluster | str origin | u64 generation | [32]hash | uvarint len | len × body | Proof
//	Proof       = uvarint n (≤ MaxProofCerts) | n × (uvarint len | len × DER certificate, leaf first)
//	              | uvarint len (≤ MaxProofSig) | len × signature
//	DigestEntry = str cluster | str origin | u64 generation | [32]hash
//
// Version 2 added the Proof: the owner's signature over SignedBytes (a fixed
// prefix, mesh, cluster, origin, generation, hash), with the certificates
// that bind its key to the cluster (see package federation, "Generations and
// who may say what"). An unsigned record has an empty Proof (n = 0, len = 0).
//
// A Record's body is the DEFLATE-compressed canonical JSON of a Body (the
// cluster's exported services, network gateways, network, trust domain, trust
// bundle, the owner's sealing key and its remote secret sealed per recipient
// cluster; remoteSecret in clear is what daemons wrote before sealing, read
// and never written now; unreachableGateways, the other clusters' network
// gateways the owner's probes find down, at most MaxUnreachable); hash is the SHA-256 of the uncompressed JSON. New
// Body fields need no new Version: older decoders ignore them, and the hash
// covers the bytes as sent. The publishing lease (Body.Lease, when a
// cluster's replicas elect one publisher) is such a field; a body without
// one encodes exactly as before it existed.
// The owner computes it once; relaying nodes forward the record unchanged and
// every receiver checks it after decompression and checks the Proof over
// the hash, so a record is an immutable, self-checking (cluster,
// generation) value no matter who relays it.
//
// # Compatibility
//
// Daemons of release N and N−1 interoperate (README, "Compatibility"). In
// this format that means: a record's body is extended only by new JSON
// fields, which N−1 ignores on decoding and relays untouched (it forwards
// the compressed bytes it received, never a re-encoding of what it
// decoded, so the owner's hash and signature still verify at the far end;
// a body rebuilt from a delta is the received canonical JSON compressed
// again, which verifies the same);
// node meta, which memberlist relays to every member, may be extended by
// appending bytes, which this release keeps (Meta.Ext) instead of refusing
// the member; any other frame gains bytes only behind a capability the
// peer announced (the Timing of a State answers only a Request that
// carried SentAt, a delta only a Request that carried DeltaBase, which
// goes only to a peer whose records say Deltas); Version changes only in a release that still reads
// and, towards older peers, writes the previous one. Records and node meta
// are the only messages relayed: digests are made anew by each holder
// from the record it holds, requests and states go to one node.
// testdata/v2 holds every frame type and a body as release N−1 wrote them
// (never rewritten: TestGoldenFramesV2, TestGoldenBodyV2), a body and a
// meta from a newer release (TestBodyUnknownFieldsIgnored,
// TestMetaExtensionKept); they seed FuzzDecode.
//
// Decoders never panic: oversized input fails with ErrOversized, anything
// else malformed with ErrCorrupt (both wrapped with the field that failed),
// an unknown version with ErrVersion. FuzzDecode exercises them.
package wire
