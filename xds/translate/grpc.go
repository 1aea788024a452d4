package translate

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/sni"
)

// Proxyless gRPC (Istio's "grpc" generator). It reads the same Index as the
// gateway translator: services merged across clusters, istiod's short-name
// rules, DestinationRule precedence and exportTo, VirtualServices bound to
// "mesh" and exported to the client's namespace, and each cluster's trust
// domain for the SPIFFE identities it checks.
//
// A gRPC client dialing xds:///<host>:<port> asks for the listener named
// "<host>:<port>". GRPC answers, for every port of every Service of the mesh:
//
//   - listener "<host>:<port>": an API listener whose HttpConnectionManager takes
//     route config "<host>:<port>" over ADS and ends in the router filter;
//   - route config "<host>:<port>": one virtual host with domains "<host>:<port>"
//     and "<host>", routing to "outbound|<port>||<host>", or, when a
//     VirtualService bound to the mesh names the host, its http routes (URI and
//     header matches; weighted destinations; DestinationRule subsets);
//   - clusters "outbound|<port>|<subset>|<host>": EDS over ADS, round robin;
//   - one ClusterLoadAssignment per cluster: ready endpoints of the client's
//     network (or of every network when either side has none), grouped by
//     locality, each locality weighted by its endpoint count (gRPC refuses
//     localities without load_balancing_weight: "no targets to pick from").
//
// Not supported (ignored, as Istio's grpc generator mostly does): TLS
// (DestinationRule tls, mesh mTLS), retries, timeouts, fault injection,
// mirrors, header manipulation, load-balancer settings other than round robin,
// ServiceEntries. VirtualService redirects and direct responses cannot be
// served to gRPC: such an http route is reported in Result.Errors and skipped.

const (
	grpcHCMName    = "envoy.filters.network.http_connection_manager"
	grpcRouterName = "envoy.filters.http.router"
)

// GRPC builds the configuration of a proxyless gRPC client (node metadata
// GENERATOR=grpc). Like Translate it is pure; problems with single objects are
// in Result.Errors and the objects are skipped.
func GRPC(mesh *model.MeshState, proxy Proxy, opts Options) (*Result, error) {
	if mesh == nil {
		return nil, fmt.Errorf("grpc translate: nil mesh state")
	}
	if opts.DomainSuffix == "" {
		opts.DomainSuffix = model.DefaultDomainSuffix
	}
	g := &grpcBuilder{proxy: proxy, out: &Result{}, ix: BuildIndex(mesh, opts), clusters: map[string]bool{}}
	for _, host := range g.ix.hostnames {
		svc := g.ix.service(host, g.proxy.Namespace)
		if !grpcService(svc) {
			continue
		}
		for _, p := range svc.Ports {
			if p.Protocol == "UDP" || p.Protocol == "SCTP" {
				continue
			}
			g.servicePort(svc, p)
		}
	}
	sortResult(g.out)
	return g.out, nil
}

// grpcService reports a Kubernetes Service with ports (ServiceEntry hosts and
// ExternalName Services are not served to proxyless clients).
func grpcService(svc *service) bool {
	if svc == nil || svc.Entry != nil || len(svc.Ports) == 0 {
		return false
	}
	for _, in := range svc.Instances {
		if in.Svc.Type == "ExternalName" {
			return false
		}
	}
	return true
}

// grpcBuilder builds a proxyless client's configuration from the same Index
// as the gateway translator: services merged across clusters, short names,
// DestinationRule precedence and exportTo, per-cluster trust domains.
type grpcBuilder struct {
	proxy    Proxy
	out      *Result
	ix       *Index
	clusters map[string]bool // cluster names already emitted
}

// serviceRef names a service in errors.
func serviceRef(svc *service) model.Ref {
	return model.RefOf(model.KindService, model.Meta{Name: svc.Name, Namespace: svc.Namespace})
}

