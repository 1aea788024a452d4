package workload

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
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
