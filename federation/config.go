package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
)

// Config is a Node's configuration: a plain struct that flags and files map
// onto. Start from DefaultConfig, set fields, then Validate (New validates too).
type Config struct {
	// BindAddr is the HOST:PORT gossip listens on, UDP and TCP. Port 0 picks
	// a free port (tests). Default "0.0.0.0:7946".
	BindAddr string
	// AdvertiseAddr is the HOST:PORT other daemons reach this one at (a
	// LoadBalancer or NodePort address across networks). Empty means the bind
	// address (or, for 0.0.0.0, a private address of this host).
	AdvertiseAddr string
	// Seeds are HOST:PORT addresses of daemons to join at start and whenever
	// every peer is lost.
	Seeds []string
	// MeshID names the mesh; a member advertising another mesh id is refused.
	MeshID string
	// ClusterID is the cluster this daemon is authoritative for.
	ClusterID string
	// NodeName is this daemon's memberlist name, unique in the mesh. Empty
	// means ClusterID plus a suffix: random at every start, or kept in
	// NodeNameFile.
	NodeName string
	// NodeNameFile keeps the node name's suffix across restarts (written
	// with a new random one when missing), so that a restarted daemon
	// replaces its old self in memberlist at once instead of leaving it to
	// be called dead (nodename.go). One file per replica. Empty: a new
	// random suffix at every start.
	NodeNameFile string
	// KeyringFile holds base64 AES-256 gossip keys, one a line, the primary
	// first (`meshgate keyring generate` prints one). Key rotation rewrites it.
	KeyringFile string
	// Insecure turns gossip encryption off (development only). Without it a
	// Node refuses to start with no key.
	Insecure bool
	// Elected says that the cluster runs several daemons (replicas) that
	// elect one publisher: this node publishes the cluster's record only
	// while it holds the lease (Node.SetLeading), and its records carry
	// the lease for fencing. Default false: the node always publishes (one
	// daemon per cluster).
	Elected bool
	// TrustPins are operator-supplied trust bundles (PEM) of remote
	// clusters, by cluster id: their records must verify under these from
	// the start, instead of under the bundle of the first record seen
	// (trust on first use). See Node.Pin.
	TrustPins map[string][]byte
	// TrustPinsFile persists the pinned trust bundles (JSON, rewritten
	// atomically at every pin change, read by New), so that a restart keeps
	// them instead of pinning again at first contact. Empty: pins live in
	// memory only. A TrustPins entry replaces the persisted pin unless the
	// latter descends from it (the cluster rotated its CA since).
	TrustPinsFile string
	// AdmitClusters are remote cluster ids whose records this node
	// accepts, pinned at first contact unless TrustPins or Node.Pin pin
	// them. A cluster is admitted when it is listed here or the operator
	// pinned its trust bundle (TrustPins, Node.Pin: the remote-secret
	// join); the records of any other cluster are refused (reason
	// not_admitted), so it never enters the remote set and no remote
	// secret is sealed for it. See the package doc, "Admission".
	AdmitClusters []string
	// AdmitAnyCluster admits every cluster (trust on first use): a holder
	// of the gossip key can then add a cluster under a CA of its own and
	// receive every cluster's remote secret. Labs only; logged at start.
	AdmitAnyCluster bool
	// ExportMode says which local Services travel to other clusters:
	// wire.ExportAll (default: every Service not of type ExternalName and
	// not annotated networking.istio.io/exportTo "~"), or
	// wire.ExportServiceExport (of those, only the ones a Multi-Cluster
	// Services API ServiceExport names). Valid ServiceExports travel in
	// both modes.
	ExportMode string
	// FailStaticWindow is how long a dead or departed peer's cluster state
	// stays in the remote set before it is withdrawn. Default 5m.
	FailStaticWindow time.Duration
	// SyncTimeout bounds how long Node.Synced waits for the mesh after a
	// start (no peer answers, a member never publishes). Default 15s.
	SyncTimeout time.Duration

	// Gossip timing; defaults are memberlist.DefaultWANConfig's.
	GossipInterval   time.Duration // 500ms
	GossipNodes      int           // 4
	ProbeInterval    time.Duration // 5s
	ProbeTimeout     time.Duration // 3s
	SuspicionMult    int           // 6
	PushPullInterval time.Duration // 60s: anti-entropy, digests only
	TCPTimeout       time.Duration // 30s
	// DeadNodeReclaimTime lets a dead node's name come back from another
	// address. Default 30s.
	DeadNodeReclaimTime time.Duration

	// FetchInterval is the least time between two state fetches of the same
	// cluster: changes arriving faster are coalesced. Default 100ms.
	FetchInterval time.Duration
	// FetchTimeout gives up on a fetch that got no answer. Default 10s.
	FetchTimeout time.Duration
	// RejoinMin and RejoinMax bound the exponential backoff of re-joining the
	// seeds when no peer is left. Defaults 1s and 1m.
	RejoinMin time.Duration
	RejoinMax time.Duration
	// ReconnectInterval is how often a node with live peers tries to join one
	// failed member (heals partitions); ReconnectTimeout is how long a failed
	// member is tried. Defaults 30s and 72h.
	ReconnectInterval time.Duration
	ReconnectTimeout  time.Duration
	// MaxFrameBytes bounds a received State or PushPull message; MaxBodyBytes
	// a decompressed cluster state. Defaults 16 MiB and 64 MiB.
	MaxFrameBytes int
	MaxBodyBytes  int

	// noDeltas (tests) publishes records without the Deltas capability,
	// as a release before state deltas does.
	noDeltas bool
}