// virtualService is the first VirtualService bound to the mesh and exported
// to the client's namespace whose hosts include host, as istiod picks it.
func (g *grpcBuilder) virtualService(host string) *virtualService {
	for _, vs := range g.ix.virtualServicesForGateway(model.MeshGateway, g.proxy.Namespace) {
		if slices.Contains(vs.hosts, host) {
			return vs
		}
	}
	return nil
}

// subset is the named subset of the DestinationRule the client uses for host.
func (g *grpcBuilder) subset(host, svcNamespace, name string) *model.Subset {
	return findSubset(g.ix.destinationRule(host, g.proxy.Namespace, svcNamespace, g.proxy.Labels), name)
}

// servicePort emits the listener, route config, clusters and endpoints of one
// port of one service.
func (g *grpcBuilder) servicePort(svc *service, port model.ServicePort) {
	name := svc.Hostname + ":" + strconv.FormatUint(uint64(port.Port), 10)
	routes := g.routes(svc, port)
	rc := &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    name,
			Domains: []string{name, svc.Hostname},
			Routes:  routes,
		}},
	}
	lis, err := grpcListener(name)
	if err == nil {
		err = rc.ValidateAll()
	}
	if err != nil {
		g.out.Errors = append(g.out.Errors, model.Errorf(serviceRef(svc), "spec.ports", "port %d: %v", port.Port, err))
		return
	}
	g.out.Listeners = append(g.out.Listeners, lis)
	g.out.Routes = append(g.out.Routes, rc)
	for _, cname := range referencedClusters(routes) {
		g.cluster(cname)
	}
}

func grpcListener(name string) (*listenerv3.Listener, error) {
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: name,
			ConfigSource:    adsConfigSource(),
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       grpcRouterName,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	}
	if err := hcm.ValidateAll(); err != nil {
		return nil, err
	}
	hcmAny, err := anypb.New(hcm)
	if err != nil {
		return nil, err
	}
	lis := &listenerv3.Listener{
		Name:        name,
		ApiListener: &listenerv3.ApiListener{ApiListener: hcmAny},
	}
	return lis, lis.ValidateAll()
}

func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// cluster emits an EDS cluster and its endpoints once.
func (g *grpcBuilder) cluster(name string) {
	if g.clusters[name] {
		return
	}
	port, subset, host, ok := parseGRPCClusterName(name)
	svc := g.ix.service(host, g.proxy.Namespace)
	if !ok || !grpcService(svc) {
		return // a route to an unknown service: the cluster is simply absent, as in Istio
	}
	sp, found := svc.port(port)
	if !found {
		return
	}
	var labels map[string]string
	if subset != "" {
		labels = g.subset(host, svc.Namespace, subset).Labels
	}
	g.clusters[name] = true
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig:   adsConfigSource(),
			ServiceName: name,
		},
		LbPolicy: clusterv3.Cluster_ROUND_ROBIN,
	}
	if ctx := g.upstreamTLS(svc, port, subset); ctx != nil {
		c.TransportSocket = transportSocket(ctx)
	}
	cla := g.loadAssignment(name, svc, sp, labels)
	if err := firstErr(c.ValidateAll(), cla.ValidateAll()); err != nil {
		g.out.Errors = append(g.out.Errors, model.Errorf(serviceRef(svc), "spec.ports", "cluster %s: %v", name, err))
		return
	}
	g.out.Clusters = append(g.out.Clusters, c)
	g.out.Endpoints = append(g.out.Endpoints, cla)
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func parseGRPCClusterName(name string) (port uint32, subset, host string, ok bool) {
	n, err := sni.ParseClusterName(name)
	if err != nil {
		return 0, "", "", false
	}
	return n.Port, n.Subset, n.Host, true
}

