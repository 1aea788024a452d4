package translate

import (
	"github.com/meshgate/meshgate/discovery/model"
)

// gwServer is one Gateway server as merged for a proxy.
type gwServer struct {
	model.Server
	Gateway     *model.Gateway
	GatewayName string // "ns/name"
	Index       int    // position in spec.servers, for error paths
	// SNIHosts and RouteName are set for servers with TLS settings.
	SNIHosts  []string
	RouteName string
}

func (s *gwServer) ref() model.Ref { return model.RefOf(model.KindGateway, s.Gateway.Meta) }

func (s *gwServer) field(sub string) string {
	f := fieldIndex("spec.servers", s.Index)
	if sub != "" {
		f += "." + sub
	}
	return f
}

func (s *gwServer) isPassthrough() bool {
	if s.TLS == nil {
		return false
	}
	m := s.TLS.EffectiveMode()
	return m == model.TLSPassthrough || m == model.TLSAutoPassthrough
}

// isTLSServer: a non-HTTP server with TLS settings (termination or passthrough).
func (s *gwServer) isTLSServer() bool { return s.TLS != nil && !s.Port.Protocol.IsHTTP() }

// isHTTPServer: served by an HTTP connection manager.
func (s *gwServer) isHTTPServer() bool {
	p := s.Port.Protocol
	return p.IsHTTP() || (p == model.ProtocolHTTPS && !s.isPassthrough())
}

// isHTTPSTermination: an HTTPS server whose TLS the gateway terminates.
func (s *gwServer) isHTTPSTermination() bool {
	return s.TLS != nil && s.Port.Protocol == model.ProtocolHTTPS && !s.isPassthrough()
}

type serverPort struct {
	Number   uint32
	Protocol model.Protocol
	Bind     string
}

type mergedServers struct {
	Servers   []*gwServer
	RouteName string
}

// mergedGateway is every server of every Gateway selecting a proxy, grouped by
// listener port the way istiod's MergeGateways groups them.
type mergedGateway struct {
	ports           []serverPort
	servers         map[serverPort]*mergedServers
	serversByRoute  map[string][]*gwServer
	autoPassthrough bool
	// quic are the HTTPS servers that also get an HTTP/3 (QUIC) listener on
	// UDP, when enabled and the gateway Service has a UDP port for them.
	quic map[serverPort][]*gwServer
	// http3Routes are route configs that advertise HTTP/3 with alt-svc.
	http3Routes map[string]bool
}

// routeNameFor is istiod's gatewayRDSRouteName: http.<port> for plain-text
// HTTP; https.<port>.<portName>.<gw>.<ns> for terminated HTTPS; "" otherwise.
func routeNameFor(s *gwServer, resolvedPort uint32) string {
	bind := ""
	if s.Bind != "" {
		bind = "." + s.Bind
	}
	if s.Port.Protocol.IsHTTP() {
		return "http." + u32s(resolvedPort) + bind
	}
	if s.Port.Protocol == model.ProtocolHTTPS && !s.isPassthrough() {
		return "https." + u32s(s.Port.Number) + "." + s.Port.Name + "." + s.Gateway.Name + "." + s.Gateway.Namespace + bind
	}
	return ""
}

// resolvePorts maps a server port to the ports the proxy listens on: the
// targetPort of the gateway's own Service when it is known, else the port.
func resolvePorts(number uint32, targets []serviceTarget) []uint32 {
	for _, t := range targets {
		if t.Port == number {
			return []uint32{t.TargetPort}
		}
	}
	return []uint32{number}
}

func canMergeProtocols(a, b model.Protocol) bool { return (a.IsHTTP() || a == b) && b.IsHTTP() }