// DefaultConfig returns the defaults: memberlist's WAN profile, a 5 minute
// fail-static window, encryption required.
func DefaultConfig() Config {
	w := memberlist.DefaultWANConfig()
	return Config{
		BindAddr:            "0.0.0.0:7946",
		FailStaticWindow:    5 * time.Minute,
		SyncTimeout:         15 * time.Second,
		GossipInterval:      w.GossipInterval,
		GossipNodes:         w.GossipNodes,
		ProbeInterval:       w.ProbeInterval,
		ProbeTimeout:        w.ProbeTimeout,
		SuspicionMult:       w.SuspicionMult,
		PushPullInterval:    w.PushPullInterval,
		TCPTimeout:          w.TCPTimeout,
		DeadNodeReclaimTime: 30 * time.Second,
		FetchInterval:       100 * time.Millisecond,
		FetchTimeout:        10 * time.Second,
		RejoinMin:           time.Second,
		RejoinMax:           time.Minute,
		ReconnectInterval:   30 * time.Second,
		ReconnectTimeout:    72 * time.Hour,
		MaxFrameBytes:       wire.DefaultLimits.MaxFrame,
		MaxBodyBytes:        wire.DefaultLimits.MaxBody,
	}
}

// Validate checks c; errors name the field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("federation config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if _, _, err := splitHostPort(c.BindAddr); err != nil {
		bad("bindAddr", "%v", err)
	}
	switch c.ExportMode {
	case "", wire.ExportAll, wire.ExportServiceExport:
	default:
		bad("exportMode", "%q: want %s or %s", c.ExportMode, wire.ExportAll, wire.ExportServiceExport)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitHostPort(c.AdvertiseAddr); err != nil {
			bad("advertiseAddr", "%v", err)
		}
	}
	for i, s := range c.Seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			bad(fmt.Sprintf("seeds[%d]", i), "%q: %v", s, err)
		}
	}
	for _, f := range []struct{ name, v string }{{"meshID", c.MeshID}, {"clusterID", c.ClusterID}} {
		if err := wire.CheckName(f.v); err != nil {
			bad(f.name, "%v", err)
		}
	}
	if c.NodeName != "" {
		if err := wire.CheckName(c.NodeName); err != nil {
			bad("nodeName", "%v", err)
		}
	}
	for _, id := range sortedKeys(c.TrustPins) {
		if err := wire.CheckName(id); err != nil {
			bad("trustPins", "cluster %q: %v", id, err)
		} else if _, err := identity.ParseCertificatesPEM(c.TrustPins[id]); err != nil {
			bad("trustPins["+id+"]", "%v", err)
		}
	}
	for i, id := range c.AdmitClusters {
		field := fmt.Sprintf("admitClusters[%d]", i)
		switch err := wire.CheckName(id); {
		case err != nil:
			bad(field, "%q: %v", id, err)
		case id == c.ClusterID:
			bad(field, "%s is the local cluster", id)
		case slices.Contains(c.AdmitClusters[:i], id):
			bad(field, "%s is listed twice", id)
		}
	}
	if c.KeyringFile == "" && !c.Insecure {
		bad("keyringFile", "gossip encryption needs a keyring file (create one with `meshgate keyring generate`); set insecure only for development")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"failStaticWindow", c.FailStaticWindow}, {"syncTimeout", c.SyncTimeout}, {"gossipInterval", c.GossipInterval}, {"probeInterval", c.ProbeInterval},
		{"probeTimeout", c.ProbeTimeout}, {"pushPullInterval", c.PushPullInterval}, {"tcpTimeout", c.TCPTimeout},
		{"fetchInterval", c.FetchInterval}, {"fetchTimeout", c.FetchTimeout}, {"rejoinMin", c.RejoinMin}, {"rejoinMax", c.RejoinMax},
		{"reconnectInterval", c.ReconnectInterval}, {"reconnectTimeout", c.ReconnectTimeout}} {
		if d.v <= 0 {
			bad(d.name, "must be positive, got %v", d.v)
		}
	}
	if c.RejoinMax < c.RejoinMin {
		bad("rejoinMax", "%v is below rejoinMin %v", c.RejoinMax, c.RejoinMin)
	}
	if c.GossipNodes <= 0 || c.SuspicionMult <= 0 {
		bad("gossipNodes/suspicionMult", "must be positive")
	}
	if c.MaxFrameBytes < 64<<10 || c.MaxFrameBytes > 20<<20 {
		bad("maxFrameBytes", "%d is outside 64KiB..20MiB (memberlist's own limit)", c.MaxFrameBytes)
	}
	if c.MaxBodyBytes < c.MaxFrameBytes {
		bad("maxBodyBytes", "%d is below maxFrameBytes", c.MaxBodyBytes)
	}
	return errors.Join(errs...)
}

