package translate

import (
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

// chainOpts describes one filter chain before it is serialised.
type chainOpts struct {
	sniHosts []string
	alpn     []string
	tls      *tlsv3.DownstreamTlsContext
	// HTTP chains: an HTTP connection manager with RDS.
	rds        string
	statPrefix string
	protocol   model.Protocol
	isHTTP     bool
	http3      bool // HTTP/3 over QUIC (UDP listeners)
	// TCP chains: network filters ending in tcp_proxy.
	network []*listenerv3.Filter
}

const wildcardBind = "0.0.0.0"

// buildListeners builds the gateway listeners of mg, one per listener address.
func (b *builder) buildListeners(mg *mergedGateway) {
	type pending struct {
		name   string
		bind   string
		port   uint32
		chains []*chainOpts
	}
	var order []string
	byName := map[string]*pending{}
	for _, sp := range mg.ports {
		bind := wildcardBind
		if sp.Bind != "" {
			bind = sp.Bind
		}
		ms := mg.servers[sp]
		if ms == nil {
			continue
		}
		chains := b.chainsForPort(sp, ms)
		name := listenerName(bind, sp.Number)
		p := byName[name]
		if p == nil {
			p = &pending{name: name, bind: bind, port: sp.Number}
			byName[name] = p
			order = append(order, name)
		}
		p.chains = append(p.chains, chains...)
	}
	for _, name := range order {
		p := byName[name]
		if len(p.chains) == 0 {
			continue // istiod emits no listener without chains (e.g. a TCP server no route binds)
		}
		b.out.Listeners = append(b.out.Listeners, b.listener(p.name, p.bind, p.port, p.chains))
	}
	b.buildQUICListeners(mg)
}

// buildQUICListeners adds udp_<bind>_<port> HTTP/3 listeners mirroring the
// HTTPS servers that qualify (see mergedGateway.quic).
func (b *builder) buildQUICListeners(mg *mergedGateway) {
	for _, sp := range mg.ports {
		servers := mg.quic[sp]
		if len(servers) == 0 {
			continue
		}
		bind := wildcardBind
		if sp.Bind != "" {
			bind = sp.Bind
		}
		var chains []*chainOpts
		for _, s := range servers {
			tls := b.downstreamTLS(s, false)
			tls.CommonTlsContext.AlpnProtocols = []string{"h3"}
			tls.RequireClientCertificate = wrapperspb.Bool(false)
			chains = append(chains, &chainOpts{sniHosts: s.SNIHosts, tls: tls, rds: s.RouteName, isHTTP: true, http3: true, protocol: s.Port.Protocol})
		}
		b.out.Listeners = append(b.out.Listeners, b.listener("udp_"+listenerName(bind, sp.Number), bind, sp.Number, chains))
	}
}

func (b *builder) chainsForPort(sp serverPort, ms *mergedServers) []*chainOpts {
	if sp.Protocol.IsHTTP() {
		return []*chainOpts{{rds: ms.RouteName, isHTTP: true, protocol: sp.Protocol}}
	}
	var out []*chainOpts
	for _, s := range ms.Servers {
		switch {
		case s.isHTTPSTermination():
			out = append(out, &chainOpts{
				sniHosts: s.SNIHosts, tls: b.downstreamTLS(s, false), rds: s.RouteName,
				statPrefix: s.Name, isHTTP: true, protocol: s.Port.Protocol,
			})
		case s.TLS == nil:
			if f := b.tcpFiltersForServer(s); f != nil {
				out = append(out, &chainOpts{network: f})
			}
		case !s.isPassthrough():
			if f := b.tcpFiltersForServer(s); f != nil {
				out = append(out, &chainOpts{sniHosts: s.SNIHosts, tls: b.downstreamTLS(s, true), network: f})
			}
		default:
			out = append(out, b.passthroughChains(s, sp.Number)...)
		}
	}
	return out
}

func (b *builder) listener(name, bind string, port uint32, chains []*chainOpts) *listenerv3.Listener {
	l := &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: bind, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}},
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		// istiod's gateway default: accept one connection per wakeup, which
		// spreads connections over the worker threads.
		MaxConnectionsToAcceptPerSocketEvent: wrapperspb.UInt32(1),
	}
	udp := len(chains) > 0 && chains[0].http3
	if udp {
		l.GetAddress().GetSocketAddress().Protocol = corev3.SocketAddress_UDP
		l.UdpListenerConfig = &listenerv3.UdpListenerConfig{
			DownstreamSocketConfig: &corev3.UdpSocketConfig{}, QuicOptions: &listenerv3.QuicProtocolOptions{},
		}
	}
	needInspector := false
	for _, c := range chains {
		fc := &listenerv3.FilterChain{TransportSocketConnectTimeout: durationpb.New(15e9)}
		if sni := serverNames(c.sniHosts); len(sni) > 0 || len(c.alpn) > 0 {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: sni, ApplicationProtocols: c.alpn}
			needInspector = true
		}
		if c.tls != nil && c.http3 {
			fc.TransportSocket = quicSocket(c.tls)
		} else if c.tls != nil {
			fc.TransportSocket = transportSocket(c.tls)
			needInspector = true
		}
		if c.isHTTP {
			statPrefix := c.statPrefix
			if statPrefix == "" {
				statPrefix = "outbound_" + name
			}
			h := b.hcm(c.rds, statPrefix, c.protocol)
			if c.http3 {
				h.CodecType = hcmv3.HttpConnectionManager_HTTP3
				h.Http3ProtocolOptions = &corev3.Http3ProtocolOptions{}
				h.Http2ProtocolOptions = nil
			}
			fc.Filters = []*listenerv3.Filter{typedFilter(wellknown.HTTPConnectionManager, h)}
		} else {
			fc.Filters = c.network
		}
		l.FilterChains = append(l.FilterChains, fc)
	}
	if needInspector && !udp {
		l.ListenerFilters = []*listenerv3.ListenerFilter{{
			Name: wellknown.TLSInspector,
			ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspv3.TlsInspector{
				// istiod's value: peek at most 512 bytes for the ClientHello.
				InitialReadBufferSize: wrapperspb.UInt32(512),
			})},
		}}
	}
	return l
}

