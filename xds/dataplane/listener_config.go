package dataplane

import (
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/xds/dataplane/tlsinspect"
)

const (
	tlsInspectorName = "envoy.filters.listener.tls_inspector"
	tcpProxyName     = "envoy.filters.network.tcp_proxy"
	// Envoy's defaults.
	defaultListenerFiltersTimeout = 15 * time.Second
	defaultTCPIdleTimeout         = time.Hour
)

// listenerConfig is a validated LDS Listener.
type listenerConfig struct {
	name      string
	address   string // host:port to bind
	proto     *listenerv3.Listener
	inspector *inspectorConfig // nil: no tls_inspector
	chains    []*filterChain
	def       *filterChain // default_filter_chain; may be nil
	// outerKey digests everything but the filter chains: when it changes,
	// every connection of the listener drains; otherwise only those whose
	// chain (by key) is gone.
	outerKey string
}

// hasChain reports whether the listener still has a chain with this key.
func (l *listenerConfig) hasChain(key string) bool {
	if l.def != nil && l.def.key == key {
		return true
	}
	for _, c := range l.chains {
		if c.key == key {
			return true
		}
	}
	return false
}

type inspectorConfig struct {
	timeout           time.Duration // 0: no timeout
	continueOnTimeout bool
	closeOnParseError bool
	maxHello          int
}

// filterChain is a validated FilterChain.
type filterChain struct {
	name             string
	key              string
	match            chainMatch
	tls              *downstreamTLS // nil: plain TCP (or passthrough)
	handshakeTimeout time.Duration
	proxy            *tcpProxy
}

// validateListener turns an LDS Listener into a listenerConfig, or an error
// naming the first unsupported or invalid field.
func validateListener(l *listenerv3.Listener) (*listenerConfig, error) {
	if err := pgv(l); err != nil {
		return nil, err
	}
	if err := checkFields(l, "name", "address", "stat_prefix", "filter_chains", "default_filter_chain",
		"listener_filters", "listener_filters_timeout", "continue_on_listener_filters_timeout",
		"traffic_direction", "metadata", "access_log", "per_connection_buffer_limit_bytes",
		"drain_type", "bind_to_port", "tcp_backlog_size", "reuse_port", "enable_reuse_port",
		"use_original_dst", "transparent", "freebind", "ignore_global_conn_limit", "stats_matcher",
		"max_connections_to_accept_per_socket_event"); err != nil {
		return nil, err
	}
	for _, b := range []struct {
		field string
		v     *wrapperspb.BoolValue
		want  bool
	}{{"bind_to_port", l.GetBindToPort(), true}, {"use_original_dst", l.GetUseOriginalDst(), false},
		{"transparent", l.GetTransparent(), false}, {"freebind", l.GetFreebind(), false}} {
		if b.v != nil && b.v.GetValue() != b.want {
			return nil, fmt.Errorf("%s: %v is not supported", b.field, !b.want)
		}
	}
	addr, err := socketAddress(l.GetAddress(), true)
	if err != nil {
		return nil, err
	}
	lc := &listenerConfig{name: l.GetName(), address: addr, proto: l}
	if lc.inspector, err = listenerFilters(l); err != nil {
		return nil, err
	}
	if len(l.GetFilterChains()) == 0 && l.GetDefaultFilterChain() == nil {
		return nil, fmt.Errorf("filter_chains: no filter chain and no default_filter_chain")
	}
	for i, fc := range l.GetFilterChains() {
		c, err := validateFilterChain(fc, lc.inspector != nil)
		if err != nil {
			return nil, at(fmt.Sprintf("filter_chains[%d]", i), err)
		}
		lc.chains = append(lc.chains, c)
	}
	if err := checkOverlaps(lc.chains); err != nil {
		return nil, at("filter_chains", err)
	}
	if d := l.GetDefaultFilterChain(); d != nil {
		if d.GetFilterChainMatch() != nil {
			return nil, fmt.Errorf("default_filter_chain: filter_chain_match must be empty")
		}
		if lc.def, err = validateFilterChain(d, lc.inspector != nil); err != nil {
			return nil, at("default_filter_chain", err)
		}
	}
	outer := proto.Clone(l).(*listenerv3.Listener)
	outer.FilterChains, outer.DefaultFilterChain = nil, nil
	lc.outerKey = contentKey(outer)
	return lc, nil
}

