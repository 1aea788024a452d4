package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
)

// Node is one meshgate daemon's membership in the mesh's gossip: it publishes
// the local cluster (SetLocal) and maintains the remote clusters' states.
// All methods are safe for concurrent use.
type Node struct {
	cfg        Config
	opts       Options
	log        *slog.Logger
	met        *metrics
	now        func() time.Time
	name       string
	meta       []byte
	limits     wire.Limits
	keyring    *memberlist.Keyring
	keyMu      sync.Mutex // serialises keyring operations and keyring file writes
	rejects    rejectLog
	auth       RecordAuth // nil: records unsigned (insecure mode only)
	sealer     *sealer    // this node's sealing key pair (seal.go)
	deltaCache deltaCache // the last state delta per cluster (delta.go)
	// offerHook (tests) runs in offerRecord once a record has passed the
	// generation check, before it is decoded and verified.
	offerHook func(wire.Record)
	// stateHook (tests, set before Run) sees every State frame received
	// (its size on the wire), as decoded, before a delta is applied.
	stateHook func(st *wire.State, size int)

	// pubMu serialises the publication of the local record (SetLocal and
	// re-sealing). Lock order: pubMu before pinMu before mu.
	pubMu sync.Mutex

	// pinMu guards pins and serialises the verification of a record with
	// its acceptance. Lock order: pinMu before mu.
	pinMu sync.Mutex
	pins  map[string]*trustPin // trust bundle of each remote cluster

	ml      *memberlist.Memberlist
	bcast   *memberlist.TransmitLimitedQueue
	alive   atomic.Int32 // alive members, this node included
	respond chan struct{}

	startedCh chan struct{} // closed once Run has started the node
	syncedCh  chan struct{} // closed once synced or the sync timeout passed (sync.go)
	syncStart time.Time     // when Run started the node
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	kickNotify chan struct{}
	kickFetch  chan struct{}
	kickRejoin chan struct{}
	kickSeal   chan struct{}

	mu         sync.Mutex
	started    bool
	local      *record // the local cluster's record, nil before SetLocal
	localGen   uint64
	seenOwnGen uint64                // highest generation of our cluster seen from a previous incarnation
	rivals     map[string]uint64     // live members that published our cluster: their highest generation
	lease      *wire.Lease           // Config.Elected: the publishing lease this node holds (nil: not leading)
	fences     map[string]wire.Lease // per cluster (ours too): the newest publishing lease seen in a verified record
	ownLeader  string                // Config.Elected: the node that last published our cluster under the newest lease
	ownRecGen  uint64                // Config.Elected: the newest record of our cluster read from another replica
	records    map[string]*record    // remote clusters by id
	peers      map[string]*peer      // members by node name
	fetches    map[string]*fetchState
	seeds      []string
	subs       map[int]*subscriber
	secretSubs map[int]*secretSubscriber
	nextSub    int
	secretsVer uint64
	signErr    error // the last signing failure of the local record
	seedsKnown seedsKnown
	warned     map[string]bool            // warnOnce's keys
	refused    map[string]*RefusedCluster // clusters not admitted (admit.go)
	clocks     map[string]*peerClock      // peers' clock offsets by node name (clock.go)
	// rejected is, per remote cluster, the newest record refused after the
	// held one (history.go).
	rejected map[string]*model.RecordRejection
}

// record is one cluster's state at one generation.
type record struct {
	rec        wire.Record
	state      *model.ClusterState
	secret     []byte
	acceptedAt time.Time
	withdrawn  bool        // hidden after the fail-static window until the owner confirms
	bundle     []byte      // the local record's trust bundle (what receivers pin)
	sealKey    []byte      // a remote record's sealing key (nil: an older daemon)
	lease      *wire.Lease // the publishing lease the record carries (nil: none, one daemon per cluster)
	// observedAt is the record's observedAt on its owner's clock (zero: an
	// older daemon's record); state.ObservedAt is it on this node's clock.
	observedAt time.Time
	// from is the member a remote record was received from (its owner, or
	// a relay); withdrawnAt and withdrawReason say when and why it was
	// withdrawn (history.go).
	from           string
	withdrawnAt    time.Time
	withdrawReason string

	// prev is the record of the cluster held before this one with another
	// body (zero: none): a requester still holding it gets a delta
	// (delta.go). deltas: the record's publisher answers delta requests.
	prev   wire.Record
	deltas bool

	// The local record only: what SetLocal gave, and whom and when its
	// remote secret was sealed for.
	own       *localContent
	sealedFor map[string]string // cluster → key id (hex)
	sealedAt  uint64
	sealed    []wire.SealedSecret // the envelopes, reused while the secret and recipients stay
}

