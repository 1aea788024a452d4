package meshlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meshgate/meshgate/test/e2e/netlab"
)

// Replicas (Options.Replicas ≥ 2): several daemons per cluster, as
// deploy/meshgate runs them. Each runs with --leader-elect against its
// cluster's API server (a Lease in istio-system, Options.LeaseDuration),
// shares the cluster's cacerts, and has ports of its own on the node
// address (replica i: every port + 100·i; the admin socket, gossip name
// file and log carry -r<i>). Replica 0 is Cluster.Daemon. There is no
// Service VIP in the lab: the gateways are given every replica's secure
// xDS address (`meshgate gateway --xds-address a,b`) and move to the next
// when their stream ends.
//
// Each replica reaches the API server through an address of its own (the
// node address on port APIAliasPort+i, DNATed to the API server in the
// network's OUTPUT chain), so that one replica can be cut off from it
// (Mesh.PartitionFromAPIServer) while the other is not.

// APIAliasPort is the first port of the replicas' own ways to the API server.
const APIAliasPort = 16443

// DefaultLeaseDuration is the lab's lease (the daemon's minimum; deploy's
// default is 15 s).
const DefaultLeaseDuration = 3 * time.Second

// Replica is one daemon of a cluster that runs several.
type Replica struct {
	C     *Cluster
	Index int
	Proc  *Proc
}

func (r *Replica) port(base int) uint16 { return uint16(base + 100*r.Index) }
func (r *Replica) suffix() string {
	if r.Index == 0 {
		return ""
	}
	return fmt.Sprintf("-r%d", r.Index)
}

// Name is cluster/replica<i>.
func (r *Replica) Name() string { return fmt.Sprintf("%s/replica%d", r.C.ID, r.Index) }

// XDSAddr is the replica's secure xDS port; GossipAddr its gossip address.
func (r *Replica) XDSAddr() string {
	return netip.AddrPortFrom(r.C.Net.NodeIP, r.port(XDSPort)).String()
}
func (r *Replica) GossipAddr() string {
	return netip.AddrPortFrom(r.C.Net.NodeIP, r.port(GossipPort)).String()
}

// MonitoringURL is the replica's monitoring port (/metrics, /readyz).
func (r *Replica) MonitoringURL() string {
	return "http://" + netip.AddrPortFrom(r.C.Net.NodeIP, r.port(DaemonAdmin)).String()
}

func (r *Replica) adminSock() string { return filepath.Join(r.C.Dir, "admin"+r.suffix()+".sock") }

// GossipNameFile holds the suffix of the replica's gossip member name.
func (r *Replica) GossipNameFile() string {
	return filepath.Join(r.C.Dir, "gossip-name"+r.suffix())
}

// GossipName is the replica's gossip member name: the cluster id and the
// suffix the daemon keeps in its name file.
func (r *Replica) GossipName() (string, error) {
	b, err := os.ReadFile(r.GossipNameFile())
	return r.C.ID + "-" + strings.TrimSpace(string(b)), err
}

// APIAlias is the replica's own address of its API server.
func (r *Replica) APIAlias() netip.AddrPort {
	return netip.AddrPortFrom(r.C.Net.NodeIP, uint16(APIAliasPort+r.Index))
}