// listenerFilters accepts only envoy.filters.listener.tls_inspector.
func listenerFilters(l *listenerv3.Listener) (*inspectorConfig, error) {
	var ic *inspectorConfig
	for i, f := range l.GetListenerFilters() {
		path := fmt.Sprintf("listener_filters[%d] (%s)", i, f.GetName())
		if err := checkFields(f, "name", "typed_config"); err != nil {
			return nil, at(path, err)
		}
		ti := &tlsinspectorv3.TlsInspector{}
		if f.GetTypedConfig() == nil && f.GetName() != tlsInspectorName {
			return nil, fmt.Errorf("%s: unsupported listener filter; only %s is implemented", path, tlsInspectorName)
		}
		if f.GetTypedConfig() != nil {
			if f.GetTypedConfig().MessageName() != ti.ProtoReflect().Descriptor().FullName() {
				return nil, fmt.Errorf("%s: unsupported listener filter type %s; only %s is implemented",
					path, f.GetTypedConfig().MessageName(), tlsInspectorName)
			}
			if err := unpack(f.GetTypedConfig(), ti); err != nil {
				return nil, at(path, err)
			}
		}
		if err := checkFields(ti, "enable_ja3_fingerprinting", "enable_ja4_fingerprinting",
			"initial_read_buffer_size", "close_connection_on_client_hello_parsing_errors", "max_client_hello_size"); err != nil {
			return nil, at(path, err)
		}
		if ic != nil {
			return nil, fmt.Errorf("%s: %s configured twice", path, tlsInspectorName)
		}
		timeout, err := duration(l.GetListenerFiltersTimeout(), defaultListenerFiltersTimeout)
		if err != nil {
			return nil, at("listener_filters_timeout", err)
		}
		ic = &inspectorConfig{
			timeout: timeout, continueOnTimeout: l.GetContinueOnListenerFiltersTimeout(),
			closeOnParseError: ti.GetCloseConnectionOnClientHelloParsingErrors(),
			maxHello:          tlsinspect.DefaultMaxHelloSize,
		}
		if m := ti.GetMaxClientHelloSize(); m != nil {
			ic.maxHello = int(m.GetValue())
		}
	}
	return ic, nil
}

func validateFilterChain(fc *listenerv3.FilterChain, inspector bool) (*filterChain, error) {
	if err := checkFields(fc, "filter_chain_match", "filters", "transport_socket", "name", "metadata",
		"transport_socket_connect_timeout"); err != nil {
		return nil, err
	}
	c := &filterChain{name: fc.GetName(), key: contentKey(fc)}
	var err error
	if c.match, err = compileMatch(fc.GetFilterChainMatch()); err != nil {
		return nil, at("filter_chain_match", err)
	}
	if c.match.needsInspector() && !inspector {
		return nil, fmt.Errorf("filter_chain_match: server_names, application_protocols and transport_protocol \"tls\" need listener filter %s, which the listener lacks", tlsInspectorName)
	}
	if c.handshakeTimeout, err = duration(fc.GetTransportSocketConnectTimeout(), 0); err != nil {
		return nil, at("transport_socket_connect_timeout", err)
	}
	if ts := fc.GetTransportSocket(); ts != nil {
		if c.tls, err = validateDownstreamTLS(ts); err != nil {
			return nil, at("transport_socket", err)
		}
	}
	if len(fc.GetFilters()) != 1 {
		if len(fc.GetFilters()) == 0 {
			return nil, fmt.Errorf("filters: empty; want exactly one %s", tcpProxyName)
		}
		for i, f := range fc.GetFilters() {
			if f.GetTypedConfig().MessageName() != (&tcpproxyv3.TcpProxy{}).ProtoReflect().Descriptor().FullName() {
				return nil, unsupportedFilter(i, f)
			}
		}
		return nil, fmt.Errorf("filters: want exactly one %s, got %d filters", tcpProxyName, len(fc.GetFilters()))
	}
	if c.proxy, err = validateTCPProxy(fc.GetFilters()[0]); err != nil {
		return nil, err
	}
	return c, nil
}

