package workload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshgate/meshgate/test/e2e/netlab"
)

// NodeConfig is the xDS identity of a client, Istio style.
type NodeConfig struct {
	IP        string // pod address, in the node id
	Pod       string
	Namespace string
	Labels    map[string]string
	Network   string
	ClusterID string
}

// ID is "router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local".
func (n NodeConfig) ID() string {
	return fmt.Sprintf("router~%s~%s.%s~%s.svc.cluster.local", n.IP, n.Pod, n.Namespace, n.Namespace)
}

func (n NodeConfig) node() (*corev3.Node, error) {
	labels := map[string]any{}
	for k, v := range n.Labels {
		labels[k] = v
	}
	md, err := structpb.NewStruct(map[string]any{
		"LABELS": labels, "NAMESPACE": n.Namespace, "NETWORK": n.Network, "CLUSTER_ID": n.ClusterID,
	})
	if err != nil {
		return nil, err
	}
	return &corev3.Node{Id: n.ID(), Metadata: md, UserAgentName: "meshgate-e2e-client"}, nil
}

// XDSClient is a state-of-the-world ADS client that subscribes like a proxy:
// CDS as a wildcard, then EDS by the names of the EDS clusters it got. It
// keeps the last configuration it accepted while the control plane is
// unreachable and reconnects on its own (backoff 100 ms .. 2 s).
type XDSClient struct {
	addr   string
	node   *corev3.Node
	dialer netlab.Dialer

	mu        sync.Mutex
	clusters  map[string]*clusterv3.Cluster
	endpoints map[string]*endpointv3.ClusterLoadAssignment
	connected bool
	streams   int // streams opened so far
	updates   int // responses applied
	changed   chan struct{}
	lastErr   error
	nacks     int

	cancel context.CancelFunc
	done   chan struct{}
}

// StartXDS connects to the ADS server at addr from inside dialer's network.
func StartXDS(addr string, dialer netlab.Dialer, nc NodeConfig) (*XDSClient, error) {
	node, err := nc.node()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &XDSClient{addr: addr, node: node, dialer: dialer, clusters: map[string]*clusterv3.Cluster{},
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
		opened, err := c.stream(ctx)
		c.mu.Lock()
		c.connected, c.lastErr = false, err
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

// stream runs one ADS stream until it fails; opened says whether a response
// was received on it.
func (c *XDSClient) stream(ctx context.Context) (opened bool, err error) {
	conn, err := grpc.NewClient("passthrough:///"+c.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return c.dialer.DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		return false, err
	}
	defer conn.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return false, err
	}
	s := &adsStream{c: c, st: st}
	if err := s.send(resource.ClusterType, "", "", nil, nil); err != nil {
		return false, err
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return opened, err
		}
		if !opened {
			opened = true
			c.mu.Lock()
			c.connected = true
			c.streams++
			c.notifyLocked()
			c.mu.Unlock()
		}
		if err := s.handle(resp); err != nil {
			return opened, err
		}
	}
}

type adsStream struct {
	c        *XDSClient
	st       discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	edsNames []string
	edsVer   string
	edsNonce string
}

func (s *adsStream) send(typeURL, version, nonce string, names []string, nackErr error) error {
	req := &discoveryv3.DiscoveryRequest{Node: s.c.node, TypeUrl: typeURL, VersionInfo: version,
		ResponseNonce: nonce, ResourceNames: names}
	if nackErr != nil {
		req.ErrorDetail = &statuspb.Status{Message: nackErr.Error()}
	}
	return s.st.Send(req)
}

func (s *adsStream) handle(resp *discoveryv3.DiscoveryResponse) error {
	switch resp.GetTypeUrl() {
	case resource.ClusterType:
		clusters, err := decodeClusters(resp)
		if err != nil {
			s.c.countNACK()
			return s.send(resource.ClusterType, "", resp.GetNonce(), nil, err)
		}
		s.c.setClusters(clusters)
		if err := s.send(resource.ClusterType, resp.GetVersionInfo(), resp.GetNonce(), nil, nil); err != nil {
			return err
		}
		names := edsNames(clusters)
		if !slices.Equal(names, s.edsNames) {
			s.edsNames = names
			return s.send(resource.EndpointType, s.edsVer, s.edsNonce, names, nil)
		}
		return nil
	case resource.EndpointType:
		clas, err := decodeCLAs(resp)
		if err != nil {
			s.c.countNACK()
			return s.send(resource.EndpointType, s.edsVer, resp.GetNonce(), s.edsNames, err)
		}
		s.c.setEndpoints(clas)
		s.edsVer, s.edsNonce = resp.GetVersionInfo(), resp.GetNonce()
		return s.send(resource.EndpointType, s.edsVer, s.edsNonce, s.edsNames, nil)
	}
	return s.send(resp.GetTypeUrl(), "", resp.GetNonce(), nil, errors.New("type not subscribed"))
}

func (c *XDSClient) countNACK() { c.mu.Lock(); c.nacks++; c.mu.Unlock() }

func (c *XDSClient) setClusters(cs []*clusterv3.Cluster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clusters = map[string]*clusterv3.Cluster{}
	for _, cl := range cs {
		c.clusters[cl.GetName()] = cl
	}
	for name := range c.endpoints {
		if _, ok := c.clusters[name]; !ok {
			delete(c.endpoints, name)
		}
	}
	c.updates++
	c.notifyLocked()
}

// setEndpoints applies an EDS response: state of the world for EDS carries
// the requested resources; those absent keep their last value.
func (c *XDSClient) setEndpoints(clas []*endpointv3.ClusterLoadAssignment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cla := range clas {
		c.endpoints[cla.GetClusterName()] = cla
	}
	c.updates++
	c.notifyLocked()
}

func decodeClusters(resp *discoveryv3.DiscoveryResponse) ([]*clusterv3.Cluster, error) {
	var out []*clusterv3.Cluster
	for _, a := range resp.GetResources() {
		cl := &clusterv3.Cluster{}
		if err := a.UnmarshalTo(cl); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		out = append(out, cl)
	}
	return out, nil
}

func decodeCLAs(resp *discoveryv3.DiscoveryResponse) ([]*endpointv3.ClusterLoadAssignment, error) {
	var out []*endpointv3.ClusterLoadAssignment
	for _, a := range resp.GetResources() {
		cla := &endpointv3.ClusterLoadAssignment{}
		if err := a.UnmarshalTo(cla); err != nil {
			return nil, fmt.Errorf("cluster load assignment: %w", err)
		}
		out = append(out, cla)
	}
	return out, nil
}

func edsNames(cs []*clusterv3.Cluster) []string {
	var names []string
	for _, cl := range cs {
		if cl.GetType() == clusterv3.Cluster_EDS {
			n := cl.GetName()
			if sn := cl.GetEdsClusterConfig().GetServiceName(); sn != "" {
				n = sn
			}
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
