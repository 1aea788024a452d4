package translate

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

// clusterRef is a cluster some listener or route refers to.
type clusterRef struct {
	Host    string
	Port    uint32
	Subset  string
	SNIDNAT bool // an east-west (AUTO_PASSTHROUGH) cluster named by its SNI
}

const defaultConnectTimeout = 10 * time.Second

// destinationCluster names the cluster of a VirtualService destination and
// records it for building. Like istiod: the port defaults to the service's only
// port, else to the listener port; a missing service still yields a name.
func (b *builder) destinationCluster(d model.Destination, vsNamespace string, listenPort uint32) string {
	name, _ := b.destinationClusterRef(d, vsNamespace, listenPort)
	return name
}

// destinationClusterRef is destinationCluster, with the reference recorded.
func (b *builder) destinationClusterRef(d model.Destination, vsNamespace string, listenPort uint32) (string, clusterRef) {
	host := resolveShortName(d.Host, vsNamespace, b.ix.opts.DomainSuffix)
	svc := b.ix.service(host, b.proxy.Namespace)
	port := d.Port
	if port == 0 {
		if svc != nil && len(svc.Ports) == 1 {
			port = svc.Ports[0].Port
		} else {
			port = listenPort
		}
	}
	name := clusterName(port, d.Subset, host)
	ref := clusterRef{Host: host, Port: port, Subset: d.Subset}
	if b.newRefs != nil {
		*b.newRefs = append(*b.newRefs, namedRef{name, ref})
	} else {
		b.clusterRefs[name] = ref
	}
	if b.routeRefs != nil {
		b.routeRefs = append(b.routeRefs, name)
	}
	return name, ref
}

// namedRef is a cluster reference a route worker found (builder.newRefs).
type namedRef struct {
	name string
	ref  clusterRef
}

// buildClusters builds every referenced cluster whose service and port exist.
//
// The clusters are built on every CPU, each worker a contiguous run of the
// sorted names with a builder of its own (the index, the proxy and the
// cluster references are only read); the workers' clusters, endpoints,
// errors, warnings and credentials are then taken in worker order, so the
// result is the one a single loop over the names gives.
func (b *builder) buildClusters() {
	names := model.SortedKeys(b.clusterRefs)
	workers := min(runtime.GOMAXPROCS(0), len(names)/minClustersPerWorker)
	if workers <= 1 {
		b.buildClusterRange(names)
		return
	}
	parts := make([]*builder, workers)
	var wg sync.WaitGroup
	for w := range parts {
		part := &builder{ix: b.ix, proxy: b.proxy, out: &Result{}, clusterRefs: b.clusterRefs,
			tcpClusters: b.tcpClusters, tlsHostsByPort: b.tlsHostsByPort, rds: b.rds, credentials: map[string]credential{}}
		parts[w] = part
		lo, hi := w*len(names)/workers, (w+1)*len(names)/workers
		wg.Go(func() { part.buildClusterRange(names[lo:hi]) })
	}
	wg.Wait()
	for _, part := range parts {
		b.out.Clusters = append(b.out.Clusters, part.out.Clusters...)
		b.out.Endpoints = append(b.out.Endpoints, part.out.Endpoints...)
		b.out.Errors = append(b.out.Errors, part.out.Errors...)
		b.out.Warnings = append(b.out.Warnings, part.out.Warnings...)
		b.droppedRemote += part.droppedRemote
		for sds, c := range part.credentials { // the first reference wins, as in recordCredential
			if _, ok := b.credentials[sds]; !ok {
				b.credentials[sds] = c
			}
		}
	}
}

// minClustersPerWorker: below this many clusters per CPU, buildClusters
// stays on one goroutine.
var minClustersPerWorker = 256 // a variable for tests