// peer is what this node knows of a member.
type peer struct {
	name     string
	addr     string
	ip       net.IP
	port     uint16
	cluster  string
	state    memberlist.NodeStateType
	since    time.Time // last state transition
	lastSeen time.Time // last event or message from it
}

// New validates cfg and loads the keyring. Nothing listens before Run.
func New(cfg Config, opts Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	met, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, opts: opts, log: opts.Logger, met: met, now: opts.Now, limits: cfg.limits(),
		records: map[string]*record{}, rivals: map[string]uint64{}, fences: map[string]wire.Lease{}, peers: map[string]*peer{}, fetches: map[string]*fetchState{},
		subs: map[int]*subscriber{}, secretSubs: map[int]*secretSubscriber{}, seeds: slices.Clone(cfg.Seeds),
		kickNotify: make(chan struct{}, 1), kickFetch: make(chan struct{}, 1), kickRejoin: make(chan struct{}, 1),
		kickSeal: make(chan struct{}, 1), warned: map[string]bool{}, refused: map[string]*RefusedCluster{}, rejected: map[string]*model.RecordRejection{}, respond: make(chan struct{}, 16), startedCh: make(chan struct{}), syncedCh: make(chan struct{})}
	n.rejects.last, n.rejects.supp = map[string]time.Time{}, map[string]int{}
	n.auth, n.pins = opts.Auth, map[string]*trustPin{}
	if n.sealer, err = newSealer(opts.SealingSeed, cfg.MeshID, cfg.ClusterID); err != nil {
		return nil, err
	}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.now == nil {
		n.now = time.Now
	}
	fresh := false
	if n.name, fresh, err = nodeName(&cfg); err != nil {
		return nil, err
	}
	n.log = n.log.With("node", n.name, "cluster", cfg.ClusterID)
	if cfg.NodeNameFile != "" && !fresh {
		n.log.Info("federation: gossip under the node name kept from the last start (a restart replaces its old self)", "file", cfg.NodeNameFile)
	}
	if err := n.loadPins(); err != nil {
		return nil, err
	}
	if n.meta, err = wire.EncodeMeta(wire.Meta{Mesh: cfg.MeshID, Cluster: cfg.ClusterID}); err != nil {
		return nil, err
	}
	if !cfg.Insecure {
		keys, err := LoadKeyringFile(cfg.KeyringFile)
		if err != nil {
			return nil, fmt.Errorf("federation: gossip encryption: %w", err)
		}
		if n.keyring, err = memberlist.NewKeyring(keys[1:], keys[0]); err != nil {
			return nil, fmt.Errorf("federation: keyring: %w", err)
		}
	}
	if !cfg.Elected {
		n.met.leading.Set(1)
	}
	if n.auth == nil && !cfg.Insecure {
		return nil, errors.New("federation: Options.Auth is required: records are signed and verified outside insecure mode")
	}
	return n, nil
}

// Name is this node's memberlist name.
func (n *Node) Name() string { return n.name }

// Run binds the gossip ports, starts the background goroutines, joins the
// configured seeds (retrying in the background when none answers), and
// serves until ctx is done or Leave is called; then it stops every goroutine
// and memberlist, and returns nil. It returns an error when the node cannot
// start (the ports cannot be bound) or Run was called before. Started is
// closed once the node is up (Addr is valid from then on).
func (n *Node) Run(ctx context.Context) error {
	if err := n.start(ctx); err != nil {
		return err
	}
	<-n.ctx.Done()
	n.stop()
	return nil
}

// Started is closed once Run has bound the gossip ports; it is never closed
// when Run fails to start.
func (n *Node) Started() <-chan struct{} { return n.startedCh }

