package translate

import (
	"cmp"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

// epEntry is one endpoint (or gateway standing in for remote endpoints) of a
// locality group.
type epEntry struct {
	addr   string
	port   uint32
	weight uint32
	mtls   bool
	// unknownHealth: a ServiceEntry endpoint, which has no readiness; istiod
	// sends it without a health status.
	unknownHealth bool
	// ti indexes the endpoint's topology (what failoverPriority matches it
	// on) in loadAssignment's list, kept only when the policy needs it: an
	// entry stays small (a 10-endpoint service's were 1.4 KB).
	ti int32
}

// epTopology is where an endpoint runs, from which its labels with istiod's
// topology labels are made when a failoverPriority needs them (labels).
type epTopology struct {
	labels   map[string]string
	cluster  string
	locality model.Locality
	node     string
	network  string
}

// labels is istiod's AugmentLabels: the workload's labels plus region, zone,
// subzone (from its locality), cluster, hostname (its node) and network (a
// network label of the workload's own wins).
func (t epTopology) labelSet() map[string]string {
	out := make(map[string]string, len(t.labels)+6)
	for k, v := range t.labels {
		out[k] = v
	}
	for k, v := range map[string]string{model.LabelRegion: t.locality.Region, model.LabelZone: t.locality.Zone,
		model.LabelSubzone: t.locality.Subzone, model.LabelCluster: t.cluster, model.LabelHostname: t.node} {
		if v != "" {
			out[k] = v
		}
	}
	if t.network != "" && out[model.LabelNetwork] == "" {
		out[model.LabelNetwork] = t.network
	}
	return out
}

type localityGroup struct {
	loc     model.Locality
	eps     []epEntry
	gateway map[model.NetworkGateway]uint32 // remote endpoints folded into gateways
}

// localityGroups are a load assignment's groups, in the order they were met;
// byLoc indexes them once there are several.
type localityGroups struct {
	list  []*localityGroup
	byLoc map[model.Locality]*localityGroup
}

// loadAssignment builds the CLA of cluster name with split-horizon EDS: for the
// proxy's network, endpoints of other networks are replaced by those networks'
// east-west gateways (weights scaled so each network's weight splits evenly
// across its gateways, within the locality of the endpoints they replace);
// endpoints that cannot do mesh mTLS are dropped, never sent to a gateway.
// For SNI-DNAT clusters (east-west), only local-network mTLS endpoints count
// (weights scaled all the same, as istiod does).
// drTLS is the DestinationRule's TLS mode for the cluster (endpointTLSMode):
// when set, it alone decides which endpoints take mesh mTLS (istiod's
// mtlsChecker), else the endpoint's tlsMode label does.
// pol is the cluster's traffic policy, for locality load balancing.
func (b *builder) loadAssignment(name string, svc *service, sp model.ServicePort, subset *model.Subset, drTLS *model.ClientTLSMode, pol policy, sniDNAT bool) *endpointv3.ClusterLoadAssignment {
	var groups localityGroups
	total := 0
	for _, in := range svc.Instances {
		total += len(in.Svc.Endpoints)
	}
	var last *localityGroup // endpoints come in runs of one locality: most lookups are the last group
	group := func(l model.Locality) *localityGroup {
		if last != nil && last.loc == l {
			return last
		}
		var g *localityGroup
		if groups.byLoc != nil {
			g = groups.byLoc[l]
		} else if len(groups.list) == 1 && groups.list[0].loc == l {
			g = groups.list[0]
		}
		if g == nil {
			g = &localityGroup{loc: l} // gateway made when a remote endpoint needs it
			if len(groups.list) == 0 {
				g.eps = make([]epEntry, 0, total) // the only group of most services
			}
			groups.list = append(groups.list, g)
			if len(groups.list) == 2 {
				groups.byLoc = map[model.Locality]*localityGroup{groups.list[0].loc: groups.list[0]}
			}
			if groups.byLoc != nil {
				groups.byLoc[l] = g
			}
		}
		last = g
		return g
	}
	needTopo := usesTopology(pol)
	var topos []epTopology // of the entries (epEntry.ti), when needTopo
	add := func(g *localityGroup, e epEntry, t epTopology) {
		if needTopo {
			e.ti = int32(len(topos))
			topos = append(topos, t)
		}
		g.eps = append(g.eps, e)
	}
	gw := b.ix.networkGateways()
	scale := gw.scale
	for _, in := range svc.Instances {
		for i := range in.Svc.Endpoints {
			ep := &in.Svc.Endpoints[i]
			if !ep.Ready || (subset != nil && !model.LabelsMatch(subset.Labels, ep.Labels)) {
				continue
			}
			port, ok := ep.Port(sp.Name)
			if !ok {
				port = sp.TargetPort
				if port == 0 {
					port = sp.Port
				}
			}
			network := ep.Network
			if network == "" {
				network = in.Cluster.Network
			}
			mtls := ep.TLSMode == model.TLSModeIstio
			local := sameNetwork(network, b.proxy.Network)
			if sniDNAT {
				// the client's own mTLS passes through: the label decides
				if local && mtls {
					add(group(ep.Locality), epEntry{addr: ep.Address, port: port, weight: scale, mtls: true}, topo(ep, network, in.Cluster.ID))
				}
				continue
			}
			if drTLS != nil {
				mtls = *drTLS == model.ClientTLSIstioMutual
			}
			if local {
				add(group(ep.Locality), epEntry{addr: ep.Address, port: port, weight: scale, mtls: mtls}, topo(ep, network, in.Cluster.ID))
				continue
			}
			gws := gw.forEndpoint(network, in.Cluster.ID)
			if len(gws) == 0 || !mtls {
				b.droppedRemote++
				continue
			}
			if up := gw.reachable(gws); len(up) > 0 {
				gws = up // the weight moves to the gateways that answer
			}
			per := max(scale/uint32(len(gws)), 1)
			g := group(ep.Locality)
			if g.gateway == nil {
				g.gateway = map[model.NetworkGateway]uint32{}
			}
			for _, x := range gws {
				g.gateway[x] += per
			}
		}
	}
	if se := svc.Entry; se != nil && !sniDNAT {
		for _, we := range se.Endpoints {
			if (subset != nil && !model.LabelsMatch(subset.Labels, we.Labels)) || !sameNetwork(we.Network, b.proxy.Network) {
				continue
			}
			port, ok := we.Ports[sp.Name]
			if !ok {
				port = cmp.Or(sp.TargetPort, sp.Port)
			}
			l := localityOf(we.Locality)
			loc := model.Locality{Region: l.Region, Zone: l.Zone, Subzone: l.SubZone}
			mtls := we.Labels[model.LabelTLSMode] == model.TLSModeIstio
			if drTLS != nil {
				mtls = *drTLS == model.ClientTLSIstioMutual
			}
			add(group(loc), epEntry{addr: we.Address, port: port, weight: max(we.Weight, 1) * scale, mtls: mtls, unknownHealth: true},
				epTopology{labels: we.Labels, cluster: b.ix.local.ID, locality: loc, network: we.Network})
		}
	}
	gw.dropUnreachable(groups.list)
	la := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	var laTopos [][]epTopology // per locality group and endpoint of la, for failoverPriority (when needTopo)
	slices.SortFunc(groups.list, func(x, y *localityGroup) int {
		a, b := x.loc, y.loc
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.Subzone, b.Subzone))
	})
	for _, g := range groups.list {
		l := g.loc
		lle := &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Region: l.Region, Zone: l.Zone, SubZone: l.Subzone}}
		total := uint32(0)
		slices.SortFunc(g.eps, func(a, b epEntry) int { return cmp.Or(cmp.Compare(a.addr, b.addr), cmp.Compare(a.port, b.port)) })
		n := len(g.eps) + len(g.gateway)
		lle.LbEndpoints = make([]*endpointv3.LbEndpoint, 0, n)
		var topo []epTopology
		if needTopo {
			topo = make([]epTopology, 0, n)
		}
		lle.LbEndpoints = appendLbEndpoints(lle.LbEndpoints, g.eps)
		for _, e := range g.eps {
			if needTopo {
				topo = append(topo, topos[e.ti])
			}
			total += e.weight
		}
		var gwKeys []model.NetworkGateway
		for k := range g.gateway {
			gwKeys = append(gwKeys, k)
		}
		slices.SortFunc(gwKeys, compareGateways)
		for _, k := range gwKeys {
			w := max(g.gateway[k], 1)
			// istiod gives a gateway endpoint no health status
			lle.LbEndpoints = append(lle.LbEndpoints, lbEndpoint(epEntry{addr: k.Address, port: k.Port, weight: w, mtls: true, unknownHealth: true}))
			if needTopo { // istiod's gateway endpoints carry their cluster and network only
				topo = append(topo, epTopology{cluster: k.Cluster, network: k.Network})
			}
			total += w
		}
		if len(lle.LbEndpoints) == 0 {
			continue
		}
		lle.LoadBalancingWeight = wrapperspb.UInt32(total)
		la.Endpoints = append(la.Endpoints, lle)
		if needTopo {
			laTopos = append(laTopos, topo)
		}
	}
	b.applyLocalityLB(la, pol, laTopos)
	return la
}