func unsupportedFilter(i int, f *listenerv3.Filter) error {
	return fmt.Errorf("filters[%d] (%s): unsupported network filter type %s; the built-in gateway implements only %s",
		i, f.GetName(), f.GetTypedConfig().MessageName(), tcpProxyName)
}

// tcpProxy is a validated envoy.filters.network.tcp_proxy.
type tcpProxy struct {
	statPrefix  string
	clusters    []weightedCluster
	idleTimeout time.Duration // 0: none
	// maxAttempts is max_connect_attempts, or 0 when unset (the gateway's default applies).
	maxAttempts int
	maxDuration time.Duration // 0: none
	wrr         *wrrState
}

type weightedCluster struct {
	name   string
	weight uint32
}

func validateTCPProxy(f *listenerv3.Filter) (*tcpProxy, error) {
	tp := &tcpproxyv3.TcpProxy{}
	if f.GetTypedConfig() == nil || f.GetTypedConfig().MessageName() != tp.ProtoReflect().Descriptor().FullName() {
		return nil, unsupportedFilter(0, f)
	}
	path := fmt.Sprintf("filters[0] (%s)", f.GetName())
	if err := unpack(f.GetTypedConfig(), tp); err != nil {
		return nil, at(path, err)
	}
	if err := pgv(tp); err != nil {
		return nil, at(path, err)
	}
	if err := checkFields(tp, "stat_prefix", "cluster", "weighted_clusters", "idle_timeout", "access_log",
		"max_connect_attempts", "max_downstream_connection_duration", "access_log_options",
		"access_log_flush_interval", "flush_access_log_on_connected"); err != nil {
		return nil, at(path, err)
	}
	p := &tcpProxy{statPrefix: tp.GetStatPrefix(), wrr: &wrrState{}}
	switch cs := tp.GetClusterSpecifier().(type) {
	case *tcpproxyv3.TcpProxy_Cluster:
		p.clusters = []weightedCluster{{name: cs.Cluster, weight: 1}}
	case *tcpproxyv3.TcpProxy_WeightedClusters:
		for i, wc := range cs.WeightedClusters.GetClusters() {
			if err := checkFields(wc, "name", "weight"); err != nil {
				return nil, at(fmt.Sprintf("%s.weighted_clusters.clusters[%d]", path, i), err)
			}
			if wc.GetWeight() > 0 {
				p.clusters = append(p.clusters, weightedCluster{name: wc.GetName(), weight: wc.GetWeight()})
			}
		}
		if len(p.clusters) == 0 {
			return nil, fmt.Errorf("%s.weighted_clusters: no cluster with a positive weight", path)
		}
	default:
		return nil, fmt.Errorf("%s: neither cluster nor weighted_clusters is set", path)
	}
	var err error
	if p.idleTimeout, err = duration(tp.GetIdleTimeout(), defaultTCPIdleTimeout); err != nil {
		return nil, at(path+".idle_timeout", err)
	}
	if p.maxDuration, err = duration(tp.GetMaxDownstreamConnectionDuration(), 0); err != nil {
		return nil, at(path+".max_downstream_connection_duration", err)
	}
	if m := tp.GetMaxConnectAttempts(); m != nil {
		p.maxAttempts = int(m.GetValue())
	}
	return p, nil
}

// pickCluster chooses the target cluster: the only one, or one of the
// weighted clusters by smooth weighted round robin.
func (p *tcpProxy) pickCluster() string {
	if len(p.clusters) == 1 {
		return p.clusters[0].name
	}
	return p.clusters[p.wrr.next(p.clusters)].name
}

// addressKey names the socket a listener binds, so that an update keeping
// the address keeps the socket.
func addressKey(a *corev3.Address) string { return contentKey(a) }
