package meshlab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"k8s.io/client-go/dynamic"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/xds/node"
)

// Pod is an echo pod: an address in its network, an SVID and a server.
type Pod struct {
	Name, Service, Version, SA string
	IP                         netip.Addr
	Echo                       *workload.Echo
}

// Cluster is one simulated cluster: its network, API server (kube source),
// object store, daemon and gateways.
type Cluster struct {
	Mesh    *Mesh
	ID      string // "cluster1"
	Net     *netlab.Network
	Kube    *kubetest.Cluster // the cluster's API server (in its network)
	Store   *Store
	CACerts string // Istio-style cacerts directory of the cluster's intermediate CA
	Dir     string

	Daemon, EastWest, Ingress *Proc
	// Replicas are the cluster's daemons with Options.Replicas ≥ 2
	// (Replicas[0].Proc is Daemon).
	Replicas []*Replica
	// EnvoyEastWest and EnvoyIngress are the real Envoy gateways
	// (Options.Envoy); EastWest is then nil.
	EnvoyEastWest, EnvoyIngress *EnvoyGateway
	// EnvoyEgress is the Envoy egress gateway (Options.EgressCluster), on
	// the pod address EgressIP.
	EnvoyEgress *EnvoyGateway
	EgressIP    netip.Addr

	mu    sync.Mutex
	pods  []*Pod
	ids   map[string]*workload.Identity // by service account
	extra []string                      // further object YAML (ingress)
}

// GossipAddr is the daemon's gossip address; GossipKeyFile its keyring.
func (c *Cluster) GossipAddr() string { return netip.AddrPortFrom(c.Net.NodeIP, GossipPort).String() }
func (c *Cluster) GossipKeyFile() string {
	return filepath.Join(c.Dir, "gossip.keys")
}

// AdminAddr is the daemon's admin API, a Unix socket in the cluster's
// directory (for meshgate keyring/members; reachable from the host, not
// over any network, as a pod's loopback admin through kubectl exec).
func (c *Cluster) AdminAddr() string { return "unix:" + filepath.Join(c.Dir, "admin.sock") }

