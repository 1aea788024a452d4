package workload

import (
	"context"
	"net"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/test/e2e/netlab"
)

func lbEndpoint(addr string, port uint32, weight uint32, mtls bool, health corev3.HealthStatus) *endpointv3.LbEndpoint {
	e := &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
			Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}},
		HealthStatus: health,
	}
	if weight > 0 {
		e.LoadBalancingWeight = wrapperspb.UInt32(weight)
	}
	if mtls {
		e.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
			"envoy.transport_socket_match": {Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue("istio")}}}}
	}
	return e
}

// TestUsableEndpoints: the client uses, like Envoy, the healthy endpoints of
// the highest-priority group that has any, weighted by locality × endpoint
// weight, and knows which speak mesh mTLS.
func TestUsableEndpoints(t *testing.T) {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: "outbound|8080||echo", Endpoints: []*endpointv3.LocalityLbEndpoints{
		{Priority: 0, LoadBalancingWeight: wrapperspb.UInt32(2), LbEndpoints: []*endpointv3.LbEndpoint{
			lbEndpoint("10.0.0.1", 8080, 3, true, corev3.HealthStatus_HEALTHY),
			lbEndpoint("10.0.0.2", 8080, 0, false, corev3.HealthStatus_UNKNOWN),
			lbEndpoint("10.0.0.3", 8080, 1, true, corev3.HealthStatus_UNHEALTHY),
		}},
		{Priority: 0, LbEndpoints: []*endpointv3.LbEndpoint{lbEndpoint("192.0.2.1", 15443, 2, true, corev3.HealthStatus_HEALTHY)}},
		{Priority: 1, LbEndpoints: []*endpointv3.LbEndpoint{lbEndpoint("192.0.2.9", 15443, 1, true, corev3.HealthStatus_HEALTHY)}},
	}}
	got := usableEndpoints(cla)
	want := []Endpoint{{"10.0.0.1:8080", 6, true}, {"10.0.0.2:8080", 2, false}, {"192.0.2.1:15443", 2, true}}
	if len(got) != len(want) {
		t.Fatalf("endpoints %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("endpoint %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// With priority 0 all unhealthy, priority 1 takes over.
	cla.Endpoints = []*endpointv3.LocalityLbEndpoints{
		{Priority: 0, LbEndpoints: []*endpointv3.LbEndpoint{lbEndpoint("10.0.0.3", 8080, 1, true, corev3.HealthStatus_UNHEALTHY)}},
		cla.Endpoints[2],
	}
	if got := usableEndpoints(cla); len(got) != 1 || got[0].Addr != "192.0.2.9:15443" {
		t.Errorf("failover to priority 1: %v", got)
	}
}

// TestCallRetriesOnAnotherEndpoint: a call whose connect is refused, or
// whose handshake is not answered within the cluster's connect_timeout,
// is retried on an endpoint not tried yet (the built-in gateway's
// tcp_proxy); with ConnectAttempts 1 the first failure is the call's.
func TestCallRetriesOnAnotherEndpoint(t *testing.T) {
	server, client, e := startTestEcho(t)
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().(*net.TCPAddr)
	refused.Close()                                 // nothing listens there any more: connects are refused
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts (backlog), never answers the ClientHello
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentAddr, echoAddr := silent.Addr().(*net.TCPAddr), e.l.Addr().(*net.TCPAddr)

	tgt := Target{Host: "echo.e2e.svc.cluster.local", Port: 8080, ServerID: server.ID()}
	name := tgt.String()
	// Weights make the smooth round robin try the refused endpoint first,
	// then the silent one, then the echo.
	x := &XDSClient{
		clusters: map[string]*clusterv3.Cluster{name: {Name: name, ConnectTimeout: durationpb.New(300 * time.Millisecond),
			LbPolicy: clusterv3.Cluster_ROUND_ROBIN}},
		endpoints: map[string]*endpointv3.ClusterLoadAssignment{name: {ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpoint("127.0.0.1", uint32(refusedAddr.Port), 100, true, corev3.HealthStatus_HEALTHY),
				lbEndpoint("127.0.0.1", uint32(silentAddr.Port), 10, true, corev3.HealthStatus_HEALTHY),
				lbEndpoint("127.0.0.1", uint32(echoAddr.Port), 1, true, corev3.HealthStatus_HEALTHY),
			}}}}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	one := NewClient(netlab.Dialer{}, client, x)
	one.ConnectAttempts = 1
	if r, err := one.Call(ctx, tgt, "1"); err == nil || r.Attempts != 1 || r.Endpoint != refusedAddr.String() {
		t.Errorf("one attempt: %+v, %v; want the refused endpoint's error", r, err)
	}

	cl := NewClient(netlab.Dialer{}, client, x)
	start := time.Now()
	r, err := cl.Call(ctx, tgt, "2")
	if err != nil {
		t.Fatalf("call with retries: %v", err)
	}
	if r.Attempts != 3 || r.Endpoint != echoAddr.String() || r.Seq != "2" || r.Pod != "echo-1" {
		t.Errorf("call with retries: %+v, want 3 attempts ending at the echo %s", r, echoAddr)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("call with retries took %s: the silent endpoint should cost one connect_timeout (300ms)", d)
	}
}