// loadAssignment groups the service's usable endpoints by locality.
func (g *grpcBuilder) loadAssignment(name string, svc *service, sp model.ServicePort, subset map[string]string) *endpointv3.ClusterLoadAssignment {
	byLocality := map[model.Locality][]*endpointv3.LbEndpoint{}
	for _, in := range svc.Instances {
		for i := range in.Svc.Endpoints {
			g.addEndpoint(byLocality, in.Cluster, &in.Svc.Endpoints[i], sp, subset)
		}
	}
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	for _, loc := range slices.SortedFunc(maps.Keys(byLocality), func(a, b model.Locality) int { return cmp.Compare(a.String(), b.String()) }) {
		eps := byLocality[loc]
		cla.Endpoints = append(cla.Endpoints, &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{Region: loc.Region, Zone: loc.Zone, SubZone: loc.Subzone},
			LbEndpoints:         eps,
			LoadBalancingWeight: wrapperspb.UInt32(uint32(len(eps))),
		})
	}
	return cla
}

// addEndpoint adds ep (of cluster c) when it is ready, in the subset and in
// a network the client reaches (an endpoint without a network is in its cluster's).
func (g *grpcBuilder) addEndpoint(byLocality map[model.Locality][]*endpointv3.LbEndpoint, c *model.ClusterState, ep *model.Endpoint, sp model.ServicePort, subset map[string]string) {
	if !ep.Ready || !model.LabelsMatch(subset, ep.Labels) || !g.sameNetwork(cmp.Or(ep.Network, c.Network)) {
		return
	}
	target, ok := ep.Port(sp.Name)
	if !ok {
		target = cmp.Or(sp.TargetPort, sp.Port)
	}
	byLocality[ep.Locality] = append(byLocality[ep.Locality], &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress(ep.Address, target),
		}},
		HealthStatus:        corev3.HealthStatus_HEALTHY,
		LoadBalancingWeight: wrapperspb.UInt32(1),
	})
}

func (g *grpcBuilder) sameNetwork(n string) bool {
	return n == "" || g.proxy.Network == "" || n == g.proxy.Network
}

func referencedClusters(routes []*routev3.Route) []string {
	var out []string
	for _, r := range routes {
		ra := r.GetRoute()
		if c := ra.GetCluster(); c != "" {
			out = append(out, c)
		}
		for _, wc := range ra.GetWeightedClusters().GetClusters() {
			out = append(out, wc.GetName())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortResult(r *Result) {
	byName := func(a, b interface{ GetName() string }) int { return cmp.Compare(a.GetName(), b.GetName()) }
	slices.SortFunc(r.Listeners, func(a, b *listenerv3.Listener) int { return byName(a, b) })
	slices.SortFunc(r.Routes, func(a, b *routev3.RouteConfiguration) int { return byName(a, b) })
	slices.SortFunc(r.Clusters, func(a, b *clusterv3.Cluster) int { return byName(a, b) })
	slices.SortFunc(r.Endpoints, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return cmp.Compare(a.GetClusterName(), b.GetClusterName())
	})
}

// routes are the VirtualService's http routes for this port, or the default
// route to the service itself.
func (g *grpcBuilder) routes(svc *service, port model.ServicePort) []*routev3.Route {
	def := &routev3.Route{
		Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: ""}},
		Action: clusterAction(clusterName(port.Port, "", svc.Hostname)),
	}
	vs := g.virtualService(svc.Hostname)
	if vs == nil {
		return []*routev3.Route{def}
	}
	ref := model.RefOf(model.KindVirtualService, vs.Meta)
	var out []*routev3.Route
	for i, hr := range vs.HTTP {
		field := fmt.Sprintf("spec.http[%d]", i)
		if hr.Redirect != nil || hr.DirectResponse != nil || hr.Delegate != nil {
			g.out.Errors = append(g.out.Errors, model.Errorf(ref, field, "redirect, directResponse and delegate cannot be served to proxyless gRPC clients; route skipped"))
			continue
		}
		action, err := g.routeAction(vs.VirtualService, hr.Route, port)
		if err != nil {
			g.out.Errors = append(g.out.Errors, model.Errorf(ref, field+".route", "%v", err))
			continue
		}
		matches := hr.Match
		if len(matches) == 0 {
			matches = []model.HTTPMatch{{}}
		}
		for j, m := range matches {
			if !g.matchApplies(m, port.Port) {
				continue
			}
			rm, err := grpcRouteMatch(m)
			if err != nil {
				g.out.Errors = append(g.out.Errors, model.Errorf(ref, fmt.Sprintf("%s.match[%d]", field, j), "%v", err))
				continue
			}
			out = append(out, &routev3.Route{Name: hr.Name, Match: rm, Action: action})
		}
	}
	if len(out) == 0 {
		// Nothing of the VirtualService can be served for this port: keep the
		// service reachable rather than answering every RPC with "no route".
		return []*routev3.Route{def}
	}
	return out
}