// buildClusterRange builds the clusters (and their endpoints) of names.
func (b *builder) buildClusterRange(names []string) {
	for _, name := range names {
		ref := b.clusterRefs[name]
		svc := b.ix.service(ref.Host, b.proxy.Namespace)
		if svc == nil {
			if hidden := b.ix.services[ref.Host]; hidden != nil {
				kind := model.KindService
				if hidden.Entry != nil {
					kind = model.KindServiceEntry
				}
				b.warnf("cluster %s: %s %s/%s (host %s) is not exported to namespace %s; routes to it fail",
					name, kind, hidden.Namespace, hidden.Name, ref.Host, b.proxy.Namespace)
				continue
			}
			b.warnf("cluster %s: no service %s in the registry; routes to it fail until it exists", name, ref.Host)
			continue
		}
		sp, ok := svc.port(ref.Port)
		if !ok {
			b.warnf("cluster %s: service %s has no port %d", name, ref.Host, ref.Port)
			continue
		}
		dr := b.ix.destinationRule(ref.Host, b.proxy.Namespace, svc.Namespace, b.proxy.Labels)
		var subset *model.Subset
		if ref.Subset != "" {
			subset = findSubset(dr, ref.Subset)
			if subset == nil {
				b.warnf("cluster %s: no subset %q defined for %s", name, ref.Subset, ref.Host)
				continue
			}
		}
		policy := effectivePolicy(dr, subset, ref.Port)
		c := b.cluster(name, svc, sp, ref, policy)
		b.out.Clusters = append(b.out.Clusters, c)
		if c.GetType() == clusterv3.Cluster_EDS {
			b.out.Endpoints = append(b.out.Endpoints, b.loadAssignment(name, svc, sp, subset, endpointTLSMode(dr, ref.Subset, ref.Port), policy, ref.SNIDNAT))
		}
	}
}

func findSubset(dr *model.DestinationRule, name string) *model.Subset {
	if dr == nil {
		return nil
	}
	for i := range dr.Subsets {
		if dr.Subsets[i].Name == name {
			return &dr.Subsets[i]
		}
	}
	return nil
}

// policy is a DestinationRule traffic policy flattened for one port and subset.
type policy struct {
	LB       *model.LoadBalancer
	Pool     *model.ConnectionPool
	Outlier  *model.OutlierDetection
	TLS      *model.ClientTLS
	hasRules bool
}

// level is what one level of a DestinationRule (top or subset) sets for port:
// its matching port-level settings replace the level's own fields entirely
// (istiod's GetPortLevelTrafficPolicy: "port level policies do not inherit"),
// portLevel says so.
func level(tp *model.TrafficPolicy, port uint32) (p policy, portLevel bool) {
	if tp == nil {
		return policy{}, false
	}
	for _, pl := range tp.PortLevelSettings {
		if pl.Port == port {
			return policy{LB: pl.LoadBalancer, Pool: pl.ConnectionPool, Outlier: pl.OutlierDetection, TLS: pl.TLS, hasRules: true}, true
		}
	}
	return policy{LB: tp.LoadBalancer, Pool: tp.ConnectionPool, Outlier: tp.OutlierDetection, TLS: tp.TLS, hasRules: true}, false
}

// effectivePolicy is istiod's MergeSubsetTrafficPolicy: the top level for the
// port, then the subset's fields over it; a subset's port-level settings
// replace all four fields, set or not.
func effectivePolicy(dr *model.DestinationRule, subset *model.Subset, port uint32) policy {
	var p policy
	if dr != nil {
		p, _ = level(dr.TrafficPolicy, port)
	}
	if subset == nil || subset.TrafficPolicy == nil {
		return p
	}
	s, portLevel := level(subset.TrafficPolicy, port)
	if s.LB != nil || portLevel {
		p.LB = s.LB
	}
	if s.Pool != nil || portLevel {
		p.Pool = s.Pool
	}
	if s.Outlier != nil || portLevel {
		p.Outlier = s.Outlier
	}
	if s.TLS != nil || portLevel {
		p.TLS = s.TLS
	}
	p.hasRules = true
	return p
}