// AdminClient is an HTTP client of the replica's admin API (http://admin/...).
func (r *Replica) AdminClient() *http.Client {
	sock := r.adminSock()
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// Publishers is the replica's /debug/clusters publishers: per cluster,
// the members it knows to publish it under a lease.
func (r *Replica) Publishers(ctx context.Context) (map[string][]Publisher, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin/debug/clusters", nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.AdminClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s /debug/clusters: %w", r.Name(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s /debug/clusters: %s", r.Name(), resp.Status)
	}
	var d struct {
		Publishers []Publisher `json:"publishers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return nil, fmt.Errorf("%s /debug/clusters: %w", r.Name(), err)
	}
	out := map[string][]Publisher{}
	for _, p := range d.Publishers {
		out[p.Cluster] = append(out[p.Cluster], p)
	}
	return out, nil
}

// Publisher is an entry of /debug/clusters' publishers.
type Publisher struct {
	Cluster     string `json:"cluster"`
	Member      string `json:"member"`
	Holder      string `json:"holder"`
	Transitions uint64 `json:"transitions"`
	Local       bool   `json:"local"`
}

// XDSAddrs lists the secure xDS addresses of every replica, comma-separated
// (what the cluster's gateways are given).
func (c *Cluster) XDSAddrs() string {
	var a []string
	for _, r := range c.Replicas {
		a = append(a, r.XDSAddr())
	}
	return strings.Join(a, ",")
}

// gatewayXDSAddr is what a gateway of c connects to: every replica, or the
// one daemon.
func (c *Cluster) gatewayXDSAddr() string {
	if len(c.Replicas) > 1 {
		return c.XDSAddrs()
	}
	return c.XDSAddr()
}

// replicaProc is daemonProc's command line for replica i of c: its own
// ports, admin socket, gossip name, log and way to the API server, joined
// to the cluster's other replicas too, with --leader-elect.
func (m *Mesh) replicaProc(c *Cluster, i int) (*Replica, error) {
	r := &Replica{C: c, Index: i}
	p := m.daemonProc(c)
	kubeconfig, err := r.writeKubeconfig()
	if err != nil {
		return nil, err
	}
	set := func(flag, value string) {
		j := slices.Index(p.Argv, flag)
		if j < 0 {
			p.Argv = append(p.Argv, flag, value)
			return
		}
		p.Argv[j+1] = value
	}
	set("--secure-xds-address", r.XDSAddr())
	set("--xds-address", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), r.port(15010)).String())
	set("--monitoring-address", netip.AddrPortFrom(c.Net.NodeIP, r.port(DaemonAdmin)).String())
	set("--admin-address", "unix:"+r.adminSock())
	set("--gossip-address", r.GossipAddr())
	set("--gossip-name-file", r.GossipNameFile())
	set("--kubeconfig", kubeconfig)
	if j := slices.Index(p.Argv, "--join"); j >= 0 {
		var own []string
		for k := range m.Opts.Replicas {
			if k != i {
				own = append(own, (&Replica{C: c, Index: k}).GossipAddr())
			}
		}
		p.Argv[j+1] = strings.Join(append(own, p.Argv[j+1]), ",")
	}
	p.Argv = append(p.Argv, "--leader-elect", "--leader-elect-lease-duration", m.Opts.LeaseDuration.String())
	p.Name = r.Name()
	p.LogPath = filepath.Join(c.Dir, "daemon"+r.suffix()+".log")
	r.Proc = p
	return r, nil
}

// writeKubeconfig copies the cluster's admin kubeconfig with the replica's
// own address of the API server.
func (r *Replica) writeKubeconfig() (string, error) {
	b, err := os.ReadFile(r.C.Kube.KubeconfigPath())
	if err != nil {
		return "", err
	}
	url := r.C.Kube.URL()
	if !strings.Contains(string(b), url) {
		return "", fmt.Errorf("%s: %s does not name %s", r.Name(), r.C.Kube.KubeconfigPath(), url)
	}
	path := filepath.Join(r.C.Dir, "kubeconfig"+r.suffix())
	return path, os.WriteFile(path, []byte(strings.ReplaceAll(string(b), url, "https://"+r.APIAlias().String())), 0o600)
}

// apiServerAddr is the API server's address (host:port of its URL).
func (c *Cluster) apiServerAddr() (netip.AddrPort, error) {
	return netip.ParseAddrPort(strings.TrimPrefix(c.Kube.URL(), "https://"))
}

// startReplicaDaemons starts every replica of every cluster (Options.Replicas
// ≥ 2) and waits until each is ready; Cluster.Daemon is replica 0.
func (m *Mesh) startReplicaDaemons(ctx context.Context) error {
	for _, c := range m.Clusters {
		api, err := c.apiServerAddr()
		if err != nil {
			return err
		}
		for i := range m.Opts.Replicas {
			r, err := m.replicaProc(c, i)
			if err != nil {
				return err
			}
			if _, err := m.Lab.Redirect(c.Net, r.APIAlias(), api); err != nil {
				return err
			}
			c.Replicas = append(c.Replicas, r)
		}
		c.Daemon = c.Replicas[0].Proc
		for _, r := range c.Replicas {
			if err := r.Proc.Start(); err != nil {
				return err
			}
		}
	}
	for _, c := range m.Clusters {
		for _, r := range c.Replicas {
			if err := m.WaitReplica(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// WaitReplica waits until the replica answers /readyz (bounded: 2 minutes).
func (m *Mesh) WaitReplica(ctx context.Context, r *Replica) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return WaitHTTP(ctx, r.MonitoringURL()+"/readyz", r.Proc)
}

// PartitionFromAPIServer cuts replica r off from its API server: every
// packet of its connections to it (established ones included) is dropped
// in the network's OUTPUT chain. The other replicas keep theirs.
func (m *Mesh) PartitionFromAPIServer(r *Replica) (*netlab.Fault, error) {
	return m.Lab.DropConnectionsTo(r.C.Net, r.APIAlias())
}

// Leader is the replica of c that every live replica of the mesh names as
// c's publisher, with that entry; an error says why there is none (no
// publisher, several, or replicas that disagree).
func (m *Mesh) Leader(ctx context.Context, c *Cluster) (*Replica, Publisher, error) {
	names := map[string]*Replica{}
	for _, r := range c.Replicas {
		if n, err := r.GossipName(); err == nil {
			names[n] = r
		}
	}
	var lead *Publisher
	var errs []error
	for _, o := range m.Clusters {
		for _, r := range o.Replicas {
			if !r.Proc.Running() {
				continue
			}
			pubs, err := r.Publishers(ctx)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ps := pubs[c.ID]
			switch {
			case len(ps) != 1:
				errs = append(errs, fmt.Errorf("%s names %d publishers of %s: %v", r.Name(), len(ps), c.ID, ps))
			case lead == nil:
				lead = &ps[0]
			case lead.Member != ps[0].Member || lead.Holder != ps[0].Holder || lead.Transitions != ps[0].Transitions:
				errs = append(errs, fmt.Errorf("%s names %+v as %s's publisher, another replica %+v", r.Name(), ps[0], c.ID, *lead))
			}
		}
	}
	if len(errs) > 0 {
		return nil, Publisher{}, errors.Join(errs...)
	}
	if lead == nil {
		return nil, Publisher{}, fmt.Errorf("no live replica names a publisher of %s", c.ID)
	}
	r := names[lead.Member]
	if r == nil {
		return nil, *lead, fmt.Errorf("%s's publisher %s is none of its replicas", c.ID, lead.Member)
	}
	return r, *lead, nil
}
