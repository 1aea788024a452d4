package translate

import (
	"math"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
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
	host := resolveShortName(d.Host, vsNamespace, b.ix.opts.DomainSuffix)
	svc := b.ix.services[host]
	port := d.Port
	if port == 0 {
		if svc != nil && len(svc.Ports) == 1 {
			port = svc.Ports[0].Port
		} else {
			port = listenPort
		}
	}
	name := clusterName(port, d.Subset, host)
	b.clusterRefs[name] = clusterRef{Host: host, Port: port, Subset: d.Subset}
	return name
}

// buildClusters builds every referenced cluster whose service and port exist.
func (b *builder) buildClusters() {
	for _, name := range model.SortedKeys(b.clusterRefs) {
		ref := b.clusterRefs[name]
		svc := b.ix.services[ref.Host]
		if svc == nil {
			b.warnf("cluster %s: no service %s in the registry; routes to it fail until it exists", name, ref.Host)
			continue
		}
		sp, ok := svc.port(ref.Port)
		if !ok {
			b.warnf("cluster %s: service %s has no port %d", name, ref.Host, ref.Port)
			continue
		}
		dr := b.ix.destinationRule(ref.Host, b.proxy.Namespace, svc.Namespace)
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
			b.out.Endpoints = append(b.out.Endpoints, b.loadAssignment(name, svc, sp, subset, ref.SNIDNAT))
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

func (p *policy) apply(tp *model.TrafficPolicy, port uint32) {
	if tp == nil {
		return
	}
	p.hasRules = true
	if tp.LoadBalancer != nil {
		p.LB = tp.LoadBalancer
	}
	if tp.ConnectionPool != nil {
		p.Pool = tp.ConnectionPool
	}
	if tp.OutlierDetection != nil {
		p.Outlier = tp.OutlierDetection
	}
	if tp.TLS != nil {
		p.TLS = tp.TLS
	}
	for _, pl := range tp.PortLevelSettings {
		if pl.Port != port {
			continue
		}
		if pl.LoadBalancer != nil {
			p.LB = pl.LoadBalancer
		}
		if pl.ConnectionPool != nil {
			p.Pool = pl.ConnectionPool
		}
		if pl.OutlierDetection != nil {
			p.Outlier = pl.OutlierDetection
		}
		if pl.TLS != nil {
			p.TLS = pl.TLS
		}
	}
}

// effectivePolicy merges the top-level policy with the subset's, port-level
// settings applied at each level, as istiod's MergeTrafficPolicy does.
func effectivePolicy(dr *model.DestinationRule, subset *model.Subset, port uint32) policy {
	var p policy
	if dr != nil {
		p.apply(dr.TrafficPolicy, port)
	}
	if subset != nil {
		p.apply(subset.TrafficPolicy, port)
	}
	return p
}

func (b *builder) cluster(name string, svc *service, sp model.ServicePort, ref clusterRef, pol policy) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:           name,
		ConnectTimeout: durationpb.New(defaultConnectTimeout),
		LbPolicy:       clusterv3.Cluster_LEAST_REQUEST,
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			MaxConnections: wrapperspb.UInt32(math.MaxUint32), MaxPendingRequests: wrapperspb.UInt32(math.MaxUint32),
			MaxRequests: wrapperspb.UInt32(math.MaxUint32), MaxRetries: wrapperspb.UInt32(math.MaxUint32),
		}}},
		CommonLbConfig: &clusterv3.Cluster_CommonLbConfig{HealthyPanicThreshold: &typev3.Percent{}},
	}
	b.setDiscovery(c, svc, sp)
	b.applyPolicy(c, pol)
	if ref.SNIDNAT {
		return c // passthrough: the client's mTLS goes through untouched
	}
	switch {
	case pol.TLS != nil && pol.TLS.Mode != "" && pol.TLS.Mode != model.ClientTLSDisable:
		if ctx := b.upstreamTLS(pol.TLS, svc, sp, ref); ctx != nil {
			c.TransportSocket = transportSocket(ctx)
		}
	case pol.TLS != nil && pol.TLS.Mode == model.ClientTLSDisable:
	case !svc.external():
		c.TransportSocketMatches = b.autoMTLSMatches(svc, sp, ref)
	}
	return c
}

// rawBufferSocket is plaintext; shared by every cluster (never mutated).
var rawBufferSocket = &corev3.TransportSocket{Name: wellknown.TransportSocketRawBuffer,
	ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&rawbufferv3.RawBuffer{})}}

// autoMTLSMatches is Istio's auto mTLS: endpoints labelled tlsMode=istio get
// mesh mTLS with the SNI of the cluster, others plaintext.
func (b *builder) autoMTLSMatches(svc *service, sp model.ServicePort, ref clusterRef) []*clusterv3.Cluster_TransportSocketMatch {
	ctx := b.istioMutualTLS(nil, svc, sp, ref)
	return []*clusterv3.Cluster_TransportSocketMatch{
		{
			Name:            "tlsMode-istio",
			Match:           &structpb.Struct{Fields: map[string]*structpb.Value{"tlsMode": structpb.NewStringValue(model.TLSModeIstio)}},
			TransportSocket: transportSocket(ctx),
		},
		{Name: "tlsMode-disabled", Match: &structpb.Struct{}, TransportSocket: rawBufferSocket},
	}
}

// istioMutualTLS originates mesh mTLS: SVID "default", roots "ROOTCA", SNI
// outbound_.<port>_.<subset>_.<host>, SANs of the service's identities.
func (b *builder) istioMutualTLS(t *model.ClientTLS, svc *service, sp model.ServicePort, ref clusterRef) *tlsv3.UpstreamTlsContext {
	alpn := upstreamMTLSALPNs
	if isH2(sp) {
		alpn = append(append([]string{}, upstreamMTLSALPNs...), "h2")
	}
	sni := sniName(ref.Port, ref.Subset, ref.Host)
	var sans []string
	if t != nil {
		if t.SNI != "" {
			sni = t.SNI
		}
		sans = t.SubjectAltNames
	}
	if len(sans) == 0 {
		sans = b.serviceIdentities(svc)
	}
	vc := &tlsv3.CertificateValidationContext{}
	setSANs(vc, exactMatchers(sans))
	return &tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols:                  alpn,
			TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{sdsConfig(SecretDefault)},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         vc,
					ValidationContextSdsSecretConfig: sdsConfig(SecretRootCA),
				},
			},
		},
	}
}

// serviceIdentities are the SPIFFE IDs of the service's workloads (and a
// ServiceEntry's subjectAltNames), sorted.
func (b *builder) serviceIdentities(svc *service) []string {
	seen := map[string]bool{}
	var out []string
	for _, in := range svc.Instances {
		td := in.Cluster.TrustDomain
		if td == "" {
			td = b.ix.opts.TrustDomain
		}
		for _, ep := range in.Svc.Endpoints {
			if ep.ServiceAccount == "" {
				continue
			}
			id := "spiffe://" + td + "/ns/" + in.Svc.Namespace + "/sa/" + ep.ServiceAccount
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
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
