package translate

import (
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	caresv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

// systemRootsFile is where Debian-style systems keep the public roots; SIMPLE
// origination without caCertificates validates against them.
const systemRootsFile = "/etc/ssl/certs/ca-certificates.crt"

// edsResolution reports a ServiceEntry resolution whose gateway cluster is
// EDS (STATIC, and NONE: see setDiscovery).
func edsResolution(r string) bool { return r != "DNS" && r != "DNS_ROUND_ROBIN" }

// dnsRefreshRate is MeshConfig.dnsRefreshRate's default.
const dnsRefreshRate = 60 * time.Second

// setDiscovery picks the cluster type: EDS for Kubernetes services and STATIC
// ServiceEntries; DNS resolution for DNS ServiceEntries, with the hosts (or the
// entry's endpoints) as the load assignment; EDS (no endpoints) for resolution NONE.
func (b *builder) setDiscovery(c *clusterv3.Cluster, svc *service, sp model.ServicePort) {
	eds := func() {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: edsConfig, ServiceName: c.Name}
	}
	se := svc.Entry
	if se == nil {
		eds()
		return
	}
	switch se.Resolution {
	case "DNS", "DNS_ROUND_ROBIN":
		t := clusterv3.Cluster_STRICT_DNS
		if se.Resolution == "DNS_ROUND_ROBIN" {
			t = clusterv3.Cluster_LOGICAL_DNS
		}
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: t}
		c.DnsLookupFamily = clusterv3.Cluster_V4_ONLY
		// istiod's DNS settings: the mesh's dnsRefreshRate (60s), record TTLs
		// respected, 100ms jitter, c-ares with at most 100 queries per UDP socket.
		c.DnsRefreshRate = durationpb.New(dnsRefreshRate)
		c.RespectDnsTtl = true
		c.DnsJitter = durationpb.New(100 * time.Millisecond)
		c.TypedDnsResolverConfig = &corev3.TypedExtensionConfig{
			Name:        "envoy.network.dns_resolver.cares",
			TypedConfig: mustAny(&caresv3.CaresDnsResolverConfig{UdpMaxQueries: wrapperspb.UInt32(100)}),
		}
		c.LoadAssignment = dnsLoadAssignment(c.Name, svc, sp)
	default: // STATIC, and NONE: a gateway has no original destination to
		// forward to, so istiod gives it an EDS cluster (empty for NONE).
		eds()
	}
}

// edsConfig is the EDS config source of every EDS cluster: shared, never
// modified.
var edsConfig = adsConfig()

// dnsLoadAssignment lists the hosts a DNS cluster resolves: the entry's
// endpoints (grouped by locality, as istiod does) or its hostname.
func dnsLoadAssignment(name string, svc *service, sp model.ServicePort) *endpointv3.ClusterLoadAssignment {
	se := svc.Entry
	la := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	byLocality := map[string]*endpointv3.LocalityLbEndpoints{}
	add := func(addr string, port uint32, loc string, weight uint32) {
		weight = max(weight, 1)
		lle := byLocality[loc]
		if lle == nil {
			lle = &endpointv3.LocalityLbEndpoints{Locality: localityOf(loc), LoadBalancingWeight: wrapperspb.UInt32(0)}
			byLocality[loc] = lle
			la.Endpoints = append(la.Endpoints, lle)
		}
		lle.LbEndpoints = append(lle.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier:      &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(addr, port)}},
			LoadBalancingWeight: wrapperspb.UInt32(weight),
		})
		lle.LoadBalancingWeight.Value += weight
	}
	port := sp.Port
	if sp.TargetPort != 0 {
		port = sp.TargetPort
	}
	if len(se.Endpoints) == 0 {
		add(svc.Hostname, port, "", 1)
		return la
	}
	for _, we := range se.Endpoints {
		p := port
		if v, ok := we.Ports[sp.Name]; ok {
			p = v
		}
		add(we.Address, p, we.Locality, we.Weight)
	}
	return la
}

func localityOf(s string) *corev3.Locality {
	l := &corev3.Locality{}
	parts := strings.SplitN(s, "/", 3)
	if len(parts) > 0 {
		l.Region = parts[0]
	}
	if len(parts) > 1 {
		l.Zone = parts[1]
	}
	if len(parts) > 2 {
		l.SubZone = parts[2]
	}
	return l
}