func (n *Node) start(ctx context.Context) error {
	n.mu.Lock()
	if n.started {
		n.mu.Unlock()
		return errors.New("federation: node already started")
	}
	n.started = true
	n.mu.Unlock()
	mlc, err := n.memberlistConfig()
	if err != nil {
		return err
	}
	n.bcast = &memberlist.TransmitLimitedQueue{NumNodes: func() int { return int(n.alive.Load()) }, RetransmitMult: mlc.RetransmitMult}
	ml, err := memberlist.Create(mlc)
	if err != nil {
		return fmt.Errorf("federation: starting memberlist on %s: %w", n.cfg.BindAddr, err)
	}
	n.ml = ml
	n.syncStart = n.now()
	n.ctx, n.cancel = context.WithCancel(ctx)
	for _, loop := range []func(context.Context){n.notifyLoop, n.fetchLoop, n.rejoinLoop, n.sealLoop} {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); loop(n.ctx) }()
	}
	n.wg.Add(1)
	go func() { defer n.wg.Done(); <-n.ctx.Done(); _ = n.ml.Shutdown() }()
	n.log.Info("federation node started", "addr", n.Addr(), "mesh", n.cfg.MeshID, "encrypted", n.keyring != nil)
	if n.keyring == nil {
		n.log.Warn("gossip encryption is OFF (insecure mode): development only")
	}
	n.logAdmission()
	close(n.startedCh)
	return nil
}

func (n *Node) memberlistConfig() (*memberlist.Config, error) {
	c := memberlist.DefaultWANConfig()
	c.Name = n.name
	host, port, _ := splitHostPort(n.cfg.BindAddr) // validated
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port,
		Logger: newMemberlistLogger(n.log, n.met)})
	if err != nil {
		return nil, fmt.Errorf("federation: binding %s: %w", n.cfg.BindAddr, err)
	}
	c.BindAddr, c.BindPort = host, nt.GetAutoBindPort()
	c.AdvertisePort = c.BindPort
	if n.cfg.AdvertiseAddr != "" {
		ah, ap, _ := splitHostPort(n.cfg.AdvertiseAddr)
		c.AdvertiseAddr = ah
		if ap != 0 {
			c.AdvertisePort = ap
		}
	}
	var t memberlist.NodeAwareTransport = nt
	if n.opts.WrapTransport != nil {
		t = n.opts.WrapTransport(nt)
	}
	c.Transport = t
	c.GossipInterval, c.GossipNodes = n.cfg.GossipInterval, n.cfg.GossipNodes
	c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult = n.cfg.ProbeInterval, n.cfg.ProbeTimeout, n.cfg.SuspicionMult
	c.PushPullInterval, c.TCPTimeout = n.cfg.PushPullInterval, n.cfg.TCPTimeout
	c.DeadNodeReclaimTime = n.cfg.DeadNodeReclaimTime
	c.Keyring = n.keyring
	c.GossipVerifyIncoming, c.GossipVerifyOutgoing = n.keyring != nil, n.keyring != nil
	c.Logger = newMemberlistLogger(n.log, n.met)
	d := &delegate{n: n}
	c.Delegate, c.Events, c.Alive, c.Merge = d, &events{n: n}, &filter{n: n}, &filter{n: n}
	c.DelegateProtocolVersion, c.DelegateProtocolMin, c.DelegateProtocolMax = wire.Version, wire.Version, wire.Version
	return c, nil
}

// Addr is the advertised HOST:PORT of this node (what peers Join). Call it
// once Started is closed.
func (n *Node) Addr() string {
	ln := n.ml.LocalNode()
	if ln == nil { // memberlist refused this node's own meta: it is not in its own member list
		return ""
	}
	return net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))
}

// Join contacts the given daemons (HOST:PORT) and merges their state; the
// seeds are remembered for re-joining. It returns how many answered, and an
// error when none did.
func (n *Node) Join(seeds []string) (int, error) {
	n.mu.Lock()
	for _, s := range seeds {
		if !slices.Contains(n.seeds, s) {
			n.seeds = append(n.seeds, s)
		}
	}
	n.mu.Unlock()
	return n.join(seeds)
}

func (n *Node) join(seeds []string) (int, error) {
	if len(seeds) == 0 {
		return 0, errors.New("federation: join: no seed")
	}
	k, err := n.ml.Join(seeds)
	if err != nil {
		n.met.joins.WithLabelValues("error").Inc()
		return k, fmt.Errorf("federation: join %v: %w", seeds, err)
	}
	n.met.joins.WithLabelValues("ok").Inc()
	n.log.Info("joined the mesh", "seeds", seeds, "answered", k)
	return k, nil
}