// passthroughChains builds SNI-matched tcp_proxy chains for PASSTHROUGH servers
// (from VirtualService tls routes) and AUTO_PASSTHROUGH servers (east-west).
func (b *builder) passthroughChains(s *gwServer, listenerPort uint32) []*chainOpts {
	if s.TLS.EffectiveMode() == model.TLSAutoPassthrough {
		return b.autoPassthroughChains(s)
	}
	var out []*chainOpts
	known := b.tlsHostsByPort[listenerPort]
	if known == nil {
		known = map[string]string{}
		b.tlsHostsByPort[listenerPort] = known
	}
	for _, vs := range b.ix.virtualServicesForGateway(s.GatewayName, b.proxy.Namespace) {
		if !vsMatchesServerHosts(vs, s.Hosts) {
			continue
		}
		for ri, tr := range vs.TLS {
			if len(tr.Route) == 0 {
				continue
			}
			for _, m := range tr.Match {
				if !l4Match(m.Port, m.Gateways, s, vs.Namespace) {
					continue
				}
				if dup := checkDuplicates(m.SNIHosts, s.Bind, known); len(dup) > 0 {
					b.errorf(model.RefOf(model.KindVirtualService, vs.Meta), fieldIndex("spec.tls", ri)+".match",
						"duplicate SNI hosts %v on port %d of gateway %s; rule skipped", dup, listenerPort, s.GatewayName)
					continue
				}
				out = append(out, &chainOpts{sniHosts: slices.Clone(m.SNIHosts), network: b.tcpProxyFilters(tr.Route, vs.Namespace, s.Port)})
			}
		}
	}
	return out
}

// tcpFiltersForServer returns the network filters of the first tcp route bound
// to a TCP or TLS-terminating server, or nil.
func (b *builder) tcpFiltersForServer(s *gwServer) []*listenerv3.Filter {
	for _, vs := range b.ix.virtualServicesForGateway(s.GatewayName, b.proxy.Namespace) {
		if !vsMatchesServerHosts(vs, s.Hosts) {
			continue
		}
		for _, tr := range vs.TCP {
			if !l4MultiMatch(tr.Match, s, vs.Namespace) || len(tr.Route) == 0 {
				continue
			}
			return b.tcpProxyFilters(tr.Route, vs.Namespace, s.Port)
		}
	}
	return nil
}

// vsMatchesServerHosts is istiod's pickMatchingGatewayHosts != empty.
func vsMatchesServerHosts(vs *virtualService, serverHosts []string) bool {
	for _, vh := range vs.hosts {
		for _, gh := range serverHosts {
			if ns, name, ok := cut(gh, '/'); ok {
				if ns != vs.Namespace {
					continue
				}
				gh = name
			}
			if hostMatches(gh, vh) {
				return true
			}
		}
	}
	return false
}

func l4MultiMatch(ms []model.L4Match, s *gwServer, vsNamespace string) bool {
	if len(ms) == 0 {
		return true
	}
	for _, m := range ms {
		if l4Match(m.Port, m.Gateways, s, vsNamespace) {
			return true
		}
	}
	return false
}

func l4Match(port uint32, gateways []string, s *gwServer, vsNamespace string) bool {
	if port != 0 && port != s.Port.Number {
		return false
	}
	return gatewayListed(gateways, s.GatewayName, vsNamespace)
}

// gatewayListed: an empty list matches; else the gateway must be listed
// (references resolved against the VirtualService's namespace).
func gatewayListed(gateways []string, gateway, vsNamespace string) bool {
	if len(gateways) == 0 {
		return true
	}
	for _, g := range gateways {
		if resolveGatewayName(g, vsNamespace) == gateway {
			return true
		}
	}
	return false
}

func cut(s string, sep byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// serverNames is the sorted SNI match of a chain; a "*" host means any name,
// so no server_names match at all (as istiod does).
func serverNames(hosts []string) []string {
	if len(hosts) == 0 || slices.Contains(hosts, "*") {
		return nil
	}
	out := slices.Clone(hosts)
	slices.Sort(out)
	return out
}