func (ix *Index) mergeGateways(p *Proxy, errs *[]error) *mergedGateway {
	gws := ix.gatewaysForProxy(p)
	if len(gws) == 0 {
		return nil
	}
	targets := ix.proxyServiceTargets(p)
	mg := &mergedGateway{servers: map[serverPort]*mergedServers{}, serversByRoute: map[string][]*gwServer{},
		quic: map[serverPort][]*gwServer{}, http3Routes: map[string]bool{}}
	addQUIC := func(s *gwServer, sp serverPort, routeName string) {
		if !ix.opts.EnableQUICListeners || s.Port.Protocol != model.ProtocolHTTPS || s.TLS == nil || s.isPassthrough() ||
			!udpPort(s.Port.Number, targets) {
			return
		}
		mg.quic[sp] = append(mg.quic[sp], s)
		mg.http3Routes[routeName] = true
	}
	gatewayPorts := map[uint32]bool{}
	plainText := map[uint32]serverPort{}
	tlsHostsByPort := map[uint32]map[string]string{}
	nonPlainBinds := map[uint32]map[string]bool{}

	reject := func(s *gwServer, field, format string, args ...any) {
		*errs = append(*errs, model.Errorf(s.ref(), s.field(field), format, args...))
	}
	addNew := func(s *gwServer, sp serverPort, routeName string) {
		if !s.isTLSServer() {
			plainText[sp.Number] = sp
		}
		if s.isHTTPServer() {
			mg.serversByRoute[routeName] = []*gwServer{s}
		}
		mg.servers[sp] = &mergedServers{Servers: []*gwServer{s}, RouteName: routeName}
		mg.ports = append(mg.ports, sp)
	}

	for _, g := range gws {
		gwName := g.NamespacedName()
		for si := range g.Servers {
			base := g.Servers[si]
			base.Hosts = sanitizeServerHosts(base.Hosts, g.Namespace)
			for _, port := range resolvePorts(base.Port.Number, targets) {
				s := &gwServer{Server: base, Gateway: g, GatewayName: gwName, Index: si}
				routeName := routeNameFor(s, port)
				if s.TLS != nil {
					if tlsHostsByPort[port] == nil {
						tlsHostsByPort[port] = map[string]string{}
					}
					if dup := checkDuplicates(s.Hosts, s.Bind, tlsHostsByPort[port]); len(dup) > 0 {
						reject(s, "hosts", "duplicate host names %v on port %d: already served by another TLS server; server skipped", dup, port)
						continue
					}
					s.SNIHosts = sniHostsForServer(s.Hosts)
					s.RouteName = routeName
					if s.TLS.EffectiveMode() == model.TLSAutoPassthrough {
						mg.autoPassthrough = true
					}
				}
				sp := serverPort{Number: port, Protocol: s.Port.Protocol, Bind: s.Bind}
				if !gatewayPorts[port] {
					gatewayPorts[port] = true
					addNew(s, sp, routeName)
					addQUIC(s, sp, routeName)
					continue
				}
				if current, ok := plainText[port]; ok {
					if !canMergeProtocols(sp.Protocol, current.Protocol) && current.Bind == sp.Bind {
						reject(s, "port", "protocol %s conflicts with protocol %s already served on port %d; server skipped",
							sp.Protocol, current.Protocol, port)
						continue
					}
					if routeName == "" && current.Bind == sp.Bind {
						reject(s, "port", "cannot share port %d with the servers already on it; server skipped", port)
						continue
					}
					if current.Bind != sp.Bind {
						if ms := mg.servers[sp]; ms == nil {
							addNew(s, sp, routeName)
						} else {
							ms.RouteName = routeName
							ms.Servers = append(ms.Servers, s)
							mg.serversByRoute[routeName] = append(mg.serversByRoute[routeName], s)
						}
						continue
					}
					ms := mg.servers[current]
					ms.Servers = append(ms.Servers, s)
					mg.serversByRoute[routeName] = append(mg.serversByRoute[routeName], s)
					continue
				}
				if !s.isTLSServer() {
					plainText[port] = sp
					if s.isHTTPServer() {
						mg.serversByRoute[routeName] = []*gwServer{s}
					}
					mg.servers[sp] = &mergedServers{Servers: []*gwServer{s}, RouteName: routeName}
					mg.ports = append(mg.ports, sp)
					continue
				}
				if s.isHTTPServer() {
					if routeName == "" {
						reject(s, "port", "cannot build a route name for this server; server skipped")
						continue
					}
					if _, exists := mg.serversByRoute[routeName]; exists {
						reject(s, "port.name", "port name %q is not unique for HTTPS port %d (route %s); server skipped", s.Port.Name, s.Port.Number, routeName)
						continue
					}
					mg.serversByRoute[routeName] = []*gwServer{s}
				}
				binds := nonPlainBinds[port]
				if binds == nil {
					binds = map[string]bool{}
					nonPlainBinds[port] = binds
				}
				newBind := !binds[sp.Bind]
				binds[sp.Bind] = true
				if s.TLS == nil && !newBind {
					reject(s, "tls", "a server sharing port %d with TLS servers needs TLS settings; server skipped", port)
					continue
				}
				if ms := mg.servers[sp]; ms == nil {
					mg.servers[sp] = &mergedServers{Servers: []*gwServer{s}}
					mg.ports = append(mg.ports, sp)
				} else {
					ms.Servers = append(ms.Servers, s)
				}
				addQUIC(s, sp, routeName)
			}
		}
	}
	return mg
}

// checkDuplicates returns the hosts already known for bind; if there are none,
// it records all hosts as known.
func checkDuplicates(hosts []string, bind string, known map[string]string) []string {
	var dup []string
	for _, h := range hosts {
		if b, ok := known[h]; ok && b == bind {
			dup = append(dup, h)
		}
	}
	if len(dup) == 0 {
		for _, h := range hosts {
			known[h] = bind
		}
	}
	return dup
}

// udpPort reports whether the gateway's Service exposes port number over UDP.
func udpPort(number uint32, targets []serviceTarget) bool {
	for _, t := range targets {
		if t.Port == number && t.Protocol == "UDP" {
			return true
		}
	}
	return false
}