// topo is the topology of a Service endpoint in cluster, on network.
func topo(ep *model.Endpoint, network, cluster string) epTopology {
	return epTopology{labels: ep.Labels, cluster: cluster, locality: ep.Locality, node: ep.NodeName, network: network}
}

// endpointTLSMode is istiod's tlsModeForDestinationRule: the TLS mode the
// DestinationRule sets for a cluster's endpoints, nil when it sets none. At
// each level (subset, then top) a matching port-level tls replaces the level's
// own; a subset without one falls back to the top level.
func endpointTLSMode(dr *model.DestinationRule, subset string, port uint32) *model.ClientTLSMode {
	if dr == nil {
		return nil
	}
	if subset != "" {
		s := findSubset(dr, subset)
		if s == nil {
			return nil
		}
		if m := levelTLSMode(s.TrafficPolicy, port); m != nil {
			return m
		}
	}
	return levelTLSMode(dr.TrafficPolicy, port)
}

func levelTLSMode(tp *model.TrafficPolicy, port uint32) *model.ClientTLSMode {
	if tp == nil {
		return nil
	}
	var m *model.ClientTLSMode
	if tp.TLS != nil {
		m = &tp.TLS.Mode
	}
	for i := range tp.PortLevelSettings {
		if pl := &tp.PortLevelSettings[i]; pl.Port == port && pl.TLS != nil {
			return &pl.TLS.Mode
		}
	}
	return m
}

