package workload

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/sni"
	"github.com/meshgate/meshgate/test/e2e/netlab"
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
// with its own SVID, sockets in its network.
type Client struct {
	Dialer netlab.Dialer
	ID     *Identity
	XDS    *XDSClient

	mu  sync.Mutex
	rnd *rand.Rand
}

// NewClient makes a client; its XDSClient must already run.
func NewClient(d netlab.Dialer, id *Identity, x *XDSClient) *Client {
	return &Client{Dialer: d, ID: id, XDS: x, rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Result is one successful call.
type Result struct {
	Reply
	Endpoint string // address dialled (a pod, or a remote network's gateway)
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

func (c *Client) pick(eps []Endpoint) Endpoint {
	var total uint64
	for _, e := range eps {
		total += uint64(e.Weight)
	}
	c.mu.Lock()
	r := c.rnd.Uint64N(max(total, 1))
	c.mu.Unlock()
	for _, e := range eps {
		if r < uint64(e.Weight) {
			return e
		}
		r -= uint64(e.Weight)
	}
	return eps[len(eps)-1]
}

// Call makes one request to t: one new connection to an endpoint picked by
// weight, a mesh mTLS handshake with t's SNI, one request line, one Reply.
func (c *Client) Call(ctx context.Context, t Target, seq string) (Result, error) {
	eps, err := c.Endpoints(t)
	if err != nil {
		return Result{}, err
	}
	if len(eps) == 0 {
		return Result{}, fmt.Errorf("%s: no usable endpoints", t)
	}
	ep := c.pick(eps)
	if !ep.MTLS {
		return Result{}, fmt.Errorf("%s: endpoint %s is not a mesh mTLS endpoint", t, ep.Addr)
	}
	raw, err := c.Dialer.DialContext(ctx, "tcp", ep.Addr)
	if err != nil {
		return Result{Endpoint: ep.Addr}, err
	}
	r, err := exchange(ctx, tls.Client(raw, c.ID.ClientTLS(t.Name().SNI(), t.ServerID)), seq)
	return Result{Reply: r, Endpoint: ep.Addr}, err
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