// Leave tells the mesh this node is going away (its cluster's state then
// stays for the peers' fail-static window) and stops it: Run returns.
func (n *Node) Leave(timeout time.Duration) error {
	err := n.ml.Leave(timeout)
	n.stop()
	return err
}

// stop ends the node without a goodbye (peers see it fail) and waits for its
// goroutines. It does nothing before the node has started, and may be called
// more than once, concurrently.
func (n *Node) stop() {
	select {
	case <-n.startedCh:
	default:
		return
	}
	n.cancel()
	n.wg.Wait()
}

// rejoinLoop keeps this node in the mesh. When it has no live peer it joins
// the seeds, the SeedSource's addresses and the last addresses of failed
// members, with exponential backoff (RejoinMin..RejoinMax). Otherwise, every
// ReconnectInterval it tries to join one failed member, as Serf does: after a
// partition both sides hold each other dead and memberlist alone would never
// talk to them again.
func (n *Node) rejoinLoop(ctx context.Context) {
	backoff := n.cfg.RejoinMin
	nextReconnect := time.Now().Add(n.cfg.ReconnectInterval)
	for {
		if n.alive.Load() <= 1 {
			seeds := n.allSeeds(ctx)
			for _, a := range n.failedAddrs() {
				if !slices.Contains(seeds, a) {
					seeds = append(seeds, a)
				}
			}
			n.noteSeeds(seeds)
			if len(seeds) > 0 {
				if _, err := n.join(seeds); err == nil {
					backoff = n.cfg.RejoinMin
					continue
				} else {
					n.log.Info("no live peer; re-join failed, will retry", "in", backoff, "err", err)
				}
			}
			if !wait(ctx, nil, backoff) {
				return
			}
			backoff = min(2*backoff, n.cfg.RejoinMax)
			continue
		}
		backoff = n.cfg.RejoinMin
		if !wait(ctx, n.kickRejoin, max(time.Until(nextReconnect), time.Millisecond)) {
			return
		}
		if time.Now().Before(nextReconnect) {
			continue
		}
		nextReconnect = time.Now().Add(n.cfg.ReconnectInterval)
		n.forgetOldPeers()
		if addrs := n.failedAddrs(); len(addrs) > 0 && n.alive.Load() > 1 {
			addr := addrs[mathrand.IntN(len(addrs))]
			if _, err := n.ml.Join([]string{addr}); err == nil {
				n.log.Info("reconnected to a failed member", "addr", addr)
			}
		}
	}
}

// forgetOldPeers drops members that failed or left more than
// ReconnectTimeout ago (every restart of a daemon is a new member name).
func (n *Node) forgetOldPeers() {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, p := range n.peers {
		if p.state != memberlist.StateAlive && now.Sub(p.since) > n.cfg.ReconnectTimeout {
			delete(n.peers, name)
		}
	}
}

// failedAddrs returns the addresses of members that failed or left less than
// ReconnectTimeout ago.
func (n *Node) failedAddrs() []string {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, p := range n.peers {
		if p.state != memberlist.StateAlive && now.Sub(p.since) < n.cfg.ReconnectTimeout && !slices.Contains(out, p.addr) {
			out = append(out, p.addr)
		}
	}
	return out
}

func (n *Node) allSeeds(ctx context.Context) []string {
	n.mu.Lock()
	seeds := slices.Clone(n.seeds)
	n.mu.Unlock()
	if n.opts.SeedSource != nil {
		more, err := n.opts.SeedSource(ctx)
		if err != nil {
			n.log.Warn("seed source failed", "err", err)
		}
		for _, s := range more {
			if !slices.Contains(seeds, s) {
				seeds = append(seeds, s)
			}
		}
	}
	self := n.Addr()
	return slices.DeleteFunc(seeds, func(s string) bool { return s == self })
}

// wait blocks until ctx is done (false), kick fires, or d passes (d > 0).
func wait(ctx context.Context, kick <-chan struct{}, d time.Duration) bool {
	var tc <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-kick:
	case <-tc:
	}
	return true
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
