package daemon

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

// followADS subscribes to names of typeURL over a real ADS stream as the
// ingress gateway (istio-system, istio=ingressgateway, plus meta), ACKs
// every response, and sends what decode makes of each response (when it
// says ok) on the returned channel, until ctx is done or the stream ends.
func followADS[T any](ctx context.Context, t testing.TB, xdsAddr, typeURL string, names []string, meta map[string]string,
	decode func(*discoveryv3.DiscoveryResponse) (T, bool),
) <-chan T {
	t.Helper()
	cc, err := grpc.NewClient(xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := structpb.NewStruct(map[string]any{"istio": "ingressgateway"})
	fields := map[string]*structpb.Value{"LABELS": structpb.NewStructValue(labels), "NAMESPACE": structpb.NewStringValue("istio-system")}
	for k, v := range meta {
		fields[k] = structpb.NewStringValue(v)
	}
	node := &corev3.Node{Id: "router~10.1.0.99~ingress-0.istio-system~istio-system.svc.cluster.local",
		Metadata: &structpb.Struct{Fields: fields}}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	out := make(chan T, 16)
	go func() {
		defer close(out)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			_ = stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names,
				VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
			v, ok := decode(resp)
			if !ok {
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