func (b *builder) cluster(name string, svc *service, sp model.ServicePort, ref clusterRef, pol policy) *clusterv3.Cluster {
	m := &clusterMsgs{} // the messages every cluster has, allocated together
	c := &m.c
	c.Name, c.LbPolicy = name, clusterv3.Cluster_LEAST_REQUEST
	m.timeout.Seconds, m.timeout.Nanos = int64(defaultConnectTimeout/time.Second), int32(defaultConnectTimeout%time.Second)
	c.ConnectTimeout = &m.timeout
	for i := range m.max {
		m.max[i].Value = math.MaxUint32
	}
	m.th.MaxConnections, m.th.MaxPendingRequests, m.th.MaxRequests, m.th.MaxRetries = &m.max[0], &m.max[1], &m.max[2], &m.max[3]
	m.ths[0] = &m.th
	m.cb.Thresholds = m.ths[:]
	c.CircuitBreakers = &m.cb
	m.lb.HealthyPanicThreshold = &m.panic
	c.CommonLbConfig = &m.lb
	b.setDiscovery(c, svc, sp)
	b.applyPolicy(c, pol)
	b.applyLocalityCluster(c, pol)
	hpo := &httpv3.HttpProtocolOptions{}
	if isH2(sp) {
		// istiod's setUpstreamProtocol, before the traffic policy: HTTP/2 (and
		// gRPC) ports speak HTTP/2 upstream.
		hpo.UpstreamProtocolOptions = explicitH2()
	}
	applyPoolProtocolOptions(hpo, pol.Pool)
	// istiod's isHttp2Cluster: the TLS ALPN follows the final HTTP version.
	h2 := hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
	if ref.SNIDNAT {
		setProtocolOptions(c, hpo)
		return c // passthrough: the client's mTLS goes through untouched
	}
	switch {
	case pol.TLS != nil && pol.TLS.Mode != "" && pol.TLS.Mode != model.ClientTLSDisable:
		if ctx := b.upstreamTLS(pol.TLS, svc, sp, ref, h2); ctx != nil {
			c.TransportSocket = transportSocket(ctx)
		}
		if m := pol.TLS.Mode; m == model.ClientTLSSimple || m == model.ClientTLSMutual {
			autoSNI(hpo, pol.TLS)
			if b.proxy.istioFilters() {
				// istiod's AddALPNOverrideToMetadata: istio.alpn leaves the ALPN of user TLS alone.
				c.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
					"istio": {Fields: map[string]*structpb.Value{"alpn_override": structpb.NewStringValue("false")}},
				}}
			}
		}
	case pol.TLS != nil && pol.TLS.Mode == model.ClientTLSDisable:
	case !svc.external():
		c.TransportSocketMatches = b.autoMTLSMatches(svc, sp, ref, h2)
	}
	setProtocolOptions(c, hpo)
	return c
}

// clusterMsgs are the messages cluster gives every cluster: its connect
// timeout, circuit breakers (every limit at its maximum) and common load
// balancing config (panic threshold 0%).
type clusterMsgs struct {
	c       clusterv3.Cluster
	timeout durationpb.Duration
	cb      clusterv3.CircuitBreakers
	ths     [1]*clusterv3.CircuitBreakers_Thresholds
	th      clusterv3.CircuitBreakers_Thresholds
	max     [4]wrapperspb.UInt32Value
	lb      clusterv3.Cluster_CommonLbConfig
	panic   typev3.Percent
}

const httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// setProtocolOptions sets the cluster's HttpProtocolOptions when anything in
// them is set; like istiod, options without an HTTP version say HTTP/1.1.
func setProtocolOptions(c *clusterv3.Cluster, hpo *httpv3.HttpProtocolOptions) {
	size := proto.Size(hpo) // 0: nothing set (proto.Equal to the empty message, without its reflection)
	if size == 0 {
		return
	}
	if size == explicitH2Size && hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil {
		// the most common options (HTTP/2 ports), marshalled once
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsName: {TypeUrl: explicitH2Any.TypeUrl, Value: explicitH2Any.Value}}
		return
	}
	if hpo.UpstreamProtocolOptions == nil {
		hpo.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
			},
		}
	}
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsName: mustAny(hpo)}
}