func (c *Config) limits() wire.Limits {
	return wire.Limits{MaxFrame: c.MaxFrameBytes, MaxBody: c.MaxBodyBytes}
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not in 0..65535", p)
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	return host, port, nil
}

// Options are a Node's collaborators (not configuration). The zero value is usable.
type Options struct {
	// Logger receives the Node's and memberlist's logs; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the Node's metrics; nil means they are not exported.
	Registerer prometheus.Registerer
	// WrapTransport, when set, wraps the UDP/TCP transport (tests filter and
	// count traffic with it).
	WrapTransport func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport
	// SeedSource, when set, is asked for more seed addresses whenever the
	// Node re-joins (the daemon resolves peers' gossip Services through their
	// remote secrets). It is called from the rejoin goroutine and may block
	// until ctx is done.
	SeedSource func(ctx context.Context) ([]string, error)
	// Now is the clock for generations, the fail-static window, observation
	// times (SetLocal's state.ObservedAt) and the timed exchanges that
	// estimate peers' clock offsets; nil means time.Now. (Tests skew it.)
	Now func() time.Time
	// DataPlaneServing, when set, is asked when a cluster's fail-static
	// window ends: true (its gateways still answer from here) keeps the
	// cluster visible, asked again every DataPlaneRecheck, until it says
	// false or the owner returns. It is called with the Node's lock held
	// (from the notifier, delegates and admin routes): it must be fast, never
	// block and never call the Node.
	DataPlaneServing func(*model.ClusterState) bool
	// Convergence, when set, tells Members the last convergence measured
	// for a cluster (from a change observed there to a gateway's ACK here:
	// the daemon asks its xDS server). Called with the Node's lock held:
	// fast, never blocking, never calling the Node.
	Convergence func(cluster string) (d time.Duration, at time.Time, ok bool)
	// Auth signs the local cluster's records and verifies the others'
	// (X509Auth). Required unless Config.Insecure; with Insecure and no
	// Auth, records are neither signed nor verified (development only).
	Auth RecordAuth
	// SealingSeed, when set (at least 32 secret bytes), derives the sealing
	// key pair (with the mesh and cluster ids) instead of making a random
	// one at each start: replicas of a cluster given the same seed (the
	// daemon derives it from the CA key they share) have the same key, so
	// every replica opens the remote secrets sealed for the cluster, and a
	// restart keeps the key (no re-sealing). It must be secret: whoever
	// knows it opens them.
	SealingSeed []byte
}
