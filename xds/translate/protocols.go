package translate

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	mongov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/mongo_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/meshgate/meshgate/discovery/model"
)

// protocolFilters returns the protocol-aware network filters that istiod puts
// before tcp_proxy for a server's protocol (Mongo is on by default in Istio).
func (b *builder) protocolFilters(port model.Port, statPrefix string) []*listenerv3.Filter {
	switch port.Protocol {
	case model.ProtocolMongo:
		return []*listenerv3.Filter{typedFilter(wellknown.MongoProxy, &mongov3.MongoProxy{StatPrefix: statPrefix})}
	}
	return nil
}
