package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/identity"
)

// mesher composes what the xDS server serves: the state from the
// configuration source (the local cluster, or several clusters of a
// mesh.yaml) plus the remote clusters federation learned by gossip. A cluster
// the source has is never replaced by a gossiped one.
//
//	source ──publish──▶ mesher ──Update──▶ xds server
//	federation ─remote─▶   │ └──SetLocal──▶ federation
type mesher struct {
	mu     sync.Mutex
	source *model.MeshState
	remote []*model.ClusterState
	update func(*model.MeshState)
}

// setSource records a new source state and pushes the composition.
func (m *mesher) setSource(s *model.MeshState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.source = s
	m.pushLocked()
}

// setRemote records federation's current remote set and pushes the composition.
func (m *mesher) setRemote(r []*model.ClusterState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remote = r
	m.pushLocked()
}

func (m *mesher) pushLocked() {
	if m.source == nil {
		return // nothing before the first complete load
	}
	out := m.source
	for _, c := range m.remote {
		if m.source.Cluster(c.ID) == nil {
			out = out.WithCluster(c)
		}
	}
	m.update(out)
}

// startFederation starts the gossip node when gossip-address is set. Remote
// cluster states feed the mesher; the daemon publishes its local cluster with
// SetLocal after every load. The records it publishes are signed with a key
// that ca certifies for this cluster (renewed at half life).
func startFederation(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer, m *mesher,
	seeds func(context.Context) ([]string, error), ca *identity.CA,
) (*federation.Node, error) {
	g := cfg.GossipConfig
	if g.BindAddress == "" {
		return nil, nil
	}
	fc := federation.DefaultConfig()
	fc.BindAddr, fc.AdvertiseAddr, fc.Seeds = g.BindAddress, g.AdvertiseAddress, g.Join
	fc.MeshID, fc.ClusterID = g.MeshID, cfg.ClusterID
	fc.KeyringFile, fc.Insecure = g.KeyringFile, g.Insecure
	if g.FailStaticWindow > 0 {
		fc.FailStaticWindow = g.FailStaticWindow.D()
	}
	auth, err := federation.NewX509Auth(ca, cfg.ClusterID, federation.DefaultSigningTTL)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	n, err := federation.New(fc, federation.Options{Logger: log, Registerer: reg, SeedSource: seeds, Auth: auth})
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	go federation.RenewSigner(ctx, n, auth, ca, cfg.ClusterID, federation.DefaultSigningTTL)
	if cfg.IdentityCADir == "" && cfg.CACerts == "" {
		log.Warn("federation: the CA is ephemeral: after a restart this cluster's records are signed under a new CA, " +
			"which peers that pinned the previous one reject until they restart; set identity-ca-dir or cacerts")
	}
	n.Subscribe(m.setRemote)
	if err := n.Start(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("federation: %w", err)
	}
	log.Info("federation started", "gossip", n.Addr(), "mesh", fc.MeshID, "seeds", fc.Seeds)
	return n, nil
}
