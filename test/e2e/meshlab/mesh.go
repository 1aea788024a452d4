package meshlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/xds/node"
)

// Source is where daemons read their cluster's objects.
type Source string

const (
	// SourceKube: each daemon watches its own cluster's API server
	// (--kubeconfig) and learns the other clusters through federation.
	SourceKube Source = "kube"
	// SourceFile: each daemon reads its own cluster's objects from a YAML
	// directory the suite writes (--config-dir), a mirror of what it
	// writes to the cluster's API server, and learns the other clusters
	// through federation. Used while the binary has no Kubernetes source.
	SourceFile Source = "file"
)

// Options configure a mesh.
type Options struct {
	Clusters int    // 2 or 3
	Dir      string // working directory (logs, certificates, objects)
	Bin      string // meshgate binary
	Caps     Capabilities
	Source   Source // default: SourceKube when the binary has it, else SourceFile
	// Services lists, per cluster id, the services defined there even
	// without pods.
	Services map[string][]string
	// ClientRoutes are the clients' routes (each gives the clients one
	// cluster and its endpoints).
	ClientRoutes []ClientRoute
	// IngressCluster, when set, runs a north-south ingress gateway there.
	IngressCluster string
	// FailStaticWindow is how long a dead peer's endpoints stay (the
	// daemons' --fail-static-window); default 20 s.
	FailStaticWindow time.Duration
	// JoinByRemoteSecret starts the daemons without gossip seeds, each
	// publishing its own remote secret over gossip (--remote-secret-server),
	// with the reader identity of deploy/meshgate and a meshgate-gossip
	// Service in every cluster: the clusters know nothing of each other
	// until `meshgate create-remote-secret` and `meshgate join` are run
	// (Cluster.CreateRemoteSecret, Cluster.Join). Needs SourceKube.
	JoinByRemoteSecret bool
	// Admit lists, by cluster id, the clusters that cluster's daemon
	// admits by id (--admit-cluster); a cluster not in the map admits
	// every other cluster of the mesh. A cluster admitted through a joined
	// remote secret (its trust bundle) needs no entry.
	Admit map[string][]string
	// Envoy, when set, is the envoy executable: the east-west gateways are
	// real Envoy processes instead of built-in ones, and the ingress
	// cluster also runs an Envoy ingress gateway (see EnvoyGateway).
	Envoy string
	// EgressCluster, with Envoy, runs an Envoy egress gateway there (see
	// setupEgress), towards an external service on the node address of
	// ExternalCluster.
	EgressCluster, ExternalCluster string
	// BuiltinEastWest lists clusters that keep the built-in east-west
	// gateway with Envoy set (both kinds in one run, to compare them).
	BuiltinEastWest []string
	// MulticlusterServices installs the Multi-Cluster Services CRDs
	// (deploy/mcs) in every API server and runs the daemons with
	// --multicluster-services. Needs SourceKube.
	MulticlusterServices bool
	// Replicas, when 2 or more, runs that many daemons per cluster, with
	// --leader-elect (see replicas.go); needs SourceKube and the identity
	// CA (cacerts). LeaseDuration is their lease (default
	// DefaultLeaseDuration).
	Replicas      int
	LeaseDuration time.Duration
	Logf          func(format string, args ...any)
}

// Mesh is the running world.
type Mesh struct {
	Opts     Options
	Bin      string
	Lab      *netlab.Lab
	PKI      *PKI
	Clusters []*Cluster
	// IngressPKI signs the Envoy ingress's north-south certificates (with
	// Options.Envoy and an ingress cluster).
	IngressPKI *IngressPKI
	// ExternalPKI signs the external service's certificate and External is
	// that service (with Options.EgressCluster).
	ExternalPKI *IngressPKI
	External    *workload.External
}

