package daemon

import (
	"fmt"
	"sync"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation"
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

// newFederation builds the gossip node when gossip-address is set (Run runs
// it) and, in Kubernetes mode with remote-secret-server, the renewer of the
// remote secret it gossips. Remote cluster states feed the mesher; the daemon
// publishes its local cluster with SetLocal after every load. The records it
// publishes are signed with a key that the CA certifies for this cluster
// (renewed at half life by Run).
func (d *Daemon) newFederation() error {
	g := d.cfg.GossipConfig
	if g.BindAddress == "" {
		return nil
	}
	log := d.log.With("component", "federation")
	fc := federation.DefaultConfig()
	fc.BindAddr, fc.AdvertiseAddr, fc.Seeds = g.BindAddress, g.AdvertiseAddress, g.Join
	fc.MeshID, fc.ClusterID = g.MeshID, d.cfg.ClusterID
	fc.KeyringFile, fc.Insecure = g.KeyringFile, g.Insecure
	if g.FailStaticWindow > 0 {
		fc.FailStaticWindow = g.FailStaticWindow.D()
	}
	auth, err := federation.NewX509Auth(d.id.ca, d.cfg.ClusterID, federation.DefaultSigningTTL)
	if err != nil {
		return fmt.Errorf("federation: %w", err)
	}
	opts := federation.Options{Logger: log, Registerer: d.reg, Auth: auth}
	ks, kube := d.source.(*KubeSource)
	if kube {
		opts.SeedSource = gossipSeeds(ks.Controller().ClusterConfigs, d.cfg.Namespace, log)
	}
	n, err := federation.New(fc, opts)
	if err != nil {
		return fmt.Errorf("federation: %w", err)
	}
	if d.cfg.IdentityCADir == "" && d.cfg.CACerts == "" {
		log.Warn("federation: the CA is ephemeral: after a restart this cluster's records are signed under a new CA, " +
			"which peers that pinned the previous one reject until they restart; set identity-ca-dir or cacerts")
	}
	n.Subscribe(d.mesh.setRemote)
	d.fed, d.fedAuth = n, auth
	if kube && d.cfg.RemoteSecretServer != "" {
		d.own = &ownSecret{cfg: ks.restCfg, cluster: d.cfg.ClusterID, namespace: d.cfg.Namespace,
			server: d.cfg.RemoteSecretServer, ttl: d.cfg.RemoteSecretTTL.D(), retry: time.Minute,
			log: log, changed: d.republishLocal}
	}
	return nil
}