// matchApplies evaluates the parts of a match that depend on the client, as
// istiod does per proxy: port, source labels and source namespace.
func (g *grpcBuilder) matchApplies(m model.HTTPMatch, port uint32) bool {
	if m.Port != 0 && m.Port != port {
		return false
	}
	if len(m.SourceLabels) > 0 && !model.LabelsMatch(m.SourceLabels, g.proxy.Labels) {
		return false
	}
	if m.SourceNamespace != "" && m.SourceNamespace != g.proxy.Namespace {
		return false
	}
	return len(m.Gateways) == 0 || slices.Contains(m.Gateways, model.MeshGateway)
}

func clusterAction(name string) *routev3.Route_Route {
	return &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: name},
	}}
}

// routeAction resolves the destinations of an http route into one cluster or
// weighted clusters. Zero-weight destinations of a split are dropped.
func (g *grpcBuilder) routeAction(vs *model.VirtualService, dests []model.HTTPRouteDestination, port model.ServicePort) (*routev3.Route_Route, error) {
	if len(dests) == 0 {
		return nil, fmt.Errorf("no destination")
	}
	type wc struct {
		name   string
		weight uint32
	}
	var clusters []wc
	for i, d := range dests {
		name, err := g.destination(vs, d.Destination, port)
		if err != nil {
			return nil, fmt.Errorf("[%d].destination: %w", i, err)
		}
		if len(dests) > 1 && d.Weight <= 0 {
			continue
		}
		clusters = append(clusters, wc{name, uint32(max(d.Weight, 0))})
	}
	if len(clusters) == 0 {
		return nil, fmt.Errorf("every destination has weight 0")
	}
	if len(clusters) == 1 {
		return clusterAction(clusters[0].name), nil
	}
	w := &routev3.WeightedCluster{}
	for _, c := range clusters {
		w.Clusters = append(w.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: c.name, Weight: wrapperspb.UInt32(c.weight)})
	}
	return &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: w},
	}}, nil
}

// destination names the cluster of a destination: its host made fully
// qualified, its port (explicit, the service's only port, or the listener's),
// and its subset, which a DestinationRule must define.
func (g *grpcBuilder) destination(vs *model.VirtualService, d model.Destination, port model.ServicePort) (string, error) {
	host := resolveShortName(d.Host, vs.Namespace, g.ix.opts.DomainSuffix)
	svc := g.ix.service(host, g.proxy.Namespace)
	p := d.Port
	if p == 0 {
		if svc != nil && len(svc.Ports) == 1 {
			p = svc.Ports[0].Port
		} else {
			p = port.Port
		}
	}
	if d.Subset != "" {
		svcNamespace := ""
		if svc != nil {
			svcNamespace = svc.Namespace
		}
		if g.subset(host, svcNamespace, d.Subset) == nil {
			return "", fmt.Errorf("subset %q of host %s is not defined by the DestinationRule this client uses", d.Subset, host)
		}
	}
	return clusterName(p, d.Subset, host), nil
}

