package dataplane

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A control plane that refuses the gateway (InvalidArgument: its node id,
// PermissionDenied: its identity) is not asked again and again: a gateway
// that never had a configuration stops with the reason (its process exits,
// and Kubernetes shows it), after one attempt.
func TestRefusedGatewayStops(t *testing.T) {
	for _, code := range []codes.Code{codes.InvalidArgument, codes.PermissionDenied} {
		t.Run(code.String(), func(t *testing.T) {
			var streams atomic.Int32
			cb := serverv3.CallbackFuncs{StreamRequestFunc: func(int64, *discoveryv3.DiscoveryRequest) error {
				streams.Add(1)
				return status.Error(code, "node refused by the test")
			}}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			gs := grpc.NewServer()
			discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs,
				serverv3.NewServer(context.Background(), cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil), cb))
			go func() { _ = gs.Serve(ln) }()
			t.Cleanup(gs.Stop)

			cfg := DefaultConfig()
			cfg.XDSAddress, cfg.NodeID, cfg.AdminAddress = ln.Addr().String(), testNodeID, "127.0.0.1:0"
			cfg.ReconnectBase, cfg.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
			cfg.Registry, cfg.Logger = prometheus.NewRegistry(), testLogger(t)
			g, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err = g.Run(ctx)
			if ctx.Err() != nil {
				t.Fatalf("Run kept retrying a refusal until the test's deadline (%d streams)", streams.Load())
			}
			if status.Code(err) != code || !strings.Contains(err.Error(), "refused this gateway") {
				t.Fatalf("Run: %v, want the control plane's %v refusal", err, code)
			}
			if n := streams.Load(); n != 1 {
				t.Errorf("%d streams, want 1: a refusal is not retried", n)
			}
		})
	}
}

// A cluster response far above gRPC's 4 MiB default (what a few thousand
// services make) is accepted with the default MaxMessageBytes.
func TestLargeResponseAccepted(t *testing.T) {
	cp := newControlPlane(t)
	var clusters []types.Resource
	size := 0
	for i := 0; size < 6<<20; i++ {
		c := staticCluster(fmt.Sprintf("outbound|8080||service-%06d.a-namespace-with-a-long-name.svc.cluster.local", i), "10.1.2.3:8080")
		clusters = append(clusters, c)
		size += proto.Size(c)
	}
	cp.set("v1", map[resourcev3.Type][]types.Resource{resourcev3.ClusterType: clusters, resourcev3.ListenerType: nil})
	g := startGateway(t, cp)
	waitReady(t, g)
	if n := len(*g.clusters.Load()); n != len(clusters) {
		t.Fatalf("the gateway applied %d clusters of %d (%d bytes)", n, len(clusters), size)
	}
}

// eofStream is an ADS stream whose server ended it with status: Send
// returns io.EOF from the failAt-th request on (as gRPC's Send does once
// the server has ended the stream), Recv returns resps, then status.
type eofStream struct {
	grpc.ClientStream
	ctx    context.Context
	failAt int
	sends  atomic.Int32
	resps  chan *discoveryv3.DiscoveryResponse
	status error
	failed chan struct{} // closed at the first failed Send
}

func (s *eofStream) Send(*discoveryv3.DiscoveryRequest) error {
	if int(s.sends.Add(1)) >= s.failAt {
		select {
		case <-s.failed:
		default:
			close(s.failed)
		}
		return io.EOF
	}
	return nil
}

func (s *eofStream) Recv() (*discoveryv3.DiscoveryResponse, error) {
	select {
	case r := <-s.resps:
		return r, nil
	default:
	}
	select {
	case <-s.failed: // the status arrives once the server has ended the stream
		return nil, s.status
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

type eofClient struct {
	discoveryv3.AggregatedDiscoveryServiceClient
	s *eofStream
}

func (c eofClient) StreamAggregatedResources(ctx context.Context, _ ...grpc.CallOption) (grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse], error) {
	c.s.ctx = ctx
	return c.s, nil
}

// A Send that fails with io.EOF because the server ended the stream (with a
// refusal) gives the server's status, not EOF: whether the refusal raced
// the gateway's first requests (CI once saw it retried: two streams) or
// came after a response, the stream's error is the refusal.
func TestSendEOFGivesServerStatus(t *testing.T) {
	refusal := status.Error(codes.PermissionDenied, "node refused by the test")
	for name, tc := range map[string]struct {
		failAt int
		resps  []*discoveryv3.DiscoveryResponse
	}{
		"second request":    {failAt: 2},
		"ack of a response": {failAt: 3, resps: []*discoveryv3.DiscoveryResponse{{TypeUrl: resourcev3.ClusterType, VersionInfo: "1", Nonce: "n1"}}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.XDSAddress, cfg.NodeID, cfg.AdminAddress = "127.0.0.1:1", testNodeID, "127.0.0.1:0"
			cfg.Registry, cfg.Logger = prometheus.NewRegistry(), testLogger(t)
			g, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s := &eofStream{failAt: tc.failAt, resps: make(chan *discoveryv3.DiscoveryResponse, len(tc.resps)), status: refusal, failed: make(chan struct{})}
			for _, r := range tc.resps {
				s.resps <- r
			}
			subs := map[string]*subscription{}
			for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.EndpointType, resourcev3.SecretType} {
				subs[typ] = &subscription{typeURL: typ, wildcard: typ == resourcev3.ClusterType || typ == resourcev3.ListenerType}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err = g.runStream(ctx, eofClient{s: s}, subs, "test")
			if status.Code(err) != codes.PermissionDenied || !permanent(err) {
				t.Fatalf("runStream: %v, want the server's PermissionDenied", err)
			}
		})
	}
}