// New builds the mesh in slot: networks, PKI, clusters (API servers with the
// Kubernetes source), objects, daemons, east-west gateways and, if asked, the
// ingress gateway. On error everything started is stopped.
func New(ctx context.Context, slot *netlab.Slot, opts Options) (m *Mesh, err error) {
	if opts.Source == "" {
		opts.Source = SourceFile
		if opts.Caps.Kubeconfig {
			opts.Source = SourceKube
		}
	}
	if opts.FailStaticWindow <= 0 {
		opts.FailStaticWindow = 20 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if !opts.Caps.Gossip {
		return nil, errors.New("the meshgate binary has no federation (meshgate run --gossip-address)")
	}
	if opts.JoinByRemoteSecret && opts.Source != SourceKube {
		return nil, errors.New("joining by remote secret needs the Kubernetes source")
	}
	if opts.MulticlusterServices && opts.Source != SourceKube {
		return nil, errors.New("the Multi-Cluster Services API needs the Kubernetes source")
	}
	if opts.Replicas > 1 {
		if opts.Source != SourceKube || !opts.Caps.IdentityCA {
			return nil, errors.New("replicas need the Kubernetes source (their Lease) and --cacerts (their shared CA)")
		}
		if opts.LeaseDuration <= 0 {
			opts.LeaseDuration = DefaultLeaseDuration
		}
	}
	m = &Mesh{Opts: opts, Bin: opts.Bin}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.Close())
		}
	}()
	if m.Lab, err = netlab.New(slot, opts.Clusters); err != nil {
		return m, err
	}
	if m.PKI, err = NewPKI(opts.Bin, filepath.Join(opts.Dir, "pki"), model.DefaultTrustDomain); err != nil {
		return m, err
	}
	for i, n := range m.Lab.Networks {
		c := &Cluster{Mesh: m, ID: fmt.Sprintf("cluster%d", i+1), Net: n, ids: map[string]*workload.Identity{}}
		c.Dir = filepath.Join(opts.Dir, c.ID)
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			return m, err
		}
		if c.CACerts, err = m.PKI.ClusterCA(ctx, c.ID); err != nil {
			return m, err
		}
		m.Clusters = append(m.Clusters, c)
	}
	// Every cluster has its API server, whatever the daemons read: the
	// suite writes the cluster's objects there (and, for the file source,
	// mirrors them into YAML).
	if err := m.startAPIServers(ctx); err != nil {
		return m, err
	}
	if opts.MulticlusterServices {
		if err := m.installMCSCRDs(ctx); err != nil {
			return m, err
		}
	}
	if err := m.writeGossipKeys(); err != nil {
		return m, err
	}
	var reader string
	if opts.JoinByRemoteSecret {
		if reader, err = remoteReaderYAML(); err != nil {
			return m, err
		}
	}
	for _, c := range m.Clusters {
		if err := c.newStore(); err != nil {
			return m, err
		}
		if opts.JoinByRemoteSecret {
			c.extra = append(c.extra, reader, gossipServiceObject(c))
		}
		if err := c.Publish(ctx); err != nil {
			return m, err
		}
	}
	if opts.IngressCluster != "" {
		if err := m.setupIngress(ctx); err != nil {
			return m, err
		}
	}
	if opts.EgressCluster != "" {
		if err := m.setupEgress(ctx); err != nil {
			return m, err
		}
	}
	if opts.Replicas > 1 {
		err = m.startReplicaDaemons(ctx)
	} else {
		err = m.startDaemons(ctx)
	}
	if err != nil {
		return m, err
	}
	return m, m.startGateways(ctx)
}