// explicitH2Any is the marshalled HttpProtocolOptions that set only
// explicitH2, explicitH2Size its size: options of that size whose explicit
// HTTP config is HTTP/2 are these options (the HTTP/2 options are then
// empty and nothing else is set).
var (
	explicitH2Any  = mustAny(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: explicitH2()})
	explicitH2Size = proto.Size(&httpv3.HttpProtocolOptions{UpstreamProtocolOptions: explicitH2()})
)

func explicitH2() *httpv3.HttpProtocolOptions_ExplicitHttpConfig_ {
	return &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{
		ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		},
	}
}

// applyPoolProtocolOptions sets the HTTP protocol options of a connection
// pool over the port's (HTTP/2 for http2/grpc ports), in istiod's order:
// applyH2Upgrade (h2UpgradePolicy UPGRADE without
// useClientProtocol makes the upstream HTTP/2), then applyConnectionPool (idle
// timeout, HTTP's or else TCP's; requests per connection; connection
// duration; concurrent streams and HTTP/2 keepalive on an HTTP/2 cluster;
// useClientProtocol last, replacing the HTTP version, even an http2 port's).
func applyPoolProtocolOptions(hpo *httpv3.HttpProtocolOptions, pool *model.ConnectionPool) {
	if pool == nil {
		return
	}
	h, t := pool.HTTP, pool.TCP
	if h == nil {
		h = &model.HTTPPool{}
	}
	if t == nil {
		t = &model.TCPPool{}
	}
	if h.H2UpgradePolicy == "UPGRADE" && !h.UseClientProtocol && hpo.UpstreamProtocolOptions == nil {
		hpo.UpstreamProtocolOptions = explicitH2()
	}
	idle := h.IdleTimeout
	if idle == nil {
		idle = t.IdleTimeout
	}
	if idle != nil || h.MaxRequestsPerConnection > 0 || t.MaxConnectionDuration != nil || h.MaxConcurrentStreams > 0 || h.HTTP2KeepAlive != nil {
		common := &corev3.HttpProtocolOptions{}
		hpo.CommonHttpProtocolOptions = common
		if idle != nil {
			common.IdleTimeout = durationpb.New(*idle)
		}
		if h.MaxRequestsPerConnection > 0 {
			common.MaxRequestsPerConnection = wrapperspb.UInt32(uint32(h.MaxRequestsPerConnection))
		}
		if t.MaxConnectionDuration != nil {
			common.MaxConnectionDuration = durationpb.New(*t.MaxConnectionDuration)
		}
		if h2 := hpo.GetExplicitHttpConfig().GetHttp2ProtocolOptions(); h2 != nil {
			if h.MaxConcurrentStreams > 0 {
				h2.MaxConcurrentStreams = wrapperspb.UInt32(uint32(h.MaxConcurrentStreams))
			}
			if k := h.HTTP2KeepAlive; k != nil {
				h2.ConnectionKeepalive = &corev3.KeepaliveSettings{Interval: optDuration(k.Interval), Timeout: optDuration(k.Timeout)}
			}
		}
	}
	if h.UseClientProtocol {
		h1 := &corev3.Http1ProtocolOptions{}
		hpo.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{
			UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
				HttpProtocolOptions: h1, Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
			},
		}
	}
}

// optDuration is nil for nil.
func optDuration(d *time.Duration) *durationpb.Duration {
	if d == nil {
		return nil
	}
	return durationpb.New(*d)
}

// autoSNI is istiod's setAutoSniAndAutoSanValidation for SIMPLE and MUTUAL
// origination: without a configured SNI, Envoy sends the request's host as
// SNI (auto_sni) and, without configured SANs, checks the certificate against
// it (auto_san_validation), unless insecureSkipVerify turns verification off.
func autoSNI(hpo *httpv3.HttpProtocolOptions, t *model.ClientTLS) {
	if t.SNI != "" {
		return
	}
	hpo.UpstreamHttpProtocolOptions = &corev3.UpstreamHttpProtocolOptions{AutoSni: true,
		AutoSanValidation: len(t.SubjectAltNames) == 0 && !t.InsecureSkipVerify}
}