// appendLbEndpoints appends lbEndpoint(e) of every e in eps, the eight
// messages of each socket address endpoint allocated together, one slice
// per call instead of eight objects per endpoint (endpoints are most of a
// large mesh's allocations).
func appendLbEndpoints(out []*endpointv3.LbEndpoint, eps []epEntry) []*endpointv3.LbEndpoint {
	n := 0
	for _, e := range eps {
		if !strings.HasPrefix(e.addr, "unix://") {
			n++
		}
	}
	slab := make([]lbEndpointMsgs, n)
	i := 0
	for _, e := range eps {
		if strings.HasPrefix(e.addr, "unix://") {
			out = append(out, lbEndpoint(e))
			continue
		}
		m := &slab[i]
		i++
		m.port.PortValue = e.port
		m.sa.Address, m.sa.PortSpecifier = e.addr, &m.port
		m.sock.SocketAddress = &m.sa
		m.addr.Address = &m.sock
		m.ep.Address = &m.addr
		m.hid.Endpoint = &m.ep
		lb := &m.lb
		lb.HostIdentifier, lb.HealthStatus, lb.LoadBalancingWeight = &m.hid, corev3.HealthStatus_HEALTHY, weightValue(e.weight)
		if e.unknownHealth {
			lb.HealthStatus = corev3.HealthStatus_UNKNOWN
		}
		if e.mtls {
			lb.Metadata = istioTLSModeMetadata
		}
		out = append(out, lb)
	}
	return out
}

// lbEndpointMsgs are the messages of one endpoint with a socket address.
type lbEndpointMsgs struct {
	lb   endpointv3.LbEndpoint
	hid  endpointv3.LbEndpoint_Endpoint
	ep   endpointv3.Endpoint
	addr corev3.Address
	sock corev3.Address_SocketAddress
	sa   corev3.SocketAddress
	port corev3.SocketAddress_PortValue
}

// smallWeights are the endpoint weights below 128 (1 unless the mesh has
// several east-west gateways in a network): one message for each value,
// shared by every endpoint of that weight, never modified.
var smallWeights = func() *[128]wrapperspb.UInt32Value {
	w := new([128]wrapperspb.UInt32Value)
	for i := range w {
		w[i].Value = uint32(i)
	}
	return w
}()

// weightValue is the weight message of an endpoint.
func weightValue(w uint32) *wrapperspb.UInt32Value {
	if w < uint32(len(smallWeights)) {
		return &smallWeights[w]
	}
	return wrapperspb.UInt32(w)
}

func lbEndpoint(e epEntry) *endpointv3.LbEndpoint {
	lb := &endpointv3.LbEndpoint{
		HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: endpointAddress(e.addr, e.port)}},
		HealthStatus:        corev3.HealthStatus_HEALTHY,
		LoadBalancingWeight: weightValue(e.weight),
	}
	if e.unknownHealth {
		lb.HealthStatus = corev3.HealthStatus_UNKNOWN
	}
	if e.mtls {
		lb.Metadata = istioTLSModeMetadata
	}
	return lb
}