func socketAddress(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// applyPolicy applies load balancing, connection pool and outlier detection.
func (b *builder) applyPolicy(c *clusterv3.Cluster, p policy) {
	if lb := p.LB; lb != nil && c.LbPolicy != clusterv3.Cluster_CLUSTER_PROVIDED {
		switch lb.Simple {
		case "ROUND_ROBIN":
			c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
		case "RANDOM":
			c.LbPolicy = clusterv3.Cluster_RANDOM
		case "LEAST_REQUEST", "LEAST_CONN":
			c.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
		}
		if ch := lb.ConsistentHash; ch != nil {
			applyConsistentHash(c, ch)
		}
	}
	if pool := p.Pool; pool != nil {
		th := c.CircuitBreakers.Thresholds[0]
		if t := pool.TCP; t != nil {
			if t.MaxConnections > 0 {
				th.MaxConnections = wrapperspb.UInt32(uint32(t.MaxConnections))
			}
			if t.ConnectTimeout != nil {
				c.ConnectTimeout = durationpb.New(*t.ConnectTimeout)
			}
			if k := t.TCPKeepalive; k != nil {
				c.UpstreamConnectionOptions = &clusterv3.UpstreamConnectionOptions{TcpKeepalive: tcpKeepalive(k)}
			}
		}
		if h := pool.HTTP; h != nil {
			if h.HTTP1MaxPendingRequests > 0 {
				th.MaxPendingRequests = wrapperspb.UInt32(uint32(h.HTTP1MaxPendingRequests))
			}
			if h.HTTP2MaxRequests > 0 {
				th.MaxRequests = wrapperspb.UInt32(uint32(h.HTTP2MaxRequests))
			}
			if h.MaxRetries > 0 {
				th.MaxRetries = wrapperspb.UInt32(uint32(h.MaxRetries))
			}
		}
	}
	if o := p.Outlier; o != nil {
		od := &clusterv3.OutlierDetection{}
		if o.Consecutive5xxErrors != nil {
			od.Consecutive_5Xx = wrapperspb.UInt32(*o.Consecutive5xxErrors)
			od.EnforcingConsecutive_5Xx = wrapperspb.UInt32(100)
		}
		if o.ConsecutiveGatewayErrors != nil {
			od.ConsecutiveGatewayFailure = wrapperspb.UInt32(*o.ConsecutiveGatewayErrors)
			od.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100)
		}
		if o.Interval != nil {
			od.Interval = durationpb.New(*o.Interval)
		}
		if o.BaseEjectionTime != nil {
			od.BaseEjectionTime = durationpb.New(*o.BaseEjectionTime)
		}
		if o.MaxEjectionPercent > 0 {
			od.MaxEjectionPercent = wrapperspb.UInt32(uint32(o.MaxEjectionPercent))
		}
		if o.MinHealthPercent > 0 {
			c.CommonLbConfig.HealthyPanicThreshold.Value = float64(o.MinHealthPercent)
		}
		c.OutlierDetection = od
	}
}

// applyConsistentHash is istiod's ApplyRingHashLoadBalancer: maglev (table
// size if set), an explicit ringHash (minimum ring size if set), or the
// default ring with minimum size 1024 unless the deprecated minimumRingSize says otherwise.
func applyConsistentHash(c *clusterv3.Cluster, ch *model.ConsistentHash) {
	switch ch.Algorithm {
	case model.HashMaglev:
		c.LbPolicy = clusterv3.Cluster_MAGLEV
		if ch.MaglevTableSize != 0 {
			c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(ch.MaglevTableSize)}}
		}
	case model.HashRing:
		c.LbPolicy = clusterv3.Cluster_RING_HASH
		if ch.MinimumRingSize != 0 {
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(ch.MinimumRingSize)}}
		}
	default:
		c.LbPolicy = clusterv3.Cluster_RING_HASH
		n := ch.MinimumRingSize
		if n == 0 {
			n = 1024 // istiod's default minimum ring size
		}
		c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(n)}}
	}
}

// tcpKeepalive is istiod's setKeepAliveSettings: SO_KEEPALIVE with the set
// fields (whole seconds), the operating system's defaults for the rest.
func tcpKeepalive(k *model.TCPKeepalive) *corev3.TcpKeepalive {
	out := &corev3.TcpKeepalive{}
	if k.Probes > 0 {
		out.KeepaliveProbes = wrapperspb.UInt32(k.Probes)
	}
	if k.Time != nil {
		out.KeepaliveTime = wrapperspb.UInt32(uint32(*k.Time / time.Second))
	}
	if k.Interval != nil {
		out.KeepaliveInterval = wrapperspb.UInt32(uint32(*k.Interval / time.Second))
	}
	return out
}

// upstreamTLS builds TLS origination for a DestinationRule tls setting.
// An HTTP/2 cluster offers ALPN h2 only (istiod's buildUpstreamTLSContext).
func (b *builder) upstreamTLS(t *model.ClientTLS, svc *service, sp model.ServicePort, ref clusterRef, h2 bool) *tlsv3.UpstreamTlsContext {
	if t.Mode == model.ClientTLSIstioMutual {
		return b.istioMutualTLS(t, svc, sp, ref, h2)
	}
	ctx := &tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2, TlsMaximumProtocolVersion: tlsv3.TlsParameters_TLSv1_3},
	}}
	common := ctx.CommonTlsContext
	if h2 {
		common.AlpnProtocols = []string{"h2"}
	}
	vc := &tlsv3.CertificateValidationContext{}
	b.setSANs(vc, exactMatchers(t.SubjectAltNames))
	switch {
	case t.CredentialName != "":
		if t.Mode == model.ClientTLSMutual {
			common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsConfig(b.useClientCredential(t.CredentialName, false))}
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         vc,
				ValidationContextSdsSecretConfig: sdsConfig(b.useClientCredential(t.CredentialName, true)),
			},
		}
	default:
		if t.Mode == model.ClientTLSMutual {
			common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: fileSource(t.ClientCertificate), PrivateKey: fileSource(t.PrivateKey)}}
		}
		if !t.InsecureSkipVerify {
			ca := t.CACertificates
			if ca == "" {
				ca = systemRootsFile
			}
			vc.TrustedCa = fileSource(ca)
		}
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: vc}
	}
	return ctx
}
