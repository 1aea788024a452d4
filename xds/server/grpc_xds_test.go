package server

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/xds"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

// backend is a real gRPC server (health service) on 127.0.0.1.
type backend struct{ port uint32 }

func startBackend(t *testing.T) backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return backend{port: uint32(lis.Addr().(*net.TCPAddr).Port)}
}

// grpcBootstrap is what `meshgate bootstrap --grpc` prints for a proxyless
// client node (GENERATOR=grpc) of the harness.
func grpcBootstrap(t *testing.T, xdsAddr string) []byte {
	t.Helper()
	b, err := bootstrap.GRPC(bootstrap.Options{NodeID: "sidecar~127.0.0.1~client-1.default~default.svc.cluster.local", XDSAddress: xdsAddr})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func echoMesh(endpoints []model.Endpoint, drs []model.DestinationRule, vss []model.VirtualService) *model.MeshState {
	return mesh(model.ClusterState{
		Services: []model.Service{{
			Meta:      model.Meta{Name: "echo", Namespace: "default"},
			Hostname:  "echo.default.svc.cluster.local",
			Ports:     []model.ServicePort{{Name: "grpc", Port: 8080, Protocol: "TCP", AppProtocol: "grpc"}},
			Endpoints: endpoints,
		}},
		DestinationRules: drs,
		VirtualServices:  vss,
	})
}

func ep(b backend, version string) model.Endpoint {
	return model.Endpoint{
		Address: "127.0.0.1", Ready: true,
		Ports:  []model.EndpointPort{{Name: "grpc", Port: b.port}},
		Labels: map[string]string{"app": "echo", "version": version},
	}
}

// servedBy calls the health service through the xDS channel until it is
// answered by want, then checks the next calls all are: traffic has moved.
// Errors before the move are tolerated: when a route switches to a cluster
// the channel has never used, gRPC-Go swaps its config selector before its
// cluster_manager picker knows the new cluster, and RPCs picked in between
// fail with "unknown cluster selected for RPC" (a client-side race, see
// grpc/internal/xds/balancer/clustermanager/picker.go).
func servedBy(ctx context.Context, t *testing.T, hc healthpb.HealthClient, want backend) {
	t.Helper()
	seen := map[string]int{}
	for {
		var p peer.Peer
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true))
		if ctx.Err() != nil {
			t.Fatalf("traffic never reached 127.0.0.1:%d; answered by %v (last error %v)", want.port, seen, err)
		}
		if err != nil {
			seen["error: "+err.Error()]++
			continue
		}
		seen[p.Addr.String()]++
		if p.Addr.(*net.TCPAddr).Port == int(want.port) {
			break
		}
	}
	for i := range 20 {
		var p peer.Peer
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
			t.Fatalf("call %d after the move: %v", i, err)
		}
		if got := p.Addr.(*net.TCPAddr).Port; got != int(want.port) {
			t.Fatalf("call %d after the move answered by port %d, want %d", i, got, want.port)
		}
	}
}

// gRPC-Go's own xDS client resolves xds:///echo.default.svc.cluster.local:8080
// through the server and reaches the endpoints the configuration declares;
// endpoint edits and DestinationRule subsets move its traffic.
func TestGRPCClientFollowsConfig(t *testing.T) {
	a, b := startBackend(t), startBackend(t)
	h := newHarness(t, Options{}) // real translators: translate.GRPC serves the client
	h.srv.Update(echoMesh([]model.Endpoint{ep(a, "v1")}, nil, nil))

	builder, err := xds.NewXDSResolverWithConfigForTesting(grpcBootstrap(t, h.addr))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("xds:///echo.default.svc.cluster.local:8080",
		grpc.WithResolvers(builder), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	hc := healthpb.NewHealthClient(conn)

	t.Run("initial endpoints", func(t *testing.T) { servedBy(h.ctx, t, hc, a) })

	t.Run("endpoint edit", func(t *testing.T) {
		h.srv.Update(echoMesh([]model.Endpoint{ep(b, "v1")}, nil, nil))
		servedBy(h.ctx, t, hc, b)
	})

	dr := model.DestinationRule{
		Meta: model.Meta{Name: "echo", Namespace: "default"}, Host: "echo",
		Subsets: []model.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}},
	}
	split := func(v1, v2 int32) []model.VirtualService {
		return []model.VirtualService{{
			Meta: model.Meta{Name: "echo", Namespace: "default"}, Hosts: []string{"echo"},
			HTTP: []model.HTTPRoute{{Route: []model.HTTPRouteDestination{
				{Destination: model.Destination{Host: "echo", Subset: "v1"}, Weight: v1},
				{Destination: model.Destination{Host: "echo", Subset: "v2"}, Weight: v2},
			}}},
		}}
	}
	both := []model.Endpoint{ep(a, "v1"), ep(b, "v2")}
	t.Run("subset v1", func(t *testing.T) {
		h.srv.Update(echoMesh(both, []model.DestinationRule{dr}, split(100, 0)))
		servedBy(h.ctx, t, hc, a)
	})
	t.Run("subset v2", func(t *testing.T) {
		h.srv.Update(echoMesh(both, []model.DestinationRule{dr}, split(0, 100)))
		servedBy(h.ctx, t, hc, b)
	})
	t.Run("weighted split reaches both", func(t *testing.T) {
		h.srv.Update(echoMesh(both, []model.DestinationRule{dr}, split(50, 50)))
		seen := map[int]bool{}
		var errs []error
		for len(seen) < 2 && h.ctx.Err() == nil {
			var p peer.Peer
			if _, err := hc.Check(h.ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true)); err != nil {
				errs = append(errs, err) // the race described at servedBy
				continue
			}
			seen[p.Addr.(*net.TCPAddr).Port] = true
		}
		if !seen[int(a.port)] || !seen[int(b.port)] {
			t.Fatalf("answered by %v, want both %d and %d (errors: %v)", seen, a.port, b.port, errs)
		}
	})

	st, ok := h.srv.Proxy("sidecar~127.0.0.1~client-1.default~default.svc.cluster.local")
	if !ok || st.Generator != node.GeneratorGRPC {
		t.Fatalf("gRPC client not listed as a grpc proxy: %+v", st)
	}
	for _, typ := range []string{"listener", "route", "cluster", "endpoint"} {
		if ts := st.Types[typ]; ts == nil || ts.Acked == "" || ts.NACKs != 0 {
			t.Errorf("%s: %+v; want acknowledged, no NACK", typ, ts)
		}
	}
}