// grpcRouteMatch converts the URI and header conditions gRPC understands; other
// conditions are refused rather than silently widened.
func grpcRouteMatch(m model.HTTPMatch) (*routev3.RouteMatch, error) {
	switch {
	case m.Scheme != nil, m.Method != nil, m.Authority != nil:
		return nil, fmt.Errorf("scheme, method and authority matches are not supported for proxyless gRPC")
	case len(m.QueryParams) > 0:
		return nil, fmt.Errorf("queryParams matches are not supported for proxyless gRPC")
	}
	rm := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: ""}}
	if m.IgnoreURICase {
		rm.CaseSensitive = wrapperspb.Bool(false)
	}
	if u := m.URI; u != nil {
		switch u.Kind {
		case "exact":
			rm.PathSpecifier = &routev3.RouteMatch_Path{Path: u.Exact}
		case "prefix":
			rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: u.Prefix}
		case "regex":
			rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: u.Regex}}
		default:
			return nil, fmt.Errorf("uri: unknown match kind %q", u.Kind)
		}
	}
	for _, name := range model.SortedKeys(m.Headers) {
		sm, err := grpcStringMatcher(m.Headers[name])
		if err != nil {
			return nil, fmt.Errorf("headers[%s]: %w", name, err)
		}
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{
			Name:                 name,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm},
		})
	}
	for _, name := range model.SortedKeys(m.WithoutHeaders) {
		sm, err := grpcStringMatcher(m.WithoutHeaders[name])
		if err != nil {
			return nil, fmt.Errorf("withoutHeaders[%s]: %w", name, err)
		}
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{
			Name:                 name,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm},
			InvertMatch:          true,
		})
	}
	return rm, rm.ValidateAll()
}

// grpcStringMatcher is stringMatcher, refusing an unset match kind.
func grpcStringMatcher(s model.StringMatch) (*matcherv3.StringMatcher, error) {
	if m := stringMatcher(s); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("unknown match kind %q", s.Kind)
}

// Certificate provider instance and names a proxyless gRPC client's bootstrap
// defines (`meshgate bootstrap --grpc --cert-dir`), as Istio's grpc generator uses.
const (
	GRPCCertProviderInstance = "default"
	grpcCertName             = "default"
	grpcRootName             = "ROOTCA"
)

// upstreamTLS gives a proxyless client mesh mTLS to clusters whose
// DestinationRule says ISTIO_MUTUAL: the client's certificate and roots come
// from its bootstrap's certificate provider (file_watcher on the files
// `meshgate cert issue` writes), the server must present one of the service's
// SPIFFE identities (or the rule's subjectAltNames), and the SNI names the
// cluster. gRPC-Go checks only the deprecated SAN matchers, which are the ones set.
func (g *grpcBuilder) upstreamTLS(svc *service, port uint32, subset string) *tlsv3.UpstreamTlsContext {
	dr := g.ix.destinationRule(svc.Hostname, g.proxy.Namespace, svc.Namespace, g.proxy.Labels)
	pol := effectivePolicy(dr, findSubset(dr, subset), port)
	if pol.TLS == nil || pol.TLS.Mode != model.ClientTLSIstioMutual {
		return nil
	}
	sans := pol.TLS.SubjectAltNames
	if len(sans) == 0 {
		sans = g.ix.serviceIdentities(svc)
	}
	vc := &tlsv3.CertificateValidationContext{CaCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{
		InstanceName: GRPCCertProviderInstance, CertificateName: grpcRootName,
	}}
	setSANs(vc, exactMatchers(sans))
	sni := pol.TLS.SNI
	if sni == "" {
		sni = sniName(port, subset, svc.Hostname)
	}
	return &tlsv3.UpstreamTlsContext{Sni: sni, CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance: &tlsv3.CertificateProviderPluginInstance{InstanceName: GRPCCertProviderInstance, CertificateName: grpcCertName},
		ValidationContextType:          &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc},
	}}
}