// AdminClient is an HTTP client of the admin API (requests to http://admin/...).
func (c *Cluster) AdminClient() *http.Client {
	sock := filepath.Join(c.Dir, "admin.sock")
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// XDSAddr is the daemon's secure xDS port (TLS; callers prove an SVID);
// AdminURL its monitoring port (/metrics, /healthz, /readyz), on the node
// address.
func (c *Cluster) XDSAddr() string { return netip.AddrPortFrom(c.Net.NodeIP, XDSPort).String() }
func (c *Cluster) AdminURL() string {
	return "http://" + netip.AddrPortFrom(c.Net.NodeIP, DaemonAdmin).String()
}

// Identity returns the SVID of service account sa in the e2e namespace,
// issued once by `meshgate cert issue` with the cluster's CA.
func (c *Cluster) Identity(ctx context.Context, ns, sa string) (*workload.Identity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.ids[ns+"/"+sa]; ok {
		return id, nil
	}
	dir, err := c.Mesh.PKI.Issue(ctx, c.CACerts, ns, sa, c.ID+"-"+ns+"-"+sa)
	if err != nil {
		return nil, err
	}
	id, err := workload.LoadIdentity(dir)
	if err != nil {
		return nil, err
	}
	c.ids[ns+"/"+sa] = id
	return id, nil
}

// AddEchoPod starts an echo pod of svc (version label, service account
// svc) and publishes it: Pod, Service and EndpointSlice are written. It
// accepts the callers of Mesh.AllowedCallers.
func (c *Cluster) AddEchoPod(ctx context.Context, svc, version string) (*Pod, error) {
	return c.AddEchoPodAllowing(ctx, svc, version, c.Mesh.AllowedCallers()...)
}

// AddEchoPodAllowing is AddEchoPod for a pod that accepts only the callers
// allow (SPIFFE IDs).
func (c *Cluster) AddEchoPodAllowing(ctx context.Context, svc, version string, allow ...spiffeid.ID) (*Pod, error) {
	id, err := c.Identity(ctx, Namespace, svc)
	if err != nil {
		return nil, err
	}
	ip, err := c.Net.AddPod()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	p := &Pod{Name: fmt.Sprintf("%s-%s-%s-%d", svc, c.ID, version, len(c.pods)+1), Service: svc, Version: version, SA: svc, IP: ip}
	c.mu.Unlock()
	p.Echo, err = workload.StartEcho(workload.EchoConfig{Net: c.Net, Addr: netip.AddrPortFrom(ip, EchoPort),
		Cluster: c.ID, Pod: p.Name, Service: Host(svc), Version: version, ID: id,
		Allow: tlsconfig.AuthorizeOneOf(allow...)})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.pods = append(c.pods, p)
	c.mu.Unlock()
	return p, c.Publish(ctx)
}

// RemovePod withdraws a pod (Pod and its EndpointSlice entry) and stops it.
func (c *Cluster) RemovePod(ctx context.Context, p *Pod) error {
	c.mu.Lock()
	for i, q := range c.pods {
		if q == p {
			c.pods = append(c.pods[:i], c.pods[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	c.Store.Delete("Pod", Namespace, p.Name)
	err := c.Publish(ctx)
	_ = p.Echo.Close()
	return err
}

// Pods lists the cluster's echo pods.
func (c *Cluster) Pods() []*Pod {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Pod(nil), c.pods...)
}

// Publish writes the cluster's objects: base configuration, pods, services
// with their EndpointSlices.
func (c *Cluster) Publish(ctx context.Context) error {
	c.mu.Lock()
	docs := []string{baseObjects(c, c.Mesh.Opts.ClientRoutes)}
	docs = append(docs, c.extra...)
	bySvc := map[string][]*Pod{}
	for _, p := range c.pods {
		docs = append(docs, podObject(p))
		bySvc[p.Service] = append(bySvc[p.Service], p)
	}
	for _, svc := range c.Mesh.Opts.Services[c.ID] {
		if _, ok := bySvc[svc]; !ok {
			bySvc[svc] = nil
		}
	}
	svcs := make([]string, 0, len(bySvc))
	for s := range bySvc {
		svcs = append(svcs, s)
	}
	sort.Strings(svcs)
	for _, s := range svcs {
		docs = append(docs, serviceObjects(s, bySvc[s]))
	}
	c.mu.Unlock()
	for _, d := range docs {
		if err := c.Store.Set(d); err != nil {
			return fmt.Errorf("%s: %w", c.ID, err)
		}
	}
	if err := c.Store.Sync(ctx); err != nil {
		return fmt.Errorf("%s: %w", c.ID, err)
	}
	return nil
}

// newStore makes the cluster's store: its API server, plus, with the file
// source, the YAML directory its daemon watches.
func (c *Cluster) newStore() error {
	api, err := dynamic.NewForConfig(c.Kube.RESTConfig())
	if err != nil {
		return err
	}
	file := ""
	if c.Mesh.Opts.Source == SourceFile {
		dir := filepath.Join(c.Dir, "objects")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		file = filepath.Join(dir, "objects.yaml")
	}
	c.Store = NewStore(api, file)
	return nil
}

// gatewayProc describes a built-in gateway of the cluster. It connects to
// the daemon's secure port with the SVID of its service account.
func (c *Cluster) gatewayProc(ctx context.Context, name, ip, labels string, admin int, extra ...string) (*Proc, error) {
	// The pod runs as service account <name>, as Istio's gateways do.
	svid, err := c.Mesh.PKI.Issue(ctx, c.CACerts, SystemNS, name, c.ID+"-"+SystemNS+"-"+name)
	if err != nil {
		return nil, err
	}
	argv := append(c.Net.Exec(), c.Mesh.Bin, "gateway",
		"--xds-address", c.gatewayXDSAddr(), "--xds-server-name", XDSServerName,
		"--xds-ca", filepath.Join(svid, identity.SVIDFileRoots),
		"--xds-cert", filepath.Join(svid, identity.SVIDFileCertChain), "--xds-key", filepath.Join(svid, identity.SVIDFileKey),
		"--node-id", node.ID{Type: node.TypeRouter, IP: ip, Pod: name + "-0", Namespace: SystemNS, DomainSuffix: model.DefaultDomainSuffix}.String(),
		"--label", labels,
		"--metadata", node.MetaNetwork+"="+c.Net.Name, "--metadata", node.MetaClusterID+"="+c.ID,
		"--metadata", node.MetaServiceAccount+"="+name,
		"--admin-address", netip.AddrPortFrom(c.Net.NodeIP, uint16(admin)).String(),
		// Connections of a replaced listener drain quickly in tests.
		"--drain-timeout", "5s")
	argv = append(argv, extra...)
	return &Proc{Name: c.ID + "/" + name, Argv: argv, LogPath: filepath.Join(c.Dir, name+".log")}, nil
}

// GatewayAdminURL is the admin address of the east-west (or ingress) gateway.
func (c *Cluster) GatewayAdminURL(admin int) string {
	return "http://" + netip.AddrPortFrom(c.Net.NodeIP, uint16(admin)).String()
}

// WaitHTTP polls url until it answers 200 or ctx ends; p, when set, must
// keep running meanwhile.
func WaitHTTP(ctx context.Context, url string, p *Proc) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		var exited <-chan struct{}
		if p != nil {
			exited = p.Exited()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %v", url, last)
		case <-exited:
			return fmt.Errorf("%s exited (%v) before %s was ready; log:\n%s", p.Name, p.ExitErr(), url, p.LogTail(30))
		case <-tick.C:
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// ClientSA is the service account of the clients; echo pods accept it and
// the ingress gateway's.
const ClientSA = "client"

// NewClient starts a mesh client pod in the cluster: a pod address, the
// client's SVID, and an ADS client to the cluster's own daemon (node
// labelled app=e2e-client, so the daemon gives it the clients' routes).
func (c *Cluster) NewClient(ctx context.Context, name string) (*workload.Client, error) {
	return c.NewClientAs(ctx, name, ClientSA)
}

// NewClientAs is NewClient with the SVID of service account sa.
func (c *Cluster) NewClientAs(ctx context.Context, name, sa string) (*workload.Client, error) {
	id, err := c.Identity(ctx, Namespace, sa)
	if err != nil {
		return nil, err
	}
	ip, err := c.Net.AddPod()
	if err != nil {
		return nil, err
	}
	d := netlab.Dialer{Net: c.Net, Src: ip}
	x, err := workload.StartXDSTLS(c.XDSAddr(), d, node.Node{
		ID:       node.ID{Type: node.TypeRouter, IP: ip.String(), Pod: name, Namespace: Namespace, DomainSuffix: model.DefaultDomainSuffix},
		Metadata: node.Metadata{Labels: map[string]string{"app": "e2e-client"}, Namespace: Namespace, Network: c.Net.Name, ClusterID: c.ID},
	}, id.XDSClientTLS(XDSServerName))
	if err != nil {
		return nil, err
	}
	return workload.NewClient(d, id, x), nil
}
