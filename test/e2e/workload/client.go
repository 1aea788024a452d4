package workload

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/sni"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/xds/dataplane"
	"github.com/meshgate/meshgate/xds/dataplane/lb"
)

// Target is a service port (and subset) to call, and the SPIFFE ID its pods
// must prove.
type Target struct {
	Host     string // FQDN
	Port     uint32
	Subset   string
	ServerID spiffeid.ID
}

// Name is the target's sni.Name.
func (t Target) Name() sni.Name { return sni.Name{Port: t.Port, Subset: t.Subset, Host: t.Host} }

func (t Target) String() string { return t.Name().ClusterName() }

// Client is a mesh client pod: endpoints from its daemon's EDS, mesh mTLS
// with its own SVID, sockets in its network. It connects like the
// built-in gateway's tcp_proxy (the client is a gateway with TLS
// passthrough routes, see meshlab.ClientRoute): endpoints are picked by the
// cluster's load balancer (package lb with dataplane.ConnectPolicy: policy,
// weights, priorities, outlier detection), each connect attempt (TCP and
// the mTLS handshake) is bounded by the cluster's connect_timeout, and a
// failed connect is retried on an endpoint not tried yet, up to
// ConnectAttempts. Once the request is sent nothing is retried.
type Client struct {
	Dialer netlab.Dialer
	ID     *Identity
	XDS    *XDSClient
	// ConnectAttempts is the number of connect attempts per call; 0 means
	// 3, the built-in gateway's default for a tcp_proxy without
	// max_connect_attempts (and the 1 + 2 retries of istiod's default HTTP
	// retry policy, whose retry_on includes connect-failure). 1 turns
	// retries off.
	ConnectAttempts int

	mu   sync.Mutex
	bals map[string]*clientBalancer // by cluster name
}

// clientBalancer is the balancer of one cluster, built from the cluster and
// endpoints it was made of (rebuilt when the client holds other ones);
// hosts keeps outlier state across rebuilds.
type clientBalancer struct {
	cl      *clusterv3.Cluster
	cla     *endpointv3.ClusterLoadAssignment
	bal     *lb.Balancer
	timeout time.Duration
	hosts   *lb.Hosts
}

// NewClient makes a client; its XDSClient must already run.
func NewClient(d netlab.Dialer, id *Identity, x *XDSClient) *Client {
	return &Client{Dialer: d, ID: id, XDS: x, bals: map[string]*clientBalancer{}}
}

// Result is one successful call.
type Result struct {
	Reply
	Endpoint string // address dialled last (a pod, or a remote network's gateway)
	Attempts int    // connect attempts made (> 1: retried on another endpoint)
}

// Endpoint is one load-balancing endpoint of a cluster, as the client uses it.
type Endpoint struct {
	Addr   string
	Weight uint32 // locality weight × endpoint weight
	MTLS   bool   // metadata tlsMode=istio
}

// Endpoints returns the usable endpoints of the target's cluster: healthy
// endpoints of the highest-priority group that has any.
func (c *Client) Endpoints(t Target) ([]Endpoint, error) {
	_, cla := c.XDS.Cluster(t.Name().ClusterName())
	if cla == nil {
		return nil, fmt.Errorf("%s: no endpoints from the control plane", t)
	}
	return usableEndpoints(cla), nil
}

func usableEndpoints(cla *endpointv3.ClusterLoadAssignment) []Endpoint {
	best := uint32(1 << 31)
	var out []Endpoint
	for _, loc := range cla.GetEndpoints() {
		lw := uint32(1)
		if w := loc.GetLoadBalancingWeight(); w != nil {
			lw = w.GetValue()
		}
		var eps []Endpoint
		for _, e := range loc.GetLbEndpoints() {
			switch e.GetHealthStatus() {
			case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
				continue
			}
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil || lw == 0 {
				continue
			}
			w := uint32(1)
			if e.GetLoadBalancingWeight() != nil {
				w = e.GetLoadBalancingWeight().GetValue()
			}
			mode := e.GetMetadata().GetFilterMetadata()["envoy.transport_socket_match"].GetFields()["tlsMode"].GetStringValue()
			eps = append(eps, Endpoint{Addr: net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))),
				Weight: lw * w, MTLS: mode == "istio"})
		}
		if len(eps) == 0 {
			continue
		}
		switch p := loc.GetPriority(); {
		case p < best:
			best, out = p, eps
		case p == best:
			out = append(out, eps...)
		}
	}
	return out
}

// CheckSNI compares the SNI the control plane put in the target cluster's
// mesh mTLS transport socket with the sni package's.
func (c *Client) CheckSNI(t Target) error {
	cl, _ := c.XDS.Cluster(t.Name().ClusterName())
	if cl == nil {
		return fmt.Errorf("%s: no such cluster from the control plane", t)
	}
	got, err := meshSNI(cl)
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	if want := t.Name().SNI(); got != want {
		return fmt.Errorf("%s: control plane SNI %q, sni package %q", t, got, want)
	}
	return nil
}