// rawBufferSocket is plaintext; shared by every cluster (never mutated).
var rawBufferSocket = &corev3.TransportSocket{Name: wellknown.TransportSocketRawBuffer,
	ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&rawbufferv3.RawBuffer{})}}

// autoMTLSMatches is Istio's auto mTLS: endpoints labelled tlsMode=istio get
// mesh mTLS with the SNI of the cluster, others plaintext. The mTLS context
// is encoded at once (appendMTLSContext) into messages allocated together;
// the plaintext match is shared.
func (b *builder) autoMTLSMatches(svc *service, sp model.ServicePort, ref clusterRef, h2 bool) []*clusterv3.Cluster_TransportSocketMatch {
	sni, alpn, sans := b.mtlsParams(nil, svc, ref, h2)
	m := &mtlsMatchMsgs{}
	m.any.TypeUrl, m.any.Value = upstreamTLSContextTypeURL, appendMTLSContext(nil, sni, alpn, sans, !b.proxy.istioFilters())
	m.tc.TypedConfig = &m.any
	m.ts.Name, m.ts.ConfigType = wellknown.TransportSocketTLS, &m.tc
	m.match.Name, m.match.Match, m.match.TransportSocket = "tlsMode-istio", tlsModeIstioMatch, &m.ts
	m.list = [2]*clusterv3.Cluster_TransportSocketMatch{&m.match, plaintextMatch}
	return m.list[:]
}

// mtlsMatchMsgs are the messages of autoMTLSMatches's mTLS match.
type mtlsMatchMsgs struct {
	list  [2]*clusterv3.Cluster_TransportSocketMatch
	match clusterv3.Cluster_TransportSocketMatch
	ts    corev3.TransportSocket
	tc    corev3.TransportSocket_TypedConfig
	any   anypb.Any
}

// tlsModeIstioMatch and emptyMatch are the matches of autoMTLSMatches,
// plaintextMatch its plaintext one: one message each shared by every
// cluster, never modified.
var (
	tlsModeIstioMatch = &structpb.Struct{Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue(model.TLSModeIstio)}}
	emptyMatch        = &structpb.Struct{}
	plaintextMatch    = &clusterv3.Cluster_TransportSocketMatch{Name: "tlsMode-disabled", Match: emptyMatch, TransportSocket: rawBufferSocket}
)

// istioMutualTLS originates mesh mTLS: SVID "default", roots "ROOTCA", SNI
// outbound_.<port>_.<subset>_.<host>, SANs of the service's identities; ALPN
// h2 too when the cluster speaks HTTP/2.
func (b *builder) istioMutualTLS(t *model.ClientTLS, svc *service, sp model.ServicePort, ref clusterRef, h2 bool) *tlsv3.UpstreamTlsContext {
	sni, alpn, sans := b.mtlsParams(t, svc, ref, h2)
	return mtlsContext(sni, alpn, sans, !b.proxy.istioFilters())
}

// mtlsParams are the SNI, ALPN and SANs of istioMutualTLS's context.
func (b *builder) mtlsParams(t *model.ClientTLS, svc *service, ref clusterRef, h2 bool) (sni string, alpn, sans []string) {
	alpn = upstreamMTLSALPNs
	if h2 {
		alpn = append(append([]string{}, upstreamMTLSALPNs...), "h2")
	}
	if !b.proxy.istioFilters() && !b.tcpClusters[clusterName(ref.Port, ref.Subset, ref.Host)] {
		alpn = meshALPN(h2)
	}
	sni = sniName(ref.Port, ref.Subset, ref.Host)
	if t != nil {
		if t.SNI != "" {
			sni = t.SNI
		}
		sans = t.SubjectAltNames
	}
	if len(sans) == 0 {
		sans = b.ix.serviceIdentities(svc)
	}
	return sni, alpn, sans
}

