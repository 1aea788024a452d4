package translate

import (
	mysqlv3 "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/network/mysql_proxy/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	mongov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/mongo_proxy/v3"
	redisv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/redis_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/meshgate/meshgate/discovery/model"
)

// protocolFilters returns the protocol-aware network filters that istiod puts
// before tcp_proxy for a server's protocol: Mongo always (Istio's default),
// MySQL when enabled (PILOT_ENABLE_MYSQL_FILTER).
func (b *builder) protocolFilters(port model.Port, statPrefix string) []*listenerv3.Filter {
	switch {
	case port.Protocol == model.ProtocolMongo:
		return []*listenerv3.Filter{typedFilter(wellknown.MongoProxy, &mongov3.MongoProxy{StatPrefix: statPrefix})}
	case port.Protocol == model.ProtocolMySQL && b.ix.opts.EnableMySQLFilter && b.proxy.istioFilters():
		// mysql_proxy is in upstream Envoy's contrib image only: the envoy
		// flavour keeps plain tcp_proxy.
		return []*listenerv3.Filter{typedFilter(wellknown.MySQLProxy, &mysqlv3.MySQLProxy{StatPrefix: statPrefix})}
	}
	return nil
}

// redisProxy replaces tcp_proxy for REDIS servers when enabled
// (PILOT_ENABLE_REDIS_FILTER): every command goes to the one cluster.
func redisProxy(cluster string) *listenerv3.Filter {
	return typedFilter(wellknown.RedisProxy, &redisv3.RedisProxy{
		StatPrefix:      cluster,
		Settings:        &redisv3.RedisProxy_ConnPoolSettings{OpTimeout: durationpb.New(5e9)},
		LatencyInMicros: true,
		PrefixRoutes:    &redisv3.RedisProxy_PrefixRoutes{CatchAllRoute: &redisv3.RedisProxy_PrefixRoutes_Route{Cluster: cluster}},
	})
}
