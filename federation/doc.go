// Package federation makes meshgate daemons one mesh: each daemon is
// authoritative for its own cluster and gossips it to the others over
// hashicorp/memberlist (WAN profile), so clusters join once and the mesh
// learns itself.
//
//	discovery ──SetLocal(state, remoteSecret)──▶ Node ◀──memberlist (AES-256-GCM)──▶ other daemons' Nodes
//	                                             │
//	       Subscribe(func([]*model.ClusterState)) ├─▶ daemon: MeshState ─▶ xds/translate
//	       OnRemoteSecretsChange / RemoteSecrets  └─▶ daemon: remote API watches, re-join
//
// # What travels
//
// For each cluster, one record (package wire): the cluster id, the node that
// produced it (origin), a generation, a SHA-256 of the content and the
// compressed content: exported services (no Istio routing objects, no
// selectors, no annotations but exportTo; Config.ExportMode serviceexport:
// only those a Multi-Cluster Services ServiceExport names) with their
// endpoints, the valid ServiceExports (name, namespace, creation time), network
// gateways, network, trust domain, trust bundle, the owner's sealing key,
// the cluster's remote secret sealed for each recipient cluster (see Remote
// secrets), the other networks' east-west gateways the owner's probes find
// down (ClusterState.UnreachableGateways: shown by the others, never used by
// them to prune; a change of it alone is a new generation), and observedAt:
// when the owner's source saw the change the record carries (see Clock
// offsets). The remote secret exists in clear only in the memory of its
// owner and of the recipients that opened it: it is never logged and never
// on an admin route (members shows at most which clusters the local one is
// sealed for). Every record also carries
// its owner's proof: a signature over the mesh id, cluster id, origin,
// generation and content hash (wire.Record.SignedBytes; the hash binds the
// body), with the certificate chain of the signing key (about 550 bytes
// under a root CA, 1,050 under an intermediate).
//
// # Generations and who may say what
//
// A record is produced only by the daemon that owns the cluster (its node
// meta names mesh and cluster). generation = max(previous+1, unix nanoseconds
// now, 1 + any generation of this cluster seen from a previous incarnation),
// bumped only when the content hash changes. Records are immutable values:
// any node may relay one unchanged, and every receiver re-checks its hash, so
// a relayed record is exactly what the owner produced at that generation. A
// node accepts a record only when its generation is strictly newer than the
// one it holds: a stale generation can never overwrite a newer one. The same
// generation with a different hash is a conflict (rejected, counted). A node
// never accepts a record of its own cluster; seeing one at or above its own
// generation means a previous incarnation (restart with lost state, clock
// gone back) and the node re-publishes above it, so a restarted daemon
// always wins.
//
// The gossip key only admits a node to the mesh; it does not let it speak
// for a cluster. Each daemon signs the records it owns with a key whose
// certificate its cluster's CA issued for the SPIFFE ID
// spiffe://<trust domain>/meshgate-federation/<cluster id> (X509Auth,
// Options.Auth; renewed at half life by RenewSigner, which re-signs the
// local record). A receiver accepts a record only when its proof verifies:
// the chain leads to the trust bundle pinned for that cluster, the leaf
// names that cluster, and the signature covers the record. The pin is the
// bundle of the first record accepted from the cluster (trust on first
// use, verified against itself), unless the operator set one
// (Config.TrustPins, the daemon's --trust-pin; Node.Pin, which the daemon
// calls with the bundle a remote secret carries in its
// meshgate.io/trust-bundle annotation when the cluster joins). Pins are
// persisted in Config.TrustPinsFile (pins.go: JSON, rewritten atomically
// at each change, loaded by New), so a restart does not reopen the first
// contact window: a record whose bundle differs from a persisted pin must
// verify under it like any other. Each pin remembers the operator pin it
// descends from (its origin): setting that same operator bundle again (the
// same flag or remote secret after a restart) keeps a bundle the cluster
// has rotated to since; a different operator bundle replaces the pin. A
// record carrying a different bundle must verify under the pinned
// bundle AND under its own; then its bundle becomes the pin. So a CA
// rotation is: publish a bundle holding the old and the new root while
// still signing under the old CA; then sign with a key of the new CA
// (X509Auth.Renew) and publish the new bundle alone. A chain the pinned
// bundle verifies (a new CA cross-signed by the old root) works the same
// way. Anything else, a key of another CA, another cluster's key, no proof,
// is rejected (meshgate_federation_rejected_messages_total, reason
// bad_signature or unsigned; logged like every rejection) and changes
// nothing; meshgate_federation_trust_pins_total counts the pins by how.
// Relays need no key: the proof travels with the record unchanged.
//
// # Admission
//
// Only clusters the operator admitted enter the remote set. A cluster is
// admitted when its id is in Config.AdmitClusters (the daemon's
// --admit-cluster; its bundle is then pinned at first contact) or the
// operator pinned its trust bundle (Config.TrustPins, Node.Pin: the
// remote-secret join; a pin rotated from one by verified records still
// counts; a pin taken at first contact does not). Every digest and record
// of any other cluster is refused before anything else is done with it
// (admit.go): it is not fetched, decoded, pinned, stored, relayed or shown,
// so the cluster never enters the remote set, no endpoint of it reaches a
// gateway and no remote secret is sealed for it. Each refused message is
// counted (meshgate_federation_rejected_messages_total, reason
// not_admitted), each refused cluster is logged once, counted in
// meshgate_federation_refused_clusters and listed by Node.Refused (and the
// members route; Member.Refused marks its daemons), at most 64 of them (an
// attacker can invent ids without end: the rest are only counted). Synced
// does not wait for a refused cluster. A Pin that admits a refused cluster
// fetches the generation it announced at once. Config.AdmitAnyCluster
// admits every cluster at first contact (trust on first use, as before
// admission existed): for labs only, warned at start.
//
// What a holder of the gossip key alone (or a compromised daemon of
// another cluster) cannot do: change a cluster's endpoints, gateways,
// bundle or remote secret (no proof); replay an old record (its generation
// is stale); revive a withdrawn cluster (see below: only a newer signed
// generation does); add a cluster of its own (a new id under a CA of its
// own is not admitted: refused, and sealed for by nobody). What it can,
// once it joins as a member (a node that has not joined gets no answer to
// a state request: refused, reason unknown_requester): read what gossip
// carries (endpoints, gateways, bundles; not the remote secrets, which are
// sealed for their recipient clusters), and be the first contact of a node
// that admitted a cluster by id but has not pinned it (on its first start,
// or after losing its pins file; operator pins close that). Clusters whose
// CAs share a root trust each other's CAs to name them: pin per-cluster
// roots for isolation. Records are unsigned only in insecure mode
// (Config.Insecure without an Auth); admission applies there too.
//
// # Remote secrets
//
// Each daemon's remote secret (a read-only kubeconfig for its API server)
// travels sealed per recipient cluster (seal.go): HPKE (RFC 9180, base
// mode, crypto/hpke) with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
// AES-256-GCM. Each Node has a sealing key pair, derived from
// Options.SealingSeed (the daemon's comes from its CA key: replicas share
// it, a restart keeps it) or else made at New (a restart rotates it),
// and publishes the public key in its record, whose signature binds it to
// the cluster. The owner seals its secret (compressed) once for
// each cluster of its remote set whose record carries a sealing key (the
// cluster admitted, its record verified under that cluster's pin, its
// owner alive or within the fail-static window), with HPKE info = mesh, sender cluster, recipient
// cluster and the generation it seals at (Body.SealedAt, at most the
// record's generation), so an envelope opens only with the recipient's key
// and only where it was put. The secret is sealed again only when it or
// the recipients change: a record published for another reason (new
// endpoints, a renewed signing key, a revival) carries the envelopes of
// the last sealing, under the owner's signature. A recipient opens only the envelope named for
// its cluster and its current key: one for a previous key (sealed before it
// restarted) or none keeps what it held (fail static) until the owner
// re-seals; one that does not open is rejected (reason bad_seal) and
// changes nothing (meshgate_federation_remote_secrets_total counts the
// other results). The owner re-seals, at a new generation, when a cluster
// enters or leaves its remote set or publishes a new sealing key (the
// sealer goroutine; bursts coalesce over FetchInterval): each re-seal is a
// new record that every peer fetches once. An envelope costs about the
// compressed secret plus 70 bytes (some 1.6 KB per recipient for a 3 KB
// remote secret). Mixed versions: a daemon that predates sealing publishes
// no sealing key and gets nothing (fail closed; logged once,
// meshgate_federation_sealed_recipients{state="no_sealing_key"}); its own
// secret, in clear in its body, is still read (result plaintext, logged
// once) until it is upgraded. The wire version is unchanged: the new fields
// are Body JSON fields that older decoders ignore.
//
// # Dissemination
//
//	owner                         peer P                          peer Q
//	SetLocal ─▶ gen G ─▶ queue Digest{C,G,hash,holder=owner}
//	   UDP broadcast (TransmitLimitedQueue, NamedBroadcast "digest/C":
//	   a newer digest replaces the queued one; ≤1024 B, one packet) ─▶ P
//	                          G > held? ─▶ fetch loop
//	   ◀── Request{C, have} (SendReliable, TCP) ──┘
//	   ── State{record}    (SendReliable, TCP) ─▶ accept, notify subscribers,
//	                          queue Digest{C,G,holder=P} ─▶ Q fetches from P …
//
// Digests spread epidemically: each node that accepts a record re-announces it
// as holder, so fetches spread over the holders instead of all hitting the
// owner. Per cluster at most one request is in flight and requests are at
// least FetchInterval apart (a burst of changes costs one fetch of the
// newest). An unanswered request is retried after FetchTimeout, a failed one
// goes to the owner. memberlist's TCP push/pull does the rest: on a join it
// carries full records of the local cluster and of every cluster in the
// sender's remote set (within MaxFrameBytes, the rest as digests), so a
// joining daemon has the mesh at once; the periodic anti-entropy push/pull
// carries digests only, and each side fetches what it lacks.
//
// State deltas (delta.go): a request names the body the requester holds
// (its hash), and a holder that has that body (its current record of the
// cluster, or the one before) answers with the new body as a delta against
// it (zstd, the old body as a raw dictionary) and without the signing
// chain when it is the old record's; the requester rebuilds the body and
// checks hash and signature as for a full record, decoding the state from
// the rebuilt JSON (not from the body it stores and relays, compressed
// again). A one-endpoint change of
// a 10,000-endpoint cluster travels as about 4 KB instead of the 165 KB
// compressed record (wire BenchmarkDelta10k; about 90 ms to compute, once
// per change and base: the holder keeps the last delta per cluster). Only
// peers whose own records say Deltas are asked for deltas (older daemons
// refuse the flag); anything else is answered in full
// (meshgate_federation_state_deltas_total).
//
// # Liveness, fail-static and withdrawal
//
// A cluster is in the remote set while a daemon owning it is alive, and for
// FailStaticWindow after the last one was declared dead (or left); then it is
// withdrawn (the Node keeps the record, hidden, to keep its generation and
// remote secret) — unless Options.DataPlaneServing says its data plane
// still serves (the daemon's probes of its east-west gateways answer): then
// it stays, asked again every DataPlaneRecheck (dataplane.go). A withdrawn cluster returns only through its owner: when a
// daemon of that cluster is alive again the Node asks it, with the held
// generation and the revive flag; the owner answers with a freshly signed,
// newer generation (at most one per FetchInterval), and the Node shows the
// cluster again; a
// relayed newer record alone does not bring it back, nor (with signed
// records) a digest confirming the held generation, which any key holder
// posing as that owner could send. Unsigned (insecure) nodes still take
// that confirmation. A record whose
// owner this node has never seen is held hidden. Withdrawn and hidden
// records are not relayed. So after a partition heals no endpoint is lost
// (the owner's current state returns) and none is resurrected (nothing older
// than what the owner confirms is shown).
//
// # Start: Synced
//
// A node that starts knows no remote cluster. Synced closes once it holds a
// visible record of every live member's cluster (it joined at least one
// peer; a member that has not published yet is waited for), at once when it
// has no seed to join, or after SyncTimeout (logged with the clusters still
// missing; meshgate_federation_initial_sync_seconds). The daemon serves its
// gateways only from then on, so a gateway reconnecting to a restarted
// daemon is never handed a mesh without the clusters it was using.
//
// # Replicas
//
// A cluster may run several daemons (replicas) with Config.Elected: they
// elect one publisher through a lease outside this package (the daemon
// uses a Kubernetes Lease, package election) and tell their Node with
// SetLeading. Every replica joins the gossip, consumes the remote
// clusters and keeps its local state ready (SetLocal); only the leader
// sends its cluster's record anywhere (digests, push/pull, answers), and
// the record's Body carries the lease (wire.Lease: holder identity and
// transition count, under the owner's signature). A new leader publishes
// above every generation of its cluster it has seen. Fencing: every node
// keeps, per cluster, the newest lease of a verified record, and refuses a
// record under an older one (a lower transition count, or the same count
// held by another holder): a deposed holder that has not noticed (a paused
// process, a partition from its API server) is refused everywhere, relayed
// or not (reason fenced). Replicas read each other's records (fetched on
// their digests, checked under the cluster's own CA): a leader that sees a
// newer lease stops publishing; one that sees an older lease at or above
// its generation (a record some peer may have accepted before it knew
// better) out-bids it. OwnTerm is the newest lease of its own cluster a
// node knows: the elector raises a re-created lease's count above it
// (package election), so that terms stay monotonic when the lease object
// is deleted. A replica that does not lead answers requests for
// its cluster only from other replicas. A cluster stays in the remote set
// while any of its replicas is alive. Members names the leader of each
// cluster (Member.Leader, Member.Lease) and meshgate_federation_leading
// says whether this node publishes. The remote secrets of other clusters are
// sealed for the key the leader publishes; replicas given the same
// SealingSeed (the daemon's: derived from the CA they share) hold that
// key, so every replica opens them and a new leader publishes the same
// key (nothing to re-seal). Without a shared seed only the leader opens
// them, and a new leader publishes its key and gets them at the next
// re-sealing.
//
// Without Config.Elected one daemon per cluster is assumed. If two live
// daemons publish the same cluster the newest generation wins at every
// peer, they do not out-bid each other, and
// meshgate_federation_duplicate_owner_total counts it.
//
// # Membership
//
// A member whose node meta carries another mesh id is refused by the
// AliveDelegate (never becomes a member, whoever gossips it) and the
// MergeDelegate (a join or merge with it fails); messages carrying another
// mesh id are rejected. Join(seeds) joins; with no live peer left the Node
// re-joins its seeds, Options.SeedSource's addresses (the daemon resolves
// peers' gossip Services through remote secrets) and failed members'
// addresses with exponential backoff, and while it has peers it tries one
// failed member every ReconnectInterval, which heals partitions.
//
// A node's memberlist name is ClusterID-SUFFIX. With Config.NodeNameFile
// the suffix survives a restart (one file per replica: names stay unique
// when a cluster runs several daemons), so a restarted daemon on the same
// address is the same member: a peer's push/pull tells it the incarnation
// the mesh holds for its name, it refutes it with a higher one, and every
// peer updates the member at once. A new random name instead left the old
// one to be suspected and called dead (minutes after repeated restarts).
//
// # Goroutines and callbacks
//
// Run(ctx) is the Node's lifecycle: it binds the gossip ports (an error if
// it cannot), closes Started, serves until ctx is done (or Leave), then stops
// every goroutine and memberlist and returns nil. memberlist calls the
// delegates (delegate.go, events.go) from its own goroutines; they never
// block on the network. While Run runs, the Node has four goroutines: the
// notifier (calls Subscribe and OnRemoteSecretsChange
// callbacks, one at a time, may be blocked by them, and withdraws clusters
// when windows end), the fetcher (sends state requests), the re-joiner and
// the sealer (re-seals the local remote secret when the recipients change;
// it and SetLocal publish one at a time, never under the Node's lock).
//
// # Clock offsets and convergence
//
// A record's observedAt and generation are times on its owner's clock. Each
// Node estimates the clock offset of every peer it fetches from (clock.go):
// a state request to a peer whose own record carries observedAt (a daemon
// of this version) is timed (its send time), the State answering it
// carries the peer's receive and send times, and the arrival completes an
// NTP exchange: offset = ((t2−t1)+(t3−t4))/2, error at most half the
// round-trip delay; of the last 8 exchanges with a peer the one of least
// delay is the estimate (meshgate_federation_clock_offset_seconds{peer} and
// _error_seconds; Members). An accepted record's observedAt is moved onto
// this node's clock by its owner's offset (none known yet: unmoved) and
// handed on as model.ClusterState.ObservedAt, where the xDS server measures
// convergence from it. meshgate_federation_gossip_seconds{origin_cluster}
// is the gossip stage: the owner's publication (its generation, moved the
// same way) to acceptance here. Timed frames go only to daemons that read
// them (package wire); timings are taken as sent: a member holding the
// gossip key can skew the figures (only the figures: nothing acts on them).
//
// # History: how each remote cluster was learned
//
// For explain, the Node keeps, per remote cluster (history.go, History,
// /federation/history): the member its held record was received from (the
// owner, or a relay) and the daemon that published it, the generation,
// when it was accepted here (and, on this node's clock, published and
// observed at its owner), whether it is served, held fail-static (the last
// daemon down since T; kept for its data plane), withdrawn (at T, with the
// reason: which daemon went down when, and the window that ended) or held
// hidden, and the newest record of it refused since the held one was
// accepted (fenced, bad signature, a body that does not decode: reason,
// generation, sender, error; forgotten once a newer record is accepted).
// Refused clusters (not admitted) are listed with their counts. The held
// state is handed over (model.ClusterProvenance.State) so that explain can
// say what a withdrawn cluster had. Bounded like the refused clusters.
//
// # Encryption and keys
//
// Gossip is always encrypted unless Config.Insecure is set: memberlist's
// keyring with AES-256 keys from Config.KeyringFile (base64, one a line,
// primary first). Keys rotate without downtime (install on every daemon,
// then use, then remove), through Node methods or the AdminHandler routes
// (see admin.go) that `meshgate keyring` calls; the keyring file is
// rewritten after each change. Keys are shown only by fingerprint.
//
// Metrics are meshgate_federation_* (see metrics.go). Rejected messages are
// counted by reason and logged at most once per second per reason.
//
// Never imports: k8s.io/client-go/..., ./xds/..., ./discovery/file/...,
// ./discovery/kube/... and ./discovery/remote/... (only cmd/ wires the
// sources, the federation and the xDS server together).
package federation