// meshSNI is the SNI of the cluster's mesh mTLS: its tlsMode=istio
// transport socket match (auto mTLS) or, when a DestinationRule sets TLS,
// its single transport socket.
func meshSNI(cl *clusterv3.Cluster) (string, error) {
	if ts := cl.GetTransportSocket(); ts != nil {
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
			return "", fmt.Errorf("transport socket: %w", err)
		}
		return ctx.GetSni(), nil
	}
	for _, m := range cl.GetTransportSocketMatches() {
		if m.GetMatch().GetFields()["tlsMode"].GetStringValue() != "istio" {
			continue
		}
		ctx := &tlsv3.UpstreamTlsContext{}
		if err := m.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx); err != nil {
			return "", fmt.Errorf("tlsMode-istio transport socket: %w", err)
		}
		return ctx.GetSni(), nil
	}
	return "", errors.New("neither a transport socket nor a tlsMode=istio transport socket match")
}

// balancer returns the load balancer of t's cluster for its current
// cluster and endpoints, and the connect timeout.
func (c *Client) balancer(t Target) (*lb.Balancer, time.Duration, error) {
	name := t.Name().ClusterName()
	cl, cla := c.XDS.Cluster(name)
	if cl == nil || cla == nil {
		return nil, 0, fmt.Errorf("%s: no endpoints from the control plane", t)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.bals[name]
	if b != nil && b.cl == cl && b.cla == cla {
		return b.bal, b.timeout, nil
	}
	cfg, timeout, err := dataplane.ConnectPolicy(cl)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", t, err)
	}
	// usableEndpoints has already chosen the priority and folded the
	// locality weight into each endpoint's.
	cfg.LocalityWeighted = false
	var eps []lb.Endpoint
	for _, e := range usableEndpoints(cla) {
		eps = append(eps, lb.Endpoint{Address: e.Addr, Weight: e.Weight, Data: e.MTLS})
	}
	hosts := lb.NewHosts()
	if b != nil {
		hosts = b.hosts
	}
	b = &clientBalancer{cl: cl, cla: cla, bal: lb.New(cfg, eps, hosts), timeout: timeout, hosts: hosts}
	c.bals[name] = b
	return b.bal, b.timeout, nil
}

// Call makes one request to t: a new connection to an endpoint picked by
// the cluster's balancer, a mesh mTLS handshake with t's SNI (connect and
// handshake within connect_timeout; on failure the next attempt takes an
// endpoint not tried yet, from the endpoints held then), one request line,
// one Reply.
func (c *Client) Call(ctx context.Context, t Target, seq string) (Result, error) {
	attempts := c.ConnectAttempts
	if attempts <= 0 {
		attempts = 3
	}
	var tried []string
	var lastErr error
	res := Result{}
	for res.Attempts < attempts {
		bal, timeout, err := c.balancer(t)
		if err != nil {
			return res, err
		}
		lease, ok := bal.Pick(tried)
		if !ok && len(tried) > 0 {
			lease, ok = bal.Pick(nil) // every endpoint tried: from the top again
		}
		if !ok {
			if lastErr == nil {
				lastErr = fmt.Errorf("%s: no usable endpoints", t)
			}
			break
		}
		res.Attempts++
		res.Endpoint = lease.Endpoint.Address
		tried = append(tried, res.Endpoint)
		if mtls, _ := lease.Endpoint.Data.(bool); !mtls {
			lease.Release()
			return res, fmt.Errorf("%s: endpoint %s is not a mesh mTLS endpoint", t, res.Endpoint)
		}
		conn, err := c.connect(ctx, t, res.Endpoint, timeout)
		if err != nil {
			lease.Failure()
			lastErr = fmt.Errorf("attempt %d (%s): %w", res.Attempts, res.Endpoint, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		lease.Success()
		res.Reply, err = exchange(ctx, conn, seq)
		lease.Release()
		return res, err
	}
	return res, lastErr
}

// connect opens a connection to addr and completes the mesh mTLS handshake
// within timeout (Envoy counts a TLS upstream connected once its handshake
// is done).
func (c *Client) connect(ctx context.Context, t Target, addr string, timeout time.Duration) (net.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := c.Dialer.DialContext(cctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, c.ID.ClientTLS(t.Name().SNI(), t.ServerID))
	if err := tc.HandshakeContext(cctx); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return tc, nil
}

// exchange sends one request line on c and reads the Reply.
func exchange(ctx context.Context, c net.Conn, seq string) (Reply, error) {
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte(seq + "\n")); err != nil {
		return Reply{}, err
	}
	var r Reply
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&r); err != nil {
		return Reply{}, fmt.Errorf("read reply: %w", err)
	}
	if r.Seq != seq {
		return r, fmt.Errorf("reply to %q carries %q", seq, r.Seq)
	}
	return r, nil
}

// PlainCall sends one request over plain TCP to addr (a north-south
// ingress gateway's TCP server) from inside d's network.
func PlainCall(ctx context.Context, d netlab.Dialer, addr, seq string) (Result, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Result{Endpoint: addr}, err
	}
	r, err := exchange(ctx, c, seq)
	return Result{Reply: r, Endpoint: addr}, err
}
