package workload

import (
	"context"
	"net"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/xds/node"
)

// serveADS runs a go-control-plane ADS server on addr until stop is called.
func serveADS(t *testing.T, addr string, c cachev3.SnapshotCache) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(srv, serverv3.NewServer(context.Background(), c, nil))
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), srv.Stop
}

func edsCluster(name string) *clusterv3.Cluster {
	return &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{
			ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}}
}

// waitXDS waits, on the client's change events, until cond holds.
func waitXDS(t *testing.T, x *XDSClient, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		ch := x.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The e2e client follows CDS and the EDS of its clusters, keeps them while
// its control plane is gone and reconnects when it is back.
func TestXDSClientFollowsAndReconnects(t *testing.T) {
	nd := node.Node{
		ID:       node.ID{Type: node.TypeRouter, IP: "10.0.0.9", Pod: "client-0", Namespace: "e2e", DomainSuffix: model.DefaultDomainSuffix},
		Metadata: node.Metadata{Labels: map[string]string{"app": "e2e-client"}, Namespace: "e2e", Network: "net1", ClusterID: "c1"},
	}
	const name = "outbound|8080||echo.e2e.svc.cluster.local"
	cache := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	snap, err := cachev3.NewSnapshot("v1", map[resource.Type][]types.Resource{
		resource.ClusterType:  {edsCluster(name)},
		resource.EndpointType: {&endpointv3.ClusterLoadAssignment{ClusterName: name}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.SetSnapshot(context.Background(), nd.ID.String(), snap); err != nil {
		t.Fatal(err)
	}
	addr, stop := serveADS(t, "127.0.0.1:0", cache)
	x, err := StartXDS(addr, netlab.Dialer{}, nd)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	has := func() bool { cl, cla := x.Cluster(name); return cl != nil && cla != nil }
	waitXDS(t, x, "cluster and endpoints", func() bool { return x.Connected() && has() })
	if got := x.ClusterNames(); len(got) != 1 || got[0] != name {
		t.Errorf("clusters = %v", got)
	}

	stop()
	waitXDS(t, x, "disconnect", func() bool { return !x.Connected() })
	if !has() {
		t.Error("the last configuration was dropped with the control plane")
	}
	streams := x.Streams()
	_, stop = serveADS(t, addr, cache)
	defer stop()
	waitXDS(t, x, "reconnect", func() bool { return x.Connected() && x.Streams() > streams })
	if !has() {
		t.Error("configuration missing after the reconnect")
	}
}
