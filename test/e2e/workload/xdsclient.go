package workload

import (
	"context"
	"crypto/tls"
	"net"
	"slices"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/xds/node"
)

// XDSClient subscribes like a proxy over state-of-the-world ADS (the tests'
// one ADS client, adstest, narrowed to CDS as a wildcard and EDS by the names
// of the EDS clusters). It keeps the last configuration it accepted while the
// control plane is unreachable and reconnects on its own (backoff 100 ms .. 2 s).
type XDSClient struct {
	addr   string
	node   *corev3.Node
	dialer netlab.Dialer
	tls    *tls.Config // nil: plaintext

	mu        sync.Mutex
	clusters  map[string]*clusterv3.Cluster
	endpoints map[string]*endpointv3.ClusterLoadAssignment
	connected bool
	streams   int // streams opened so far
	changed   chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// StartXDS connects to the ADS server at addr from inside dialer's network,
// as node n.
func StartXDS(addr string, dialer netlab.Dialer, n node.Node) (*XDSClient, error) {
	return StartXDSTLS(addr, dialer, n, nil)
}

// StartXDSTLS is StartXDS over TLS with tlsCfg (the daemon's secure port;
// see Identity.XDSClientTLS), or plaintext when tlsCfg is nil.
func StartXDSTLS(addr string, dialer netlab.Dialer, n node.Node, tlsCfg *tls.Config) (*XDSClient, error) {
	en, err := n.Envoy()
	if err != nil {
		return nil, err
	}
	en.UserAgentName = "meshgate-e2e-client"
	ctx, cancel := context.WithCancel(context.Background())
	c := &XDSClient{addr: addr, node: en, dialer: dialer, tls: tlsCfg, clusters: map[string]*clusterv3.Cluster{},
		endpoints: map[string]*endpointv3.ClusterLoadAssignment{}, changed: make(chan struct{}),
		cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

// Close stops the client.
func (c *XDSClient) Close() {
	c.cancel()
	<-c.done
}

// Changed returns a channel closed at the next change of state (update,
// connect, disconnect).
func (c *XDSClient) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *XDSClient) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Connected reports whether a stream is open; Streams counts the streams
// opened so far (reconnects).
func (c *XDSClient) Connected() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.connected }
func (c *XDSClient) Streams() int    { c.mu.Lock(); defer c.mu.Unlock(); return c.streams }

// Cluster returns the cluster and its endpoints as last accepted.
func (c *XDSClient) Cluster(name string) (*clusterv3.Cluster, *endpointv3.ClusterLoadAssignment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clusters[name], c.endpoints[name]
}

// ClusterNames lists the clusters last accepted, sorted.
func (c *XDSClient) ClusterNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.clusters))
	for n := range c.clusters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (c *XDSClient) run(ctx context.Context) {
	defer close(c.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		opened := c.stream(ctx)
		c.mu.Lock()
		c.connected = false
		c.notifyLocked()
		c.mu.Unlock()
		if opened {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff): // reconnect backoff, not a wait for a condition
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// stream runs one ADS stream until it ends; it reports whether a response
// arrived on it.
func (c *XDSClient) stream(ctx context.Context) (opened bool) {
	creds := insecure.NewCredentials()
	if c.tls != nil {
		creds = credentials.NewTLS(c.tls)
	}
	conn, err := grpc.NewClient("passthrough:///"+c.addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return c.dialer.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		return false
	}
	defer conn.Close()
	a, err := adstest.Dial(ctx, conn, c.node, false, adstest.Types(resource.ClusterType, resource.EndpointType))
	if err != nil {
		return false
	}
	defer a.Close()
	for seen := 0; ; {
		st, err := a.WaitFor(ctx, func(s adstest.State) bool { return len(s.Log) > seen })
		if err != nil {
			return opened // the stream ended, or ctx did
		}
		seen = len(st.Log)
		c.mu.Lock()
		if !opened {
			opened = true
			c.connected = true
			c.streams++
		}
		c.applyLocked(st)
		c.notifyLocked()
		c.mu.Unlock()
	}
}

// applyLocked takes the stream's accepted state. A new stream's first CDS
// replaces the clusters; endpoints are kept until their EDS arrives again
// (so a reconnect does not empty them meanwhile) and dropped with their cluster.
func (c *XDSClient) applyLocked(st adstest.State) {
	if _, ok := st.Versions[resource.ClusterType]; ok {
		c.clusters = map[string]*clusterv3.Cluster{}
		for name, m := range st.Resources[resource.ClusterType] {
			if cl, ok := m.(*clusterv3.Cluster); ok {
				c.clusters[name] = cl
			}
		}
	}
	for name, m := range st.Resources[resource.EndpointType] {
		if cla, ok := m.(*endpointv3.ClusterLoadAssignment); ok {
			c.endpoints[name] = cla
		}
	}
	for name := range c.endpoints {
		if _, ok := c.clusters[name]; !ok {
			delete(c.endpoints, name)
		}
	}
}