// mtlsContext is the mesh mTLS context with sni, alpn and SAN matchers of
// sans (typed: match_typed_subject_alt_names, the envoy flavour's).
func mtlsContext(sni string, alpn, sans []string, typed bool) *tlsv3.UpstreamTlsContext {
	vc := &tlsv3.CertificateValidationContext{}
	if ms := exactMatchers(sans); typed {
		for _, m := range ms {
			for _, t := range anySANType {
				vc.MatchTypedSubjectAltNames = append(vc.MatchTypedSubjectAltNames, &tlsv3.SubjectAltNameMatcher{SanType: t, Matcher: m})
			}
		}
	} else {
		setSANs(vc, ms)
	}
	return &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols:                  alpn,
			TlsParams:                      meshTLSParams,
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{defaultSDS},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         vc,
					ValidationContextSdsSecretConfig: rootCASDS,
				},
			},
		},
	}
}

const upstreamTLSContextTypeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"

// meshTLSParamsPB, defaultSDSPB and rootCASDSPB are the encodings of the
// constant parts of mtlsContext.
var (
	meshTLSParamsPB = mustMarshal(meshTLSParams)
	defaultSDSPB    = mustMarshal(defaultSDS)
	rootCASDSPB     = mustMarshal(rootCASDS)
)

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic("translate: proto.Marshal: " + err.Error())
	}
	return b
}

// appendMTLSContext appends to buf what proto.Marshal gives for
// mtlsContext(sni, alpn, sans, typed) (TestMTLSContextEncoding): each
// message's fields in the order of their numbers, the constant messages
// encoded once. Building the messages and marshalling them was a tenth
// of an ingress gateway's translation.
func appendMTLSContext(buf []byte, sni string, alpn, sans []string, typed bool) []byte {
	// field numbers
	const (
		upstreamCommon, upstreamSNI                             = 1, 2       // UpstreamTlsContext
		commonParams, commonALPN, commonCertSDS, commonCombined = 1, 4, 6, 8 // CommonTlsContext
		combinedDefault, combinedSDS                            = 1, 2       // CombinedCertificateValidationContext
		vcSANs, vcTypedSANs                                     = 9, 15      // CertificateValidationContext
		sanType, sanMatcher                                     = 1, 2       // SubjectAltNameMatcher
		matcherExact                                            = 1          // StringMatcher
	)
	sizeField := func(num protowire.Number, n int) int { return protowire.SizeTag(num) + protowire.SizeBytes(n) }
	sanSize := func(s string, t tlsv3.SubjectAltNameMatcher_SanType) int {
		n := sizeField(sanMatcher, sizeField(matcherExact, len(s)))
		if t != 0 {
			n += protowire.SizeTag(sanType) + protowire.SizeVarint(uint64(t))
		}
		return n
	}
	vc := 0
	for _, s := range sans {
		if !typed {
			vc += sizeField(vcSANs, sizeField(matcherExact, len(s)))
			continue
		}
		for _, t := range anySANType {
			vc += sizeField(vcTypedSANs, sanSize(s, t))
		}
	}
	combined := sizeField(combinedDefault, vc) + sizeField(combinedSDS, len(rootCASDSPB))
	common := sizeField(commonParams, len(meshTLSParamsPB))
	for _, a := range alpn {
		common += sizeField(commonALPN, len(a))
	}
	common += sizeField(commonCertSDS, len(defaultSDSPB)) + sizeField(commonCombined, combined)
	total := sizeField(upstreamCommon, common)
	if sni != "" {
		total += sizeField(upstreamSNI, len(sni))
	}
	buf = slices.Grow(buf, total)

	appendField := func(buf []byte, num protowire.Number, n int) []byte {
		return protowire.AppendVarint(protowire.AppendTag(buf, num, protowire.BytesType), uint64(n))
	}
	buf = appendField(buf, upstreamCommon, common)
	buf = append(appendField(buf, commonParams, len(meshTLSParamsPB)), meshTLSParamsPB...)
	for _, a := range alpn {
		buf = append(appendField(buf, commonALPN, len(a)), a...)
	}
	buf = append(appendField(buf, commonCertSDS, len(defaultSDSPB)), defaultSDSPB...)
	buf = appendField(buf, commonCombined, combined)
	buf = appendField(buf, combinedDefault, vc)
	for _, s := range sans {
		if !typed {
			buf = appendField(buf, vcSANs, sizeField(matcherExact, len(s)))
			buf = append(appendField(buf, matcherExact, len(s)), s...)
			continue
		}
		for _, t := range anySANType {
			buf = appendField(buf, vcTypedSANs, sanSize(s, t))
			if t != 0 {
				buf = protowire.AppendVarint(protowire.AppendTag(buf, sanType, protowire.VarintType), uint64(t))
			}
			buf = appendField(buf, sanMatcher, sizeField(matcherExact, len(s)))
			buf = append(appendField(buf, matcherExact, len(s)), s...)
		}
	}
	buf = append(appendField(buf, combinedSDS, len(rootCASDSPB)), rootCASDSPB...)
	if sni != "" {
		buf = append(appendField(buf, upstreamSNI, len(sni)), sni...)
	}
	return buf
}