// istioTLSModeMetadata marks an endpoint that takes Istio mTLS. One message
// shared by every such endpoint (tens of thousands in a large mesh), never
// modified.
var istioTLSModeMetadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
	"envoy.transport_socket_match": {Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue(model.TLSModeIstio)}},
}}

// endpointAddress is a socket address, or for a ServiceEntry endpoint
// "unix://<path>" a unix domain socket (Envoy's pipe), which has no port.
func endpointAddress(addr string, port uint32) *corev3.Address {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		return &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path}}}
	}
	return socketAddress(addr, port)
}

func compareGateways(a, b model.NetworkGateway) int {
	return cmp.Or(cmp.Compare(a.Network, b.Network), cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Address, b.Address), cmp.Compare(a.Port, b.Port))
}

// gatewayIndex holds the east-west gateways of every network.
type gatewayIndex struct {
	byNetwork        map[string][]model.NetworkGateway
	byNetworkCluster map[[2]string][]model.NetworkGateway
	down             map[model.NetworkGateway]bool // MeshState.Unreachable
	// scale is the least common multiple of the gateway counts per network and
	// per network+cluster, so every endpoint weight divides evenly among gateways.
	scale uint32
}

// forEndpoint picks the gateways for an endpoint in network/cluster: those of
// the same cluster if any, else every gateway of the network (as istiod does).
func (g *gatewayIndex) forEndpoint(network, cluster string) []model.NetworkGateway {
	if gws := g.byNetworkCluster[[2]string{network, cluster}]; len(gws) > 0 {
		return gws
	}
	return g.byNetwork[network]
}

func (ix *Index) networkGateways() *gatewayIndex {
	ix.gwOnce.Do(func() {
		g := &gatewayIndex{} // maps made when needed: most meshes (and endpoint-only changes) have no gateways
		for _, x := range ix.mesh.Unreachable {
			if g.down == nil {
				g.down = map[model.NetworkGateway]bool{}
			}
			g.down[x] = true
		}
		for _, c := range ix.mesh.Clusters {
			for _, x := range c.NetworkGateways {
				if g.byNetwork == nil {
					g.byNetwork, g.byNetworkCluster = map[string][]model.NetworkGateway{}, map[[2]string][]model.NetworkGateway{}
				}
				g.byNetwork[x.Network] = append(g.byNetwork[x.Network], x)
				k := [2]string{x.Network, x.Cluster}
				g.byNetworkCluster[k] = append(g.byNetworkCluster[k], x)
			}
		}
		l := 1
		for _, v := range g.byNetwork {
			slices.SortFunc(v, compareGateways)
			l = lcm(l, len(v))
		}
		for _, v := range g.byNetworkCluster {
			slices.SortFunc(v, compareGateways)
			l = lcm(l, len(v))
		}
		g.scale = uint32(l)
		ix.gw = g
	})
	return ix.gw
}

// reachable is gws without the unreachable ones (nil when none is left).
func (g *gatewayIndex) reachable(gws []model.NetworkGateway) []model.NetworkGateway {
	if len(g.down) == 0 {
		return gws
	}
	var up []model.NetworkGateway
	for _, x := range gws {
		if !g.down[x] {
			up = append(up, x)
		}
	}
	return up
}

// dropUnreachable takes the unreachable gateways out of a load assignment's
// groups when anything else is left in it (an endpoint of this network or
// a gateway that answers); otherwise it keeps them: fail-static, since no
// endpoint at all helps no caller and the probes may be wrong.
func (g *gatewayIndex) dropUnreachable(groups []*localityGroup) {
	if len(g.down) == 0 {
		return
	}
	other := false
	for _, lg := range groups {
		if len(lg.eps) > 0 {
			other = true
		}
		for x := range lg.gateway {
			if !g.down[x] {
				other = true
			}
		}
	}
	if !other {
		return
	}
	for _, lg := range groups {
		for x := range lg.gateway {
			if g.down[x] {
				delete(lg.gateway, x)
			}
		}
	}
}

func lcm(a, b int) int {
	x, y := a, b
	for y != 0 {
		x, y = y, x%y
	}
	return a / x * b
}

// sameNetwork: an unset network on either side matches any network, as in istiod.
func sameNetwork(a, b string) bool { return a == "" || b == "" || a == b }