// startAPIServers starts one kube-apiserver + etcd per cluster, inside the
// cluster's network, concurrently.
func (m *Mesh) startAPIServers(ctx context.Context) error {
	bins, err := kubetest.FindBinaries()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(m.Clusters))
	for i, c := range m.Clusters {
		wg.Go(func() {
			c.Kube, errs[i] = kubetest.Start(ctx, kubetest.Options{Name: c.ID, BindAddress: c.Net.NodeIP.String(),
				ExecPrefix: c.Net.Exec(), Dir: c.Dir, Binaries: &bins})
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// installMCSCRDs installs deploy/mcs/00-crds.yaml in every API server.
func (m *Mesh) installMCSCRDs(ctx context.Context) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	crds, err := os.ReadFile(filepath.Join(root, "deploy", "mcs", "00-crds.yaml"))
	if err != nil {
		return err
	}
	for _, c := range m.Clusters {
		if _, err := kubetest.InstallCRDs(ctx, c.Kube.RESTConfig(), crds, time.Minute); err != nil {
			return fmt.Errorf("%s: MCS CRDs: %w", c.ID, err)
		}
	}
	return nil
}

// AllowedCallers are the SPIFFE IDs echo pods accept: the clients and the
// ingress gateway.
func (m *Mesh) AllowedCallers() []spiffeid.ID {
	return []spiffeid.ID{m.PKI.WorkloadID(Namespace, ClientSA), m.PKI.WorkloadID(SystemNS, "istio-ingressgateway")}
}

// Cluster returns the cluster with id, or nil.
func (m *Mesh) Cluster(id string) *Cluster {
	for _, c := range m.Clusters {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// daemonProc builds the command line of a cluster's daemon: its source,
// identity (the cluster's cacerts) and federation (gossip on the node
// address, joined to every other daemon, encrypted with the cluster's copy
// of the mesh keyring, admitting the clusters of Options.Admit).
func (m *Mesh) daemonProc(c *Cluster) *Proc {
	argv := append(c.Net.Exec(), m.Bin, "run",
		"--cluster-id", c.ID, "--network", c.Net.Name, "--trust-domain", m.PKI.TrustDomain.Name(),
		// Gateways and clients connect only to the secure port (TLS, their
		// SVIDs); plaintext xDS stays on the daemon's loopback.
		"--secure-xds-address", c.XDSAddr(), "--xds-address", "127.0.0.1:15010",
		"--monitoring-address", netip.AddrPortFrom(c.Net.NodeIP, DaemonAdmin).String(),
		"--admin-address", c.AdminAddr(),
		"--debounce-holdoff", "50ms", "--debounce-max-delay", "500ms",
		"--gossip-address", c.GossipAddr(), "--gossip-key-file", c.GossipKeyFile(),
		// a restarted daemon gossips under its old name: it replaces its
		// old self at once instead of leaving it to be called dead
		"--gossip-name-file", filepath.Join(c.Dir, "gossip-name"),
		"--mesh-id", "e2e", "--fail-static-window", m.Opts.FailStaticWindow.String())
	if m.Opts.JoinByRemoteSecret {
		// No seeds: the daemon finds its peers through the remote secrets it
		// is given (their meshgate-gossip Services) and publishes its own.
		argv = append(argv, "--remote-secret-server", c.Kube.URL())
	} else {
		var join []string
		for _, o := range m.Clusters {
			if o != c {
				join = append(join, o.GossipAddr())
			}
		}
		argv = append(argv, "--join", strings.Join(join, ","))
	}
	admit, ok := m.Opts.Admit[c.ID]
	if !ok {
		for _, o := range m.Clusters {
			if o != c {
				admit = append(admit, o.ID)
			}
		}
	}
	if len(admit) > 0 {
		argv = append(argv, "--admit-cluster", strings.Join(admit, ","))
	}
	if m.Opts.Caps.IdentityCA {
		// Gateways' SVIDs come from the cluster's intermediate under the
		// mesh's shared root.
		argv = append(argv, "--cacerts", c.CACerts)
	}
	if m.Opts.MulticlusterServices {
		argv = append(argv, "--multicluster-services")
	}
	switch m.Opts.Source {
	case SourceFile:
		argv = append(argv, "--config-dir", filepath.Join(c.Dir, "objects"))
	case SourceKube:
		argv = append(argv, "--kubeconfig", c.Kube.KubeconfigPath())
	}
	return &Proc{Name: c.ID + "/daemon", Argv: argv, LogPath: filepath.Join(c.Dir, "daemon.log")}
}

// writeGossipKeys makes the mesh's gossip key (`meshgate keyring
// generate`) and gives each daemon its own keyring file (a daemon rewrites
// its file when its keys are rotated).
func (m *Mesh) writeGossipKeys() error {
	out, err := exec.Command(m.Bin, "keyring", "generate").Output()
	if err != nil {
		return fmt.Errorf("meshgate keyring generate: %w", err)
	}
	key := strings.TrimSpace(string(out))
	for _, c := range m.Clusters {
		if err := os.WriteFile(c.GossipKeyFile(), []byte(key+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (m *Mesh) startDaemons(ctx context.Context) error {
	for _, c := range m.Clusters {
		p := m.daemonProc(c)
		c.Daemon = p
		if err := p.Start(); err != nil {
			return err
		}
	}
	for _, c := range m.Clusters {
		if err := m.WaitDaemon(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// WaitDaemon waits until c's daemon answers /readyz (bounded: 2 minutes).
func (m *Mesh) WaitDaemon(ctx context.Context, c *Cluster) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return WaitHTTP(ctx, c.AdminURL()+"/readyz", c.Daemon)
}

func (m *Mesh) startGateways(ctx context.Context) error {
	if m.Opts.Envoy != "" {
		if err := m.startEnvoyGateways(ctx); err != nil {
			return err
		}
	}
	for _, c := range m.Clusters {
		var err error
		if c.EnvoyEastWest != nil {
			if c.ID == m.Opts.IngressCluster {
				if c.Ingress, err = c.gatewayProc(ctx, "istio-ingressgateway", c.Net.IngressIP.String(), "istio=ingressgateway", IngressAdmin); err != nil {
					return err
				}
				if err := c.Ingress.Start(); err != nil {
					return err
				}
			}
			continue
		}
		if c.EastWest, err = c.gatewayProc(ctx, "istio-eastwestgateway", c.Net.EastWestIP.String(),
			"istio=eastwestgateway", EastWestAdmin, "--metadata", "ROUTER_MODE=sni-dnat"); err != nil {
			return err
		}
		if err := c.EastWest.Start(); err != nil {
			return err
		}
		if c.ID == m.Opts.IngressCluster {
			if c.Ingress, err = c.gatewayProc(ctx, "istio-ingressgateway", c.Net.IngressIP.String(), "istio=ingressgateway", IngressAdmin); err != nil {
				return err
			}
			if err := c.Ingress.Start(); err != nil {
				return err
			}
		}
	}
	for _, c := range m.Clusters {
		if c.EastWest != nil {
			if err := m.WaitGateway(ctx, c, c.EastWest, EastWestAdmin); err != nil {
				return err
			}
		}
		if c.Ingress != nil {
			if err := m.WaitGateway(ctx, c, c.Ingress, IngressAdmin); err != nil {
				return err
			}
		}
	}
	return nil
}

// startEnvoyGateways starts the real Envoy gateways: an east-west gateway
// per cluster not in BuiltinEastWest (labels and router mode of the built-in
// one), and the Envoy
// ingress in the ingress cluster, concurrently, and waits until each is
// ready.
func (m *Mesh) startEnvoyGateways(ctx context.Context) error {
	var gws []*EnvoyGateway
	for _, c := range m.Clusters {
		if !slices.Contains(m.Opts.BuiltinEastWest, c.ID) {
			ew, err := c.envoyGateway(ctx, "istio-eastwestgateway", "istio-eastwestgateway", c.Net.EastWestIP,
				map[string]string{"istio": "eastwestgateway"}, node.RouterModeSNIDNAT)
			if err != nil {
				return err
			}
			c.EnvoyEastWest = ew
			gws = append(gws, ew)
		}
		if c.ID == m.Opts.IngressCluster {
			in, err := c.envoyGateway(ctx, "envoy-ingressgateway", IngressGatewaySA, c.Net.IngressIP,
				map[string]string{"istio": "envoy-ingressgateway"}, "")
			if err != nil {
				return err
			}
			c.EnvoyIngress = in
			gws = append(gws, in)
		}
		if c.ID == m.Opts.EgressCluster {
			eg, err := c.envoyGateway(ctx, "istio-egressgateway", EgressGatewaySA, c.EgressIP,
				map[string]string{"istio": "egressgateway"}, "")
			if err != nil {
				return err
			}
			c.EnvoyEgress = eg
			gws = append(gws, eg)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(gws))
	for i, g := range gws {
		wg.Go(func() { errs[i] = g.Start(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// WaitGateway waits until a gateway reports /ready (bounded: 2 minutes).
func (m *Mesh) WaitGateway(ctx context.Context, c *Cluster, p *Proc, admin int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return WaitHTTP(ctx, c.GatewayAdminURL(admin)+"/ready", p)
}

// setupIngress adds the ingress gateway's Gateway and VirtualService to
// the ingress cluster. Its SVID comes from the daemon over SDS.
func (m *Mesh) setupIngress(ctx context.Context) error {
	c := m.Cluster(m.Opts.IngressCluster)
	if c == nil {
		return fmt.Errorf("ingress cluster %q does not exist", m.Opts.IngressCluster)
	}
	objs := []string{ingressObjects()}
	if m.Opts.Envoy != "" {
		var err error
		if m.IngressPKI, err = newOutsidePKI("ingress.example"); err != nil {
			return err
		}
		y, err := envoyIngressObjects(c, m.IngressPKI)
		if err != nil {
			return err
		}
		objs = append(objs, y)
	}
	c.mu.Lock()
	c.extra = append(c.extra, objs...)
	c.mu.Unlock()
	return c.Publish(ctx)
}

// Close stops every process and removes the networks.
func (m *Mesh) Close() error {
	var errs []error
	for _, c := range m.Clusters {
		procs := []*Proc{c.Ingress, c.EastWest, c.Daemon}
		for _, r := range c.Replicas {
			if r.Proc != c.Daemon {
				procs = append(procs, r.Proc)
			}
		}
		for _, g := range []*EnvoyGateway{c.EnvoyIngress, c.EnvoyEastWest, c.EnvoyEgress} {
			if g != nil {
				procs = append(procs, g.Proc)
			}
		}
		for _, p := range procs {
			if p != nil {
				errs = append(errs, p.Kill())
			}
		}
		for _, p := range c.Pods() {
			_ = p.Echo.Close()
		}
		if c.Kube != nil {
			errs = append(errs, c.Kube.Close())
		}
	}
	if m.External != nil {
		errs = append(errs, m.External.Close())
	}
	if m.Lab != nil {
		errs = append(errs, m.Lab.Close())
	}
	return errors.Join(errs...)
}