// meshTLSParams, defaultSDS and rootCASDS are parts of istioMutualTLS's
// context shared by every cluster: the context is marshalled into the
// cluster's transport socket at once (transportSocket) and never modified.
var (
	meshTLSParams = &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3}
	defaultSDS    = sdsConfig(SecretDefault)
	rootCASDS     = sdsConfig(SecretRootCA)
)

// meshALPN is what istio.alpn would offer on mesh mTLS for a cluster that only
// HTTP routes use; the envoy flavour sets it on the cluster since upstream
// Envoy has no istio.alpn. Sidecars behind the gateway then see
// istio-http/1.1 or istio-h2 and treat the connection as HTTP.
func meshALPN(h2 bool) []string {
	if h2 {
		return slices.Clone(meshALPNH2)
	}
	return slices.Clone(meshALPNHTTP11)
}

// serviceIdentities are the SPIFFE IDs of the service's workloads (and a
// ServiceEntry's subjectAltNames), sorted.
func (ix *Index) serviceIdentities(svc *service) []string {
	var seen map[string]bool // made once out is long enough that a scan costs more
	var out []string
	for _, in := range svc.Instances {
		td := in.Cluster.TrustDomain
		if td == "" {
			td = ix.opts.TrustDomain
		}
		eps := in.Svc.Endpoints
		for i := range eps {
			sa := eps[i].ServiceAccount
			if sa == "" || (i > 0 && sa == eps[i-1].ServiceAccount) { // most endpoints repeat the one before
				continue
			}
			id := "spiffe://" + td + "/ns/" + in.Svc.Namespace + "/sa/" + sa
			switch {
			case seen != nil:
				if seen[id] {
					continue
				}
				seen[id] = true
			case slices.Contains(out, id):
				continue
			case len(out) == 8:
				seen = make(map[string]bool, 16)
				for _, x := range out {
					seen[x] = true
				}
				seen[id] = true
			}
			out = append(out, id)
		}
	}
	if svc.Entry != nil {
		out = append(out, svc.Entry.SubjectAltNames...)
	}
	sortStrings(out)
	return out
}

// isH2 reports a service port whose protocol is HTTP/2 (by appProtocol or name prefix).
func isH2(sp model.ServicePort) bool {
	p := strings.ToLower(sp.AppProtocol)
	if p == "" {
		p = strings.ToLower(sp.Name)
		if i := strings.IndexByte(p, '-'); i >= 0 {
			p = p[:i]
		}
	}
	switch p {
	case "http2", "grpc", "grpc-web", "h2c", "kubernetes.io/h2c":
		return true
	}
	return false
}
