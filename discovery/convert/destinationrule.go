package convert

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	networking "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/meshgate/meshgate/discovery/model"
)

// DestinationRule validates and converts an Istio DestinationRule.
func DestinationRule(d *networkingv1.DestinationRule) (model.DestinationRule, []error) {
	fe := newFieldErrs(model.KindDestinationRule, &d.ObjectMeta)
	validateDestinationRule(fe, d)
	if len(fe.list) > 0 {
		return model.DestinationRule{}, fe.list
	}
	s := &d.Spec
	out := model.DestinationRule{
		Meta:          meta(&d.ObjectMeta),
		Host:          s.GetHost(),
		TrafficPolicy: trafficPolicy(s.GetTrafficPolicy()),
		ExportTo:      cloneSlice(s.GetExportTo()),
	}
	if ws := s.GetWorkloadSelector(); ws != nil {
		out.WorkloadSelector = cloneMap(ws.GetMatchLabels())
		if out.WorkloadSelector == nil {
			out.WorkloadSelector = map[string]string{}
		}
	}
	for _, ss := range s.GetSubsets() {
		out.Subsets = append(out.Subsets, model.Subset{
			Name:          ss.GetName(),
			Labels:        cloneMap(ss.GetLabels()),
			TrafficPolicy: trafficPolicy(ss.GetTrafficPolicy()),
		})
	}
	return out, nil
}

func trafficPolicy(t *networking.TrafficPolicy) *model.TrafficPolicy {
	if t == nil {
		return nil
	}
	out := &model.TrafficPolicy{
		LoadBalancer:     loadBalancer(t.GetLoadBalancer()),
		ConnectionPool:   connectionPool(t.GetConnectionPool()),
		OutlierDetection: outlierDetection(t.GetOutlierDetection()),
		TLS:              clientTLS(t.GetTls()),
	}
	for _, p := range t.GetPortLevelSettings() {
		out.PortLevelSettings = append(out.PortLevelSettings, model.PortTrafficPolicy{
			Port:             p.GetPort().GetNumber(),
			LoadBalancer:     loadBalancer(p.GetLoadBalancer()),
			ConnectionPool:   connectionPool(p.GetConnectionPool()),
			OutlierDetection: outlierDetection(p.GetOutlierDetection()),
			TLS:              clientTLS(p.GetTls()),
		})
	}
	return out
}

func loadBalancer(lb *networking.LoadBalancerSettings) *model.LoadBalancer {
	if lb == nil {
		return nil
	}
	out := &model.LoadBalancer{}
	if l := lb.GetLocalityLbSetting(); l != nil {
		out.Locality = &model.LocalityLB{}
		if e := l.GetEnabled(); e != nil {
			v := e.GetValue()
			out.Locality.Enabled = &v
		}
		for _, d := range l.GetDistribute() {
			out.Locality.Distribute = append(out.Locality.Distribute, model.LocalityDistribute{From: d.GetFrom(), To: cloneMap(d.GetTo())})
		}
		for _, f := range l.GetFailover() {
			out.Locality.Failover = append(out.Locality.Failover, model.LocalityFailover{From: f.GetFrom(), To: f.GetTo()})
		}
		out.Locality.FailoverPriority = cloneSlice(l.GetFailoverPriority())
	}
	switch p := lb.GetLbPolicy().(type) {
	case *networking.LoadBalancerSettings_Simple:
		out.Simple = p.Simple.String()
		if p.Simple == networking.LoadBalancerSettings_LEAST_CONN { //nolint:staticcheck // deprecated alias
			out.Simple = networking.LoadBalancerSettings_LEAST_REQUEST.String()
		}
	case *networking.LoadBalancerSettings_ConsistentHash:
		ch := p.ConsistentHash
		out.ConsistentHash = &model.ConsistentHash{
			HTTPHeaderName:         ch.GetHttpHeaderName(),
			UseSourceIP:            ch.GetUseSourceIp(),
			HTTPQueryParameterName: ch.GetHttpQueryParameterName(),
			MinimumRingSize:        ch.GetMinimumRingSize(), //nolint:staticcheck // deprecated, still honoured
		}
		if c := ch.GetHttpCookie(); c != nil {
			out.ConsistentHash.HTTPCookieName = c.GetName()
			out.ConsistentHash.HTTPCookiePath = c.GetPath()
			out.ConsistentHash.HTTPCookieTTL = duration(c.GetTtl())
		}
		if rh := ch.GetRingHash(); rh != nil {
			out.ConsistentHash.Algorithm = model.HashRing
			out.ConsistentHash.MinimumRingSize = rh.GetMinimumRingSize()
		}
		if m := ch.GetMaglev(); m != nil {
			out.ConsistentHash.Algorithm = model.HashMaglev
			out.ConsistentHash.MaglevTableSize = m.GetTableSize()
		}
	}
	return out
}

func connectionPool(c *networking.ConnectionPoolSettings) *model.ConnectionPool {
	if c == nil {
		return nil
	}
	out := &model.ConnectionPool{}
	if t := c.GetTcp(); t != nil {
		out.TCP = &model.TCPPool{
			MaxConnections: t.GetMaxConnections(), ConnectTimeout: duration(t.GetConnectTimeout()),
			MaxConnectionDuration: duration(t.GetMaxConnectionDuration()), IdleTimeout: duration(t.GetIdleTimeout()),
		}
		if k := t.GetTcpKeepalive(); k != nil {
			out.TCP.TCPKeepalive = &model.TCPKeepalive{Probes: k.GetProbes(), Time: duration(k.GetTime()), Interval: duration(k.GetInterval())}
		}
	}
	if h := c.GetHttp(); h != nil {
		out.HTTP = &model.HTTPPool{
			HTTP1MaxPendingRequests:  h.GetHttp1MaxPendingRequests(),
			HTTP2MaxRequests:         h.GetHttp2MaxRequests(),
			MaxRequestsPerConnection: h.GetMaxRequestsPerConnection(),
			MaxRetries:               h.GetMaxRetries(),
			IdleTimeout:              duration(h.GetIdleTimeout()),
			UseClientProtocol:        h.GetUseClientProtocol(),
			MaxConcurrentStreams:     h.GetMaxConcurrentStreams(),
		}
		if k := h.GetHttp2KeepAlive(); k != nil {
			out.HTTP.HTTP2KeepAlive = &model.HTTP2Keepalive{Interval: duration(k.GetInterval()), Timeout: duration(k.GetTimeout())}
		}
		if h.GetH2UpgradePolicy() != networking.ConnectionPoolSettings_HTTPSettings_DEFAULT {
			out.HTTP.H2UpgradePolicy = h.GetH2UpgradePolicy().String()
		}
	}
	return out
}

func outlierDetection(o *networking.OutlierDetection) *model.OutlierDetection {
	if o == nil {
		return nil
	}
	return &model.OutlierDetection{
		Consecutive5xxErrors:     uint32Ptr(o.GetConsecutive_5XxErrors()),
		ConsecutiveGatewayErrors: uint32Ptr(o.GetConsecutiveGatewayErrors()),
		Interval:                 duration(o.GetInterval()),
		BaseEjectionTime:         duration(o.GetBaseEjectionTime()),
		MaxEjectionPercent:       o.GetMaxEjectionPercent(),
		MinHealthPercent:         o.GetMinHealthPercent(),
	}
}

func clientTLS(t *networking.ClientTLSSettings) *model.ClientTLS {
	if t == nil {
		return nil
	}
	return &model.ClientTLS{
		Mode:               model.ClientTLSMode(t.GetMode().String()),
		ClientCertificate:  t.GetClientCertificate(),
		PrivateKey:         t.GetPrivateKey(),
		CACertificates:     t.GetCaCertificates(),
		CredentialName:     t.GetCredentialName(),
		SubjectAltNames:    cloneSlice(t.GetSubjectAltNames()),
		SNI:                t.GetSni(),
		InsecureSkipVerify: t.GetInsecureSkipVerify().GetValue(),
	}
}

func validateDestinationRule(fe *fieldErrs, d *networkingv1.DestinationRule) {
	s := &d.Spec
	switch {
	case s.Host == "":
		fe.add("spec.host", "host is required")
	case isIP(s.Host):
		fe.add("spec.host", "invalid host %q: a DestinationRule host must be a service name, not an IP", s.Host)
	default:
		fe.addErr("spec.host", validateWildcardDomain(s.Host))
	}
	validateTrafficPolicy(fe, "spec.trafficPolicy", s.TrafficPolicy)
	seen := map[string]int{}
	for i, ss := range s.Subsets {
		f := idx("spec.subsets", i)
		if ss == nil {
			fe.add(f, "subset may not be null")
			continue
		}
		if j, dup := seen[ss.Name]; dup && ss.Name != "" {
			fe.add(f+".name", "duplicate subset name %q (also spec.subsets[%d])", ss.Name, j)
		} else {
			seen[ss.Name] = i
		}
		fe.addErr(f+".name", validateSubsetName(ss.Name))
		validateLabels(fe, f+".labels", ss.Labels)
		validateTrafficPolicy(fe, f+".trafficPolicy", ss.TrafficPolicy)
	}
	validateExportTo(fe, "spec.exportTo", d.Namespace, s.ExportTo)
	if ws := s.GetWorkloadSelector(); ws != nil {
		validateLabels(fe, "spec.workloadSelector.matchLabels", ws.GetMatchLabels())
	}
}

func validateTrafficPolicy(fe *fieldErrs, f string, t *networking.TrafficPolicy) {
	if t == nil {
		return
	}
	if t.OutlierDetection == nil && t.ConnectionPool == nil && t.LoadBalancer == nil && t.Tls == nil &&
		t.PortLevelSettings == nil && t.Tunnel == nil && t.ProxyProtocol == nil && t.RetryBudget == nil {
		fe.add(f, "a traffic policy must have at least one field")
		return
	}
	validatePolicyParts(fe, f, t.LoadBalancer, t.ConnectionPool, t.OutlierDetection, t.Tls)
	// not translated by meshgate: refused rather than dropped
	for _, u := range []struct {
		set   bool
		field string
	}{{t.Tunnel != nil, "tunnel"}, {t.ProxyProtocol != nil, "proxyProtocol"}, {t.RetryBudget != nil, "retryBudget"}} {
		if u.set {
			fe.add(f+"."+u.field, "%s is not supported by meshgate", u.field)
		}
	}
	for i, p := range t.PortLevelSettings {
		pf := idx(f+".portLevelSettings", i)
		if p == nil {
			fe.add(pf, "port traffic policy may not be null")
			continue
		}
		if p.Port == nil {
			fe.add(pf+".port", "port is required")
		} else {
			fe.addErr(pf+".port.number", validatePort(p.Port.GetNumber()))
		}
		if p.LoadBalancer == nil && p.ConnectionPool == nil && p.OutlierDetection == nil && p.Tls == nil {
			fe.add(pf, "a port traffic policy must have at least one field")
			continue
		}
		validatePolicyParts(fe, pf, p.LoadBalancer, p.ConnectionPool, p.OutlierDetection, p.Tls)
	}
}

func validatePolicyParts(fe *fieldErrs, f string, lb *networking.LoadBalancerSettings, cp *networking.ConnectionPoolSettings,
	od *networking.OutlierDetection, tls *networking.ClientTLSSettings,
) {
	for _, u := range []struct {
		set   bool
		field string
	}{
		{lb.GetZoneAwareLbSetting() != nil, "loadBalancer.zoneAwareLbSetting"},
		{lb.GetWarmup() != nil, "loadBalancer.warmup"},
		{lb.GetWarmupDurationSecs() != nil, "loadBalancer.warmupDurationSecs"},
		{od.GetSplitExternalLocalOriginErrors(), "outlierDetection.splitExternalLocalOriginErrors"},
		{od.GetConsecutiveLocalOriginFailures() != nil, "outlierDetection.consecutiveLocalOriginFailures"},
		{tls.GetCaCrl() != "", "tls.caCrl"},
		{tls.GetCaCertCredentialName() != "", "tls.caCertCredentialName"},
	} {
		if u.set {
			fe.add(f+"."+u.field, "%s is not supported by meshgate", u.field[strings.LastIndex(u.field, ".")+1:])
		}
	}
	validateLocalityLB(fe, f+".loadBalancer.localityLbSetting", lb.GetLocalityLbSetting())
	if ch := lb.GetConsistentHash(); ch != nil {
		if c := ch.GetHttpCookie(); c != nil && c.Name == "" {
			fe.add(f+".loadBalancer.consistentHash.httpCookie.name", "a cookie name is required")
		}
		fe.addErr(f+".loadBalancer.consistentHash.httpCookie.ttl", validateNonNegative(ch.GetHttpCookie().GetTtl()))
		//nolint:staticcheck // deprecated field still accepted by Istio
		if ch.MinimumRingSize != 0 && ch.GetHashAlgorithm() != nil {
			fe.add(f+".loadBalancer.consistentHash", "only one of minimumRingSize and maglev/ringHash may be set")
		}
		if m := ch.GetMaglev(); m != nil && !maglevTableSize(m.TableSize) {
			fe.add(f+".loadBalancer.consistentHash.maglev.tableSize", "tableSize %d must be a prime number below 5000011", m.TableSize)
		}
	}
	if cp != nil {
		if cp.Http == nil && cp.Tcp == nil {
			fe.add(f+".connectionPool", "a connection pool must have at least one field")
		}
		for _, c := range []struct {
			v     int32
			field string
		}{
			{cp.GetHttp().GetHttp1MaxPendingRequests(), "http.http1MaxPendingRequests"},
			{cp.GetHttp().GetHttp2MaxRequests(), "http.http2MaxRequests"},
			{cp.GetHttp().GetMaxRequestsPerConnection(), "http.maxRequestsPerConnection"},
			{cp.GetHttp().GetMaxRetries(), "http.maxRetries"},
			{cp.GetTcp().GetMaxConnections(), "tcp.maxConnections"},
			{cp.GetHttp().GetMaxConcurrentStreams(), "http.maxConcurrentStreams"},
		} {
			if c.v < 0 {
				fe.add(f+".connectionPool."+c.field, "must not be negative")
			}
		}
		fe.addErr(f+".connectionPool.http.idleTimeout", validateDuration(cp.GetHttp().GetIdleTimeout()))
		fe.addErr(f+".connectionPool.tcp.connectTimeout", validateDuration(cp.GetTcp().GetConnectTimeout()))
		fe.addErr(f+".connectionPool.tcp.maxConnectionDuration", validateDuration(cp.GetTcp().GetMaxConnectionDuration()))
		if d := cp.GetTcp().GetIdleTimeout(); d.AsDuration() != 0 { // 0s disables the timeout
			fe.addErr(f+".connectionPool.tcp.idleTimeout", validateDuration(d))
		}
		if h := cp.GetHttp(); h.GetUseClientProtocol() && h.GetH2UpgradePolicy() == networking.ConnectionPoolSettings_HTTPSettings_UPGRADE {
			fe.add(f+".connectionPool.http.useClientProtocol", "useClientProtocol must not be true when h2UpgradePolicy is UPGRADE")
		}
		if k := cp.GetHttp().GetHttp2KeepAlive(); k != nil {
			for _, d := range []struct {
				v    *durationpb.Duration
				name string
			}{{k.Interval, "interval"}, {k.Timeout, "timeout"}} {
				if d.v == nil {
					fe.add(f+".connectionPool.http.http2KeepAlive."+d.name, "%s is required", d.name)
				} else {
					fe.addErr(f+".connectionPool.http.http2KeepAlive."+d.name, validateDuration(d.v))
				}
			}
		}
		fe.addErr(f+".connectionPool.tcp.tcpKeepalive.time", validateDuration(cp.GetTcp().GetTcpKeepalive().GetTime()))
		fe.addErr(f+".connectionPool.tcp.tcpKeepalive.interval", validateDuration(cp.GetTcp().GetTcpKeepalive().GetInterval()))
	}
	if od != nil {
		fe.addErr(f+".outlierDetection.interval", validateDuration(od.Interval))
		fe.addErr(f+".outlierDetection.baseEjectionTime", validateDuration(od.BaseEjectionTime))
		if od.MaxEjectionPercent < 0 || od.MaxEjectionPercent > 100 {
			fe.add(f+".outlierDetection.maxEjectionPercent", "percentage %d is not in range 0..100", od.MaxEjectionPercent)
		}
		if od.MinHealthPercent < 0 || od.MinHealthPercent > 100 {
			fe.add(f+".outlierDetection.minHealthPercent", "percentage %d is not in range 0..100", od.MinHealthPercent)
		}
	}
	validateClientTLS(fe, f+".tls", tls)
}

func validateClientTLS(fe *fieldErrs, f string, t *networking.ClientTLSSettings) {
	if t == nil {
		return
	}
	simpleOrMutual := t.Mode == networking.ClientTLSSettings_SIMPLE || t.Mode == networking.ClientTLSSettings_MUTUAL
	if t.GetInsecureSkipVerify().GetValue() && simpleOrMutual {
		if t.CaCertificates != "" || len(t.SubjectAltNames) > 0 || (t.Mode == networking.ClientTLSSettings_SIMPLE && t.CredentialName != "") {
			fe.add(f+".insecureSkipVerify", "caCertificates, credentialName (SIMPLE) and subjectAltNames cannot be set with insecureSkipVerify")
		}
	}
	if simpleOrMutual && t.CredentialName != "" {
		if t.ClientCertificate != "" || t.CaCertificates != "" || t.PrivateKey != "" || t.CaCrl != "" {
			fe.add(f+".credentialName", "clientCertificate, privateKey, caCertificates and caCrl cannot be set with credentialName")
		}
		return
	}
	if t.Mode == networking.ClientTLSSettings_MUTUAL {
		if t.ClientCertificate == "" {
			fe.add(f+".clientCertificate", "MUTUAL TLS requires clientCertificate and privateKey, or credentialName")
		}
		if t.PrivateKey == "" {
			fe.add(f+".privateKey", "MUTUAL TLS requires clientCertificate and privateKey, or credentialName")
		}
	}
}

// maglevTableSize is Istio's rule for maglev.tableSize: a prime below 5000011
// (Envoy's limit).
func maglevTableSize(n uint64) bool {
	if n < 2 || n >= 5000011 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// validateLocalityLB is Istio's ValidateLocalityLbSetting.
func validateLocalityLB(fe *fieldErrs, f string, l *networking.LocalityLoadBalancerSetting) {
	if l == nil {
		return
	}
	if len(l.Distribute) > 0 && len(l.Failover) > 0 {
		fe.add(f, "distribute and failover cannot both be set")
		return
	}
	if len(l.Failover) > 0 {
		for i, p := range l.FailoverPriority {
			switch p {
			case LabelRegion, LabelZone, LabelSubzone:
				fe.add(idx(f+".failoverPriority", i), "topology label %q cannot be used with failover (failover already orders regions)", p)
				return
			}
		}
	}
	for i, d := range l.Distribute {
		df := idx(f+".distribute", i)
		var total uint32
		for loc, w := range d.To {
			if w < 1 || w > 100 {
				fe.add(df+".to["+loc+"]", "locality weight %d is not in range 1..100", w)
				return
			}
			total += w
			fe.addErr(df+".to["+loc+"]", validateLocality(loc))
		}
		if total != 100 {
			fe.add(df+".to", "locality weights sum to %d, not 100", total)
		}
		fe.addErr(df+".from", validateLocality(d.From))
	}
	for i, fo := range l.Failover {
		ff := idx(f+".failover", i)
		switch {
		case fo.From == fo.To:
			fe.add(ff, "failover must name two different regions")
		case strings.Contains(fo.From, "/") || strings.Contains(fo.To, "/"):
			fe.add(ff, "failover names regions only (no zone)")
		case strings.Contains(fo.From, "*") || strings.Contains(fo.To, "*"):
			fe.add(ff, "failover regions cannot contain the wildcard *")
		}
	}
}

// validateLocality is Istio's validateLocalities for one "region/zone/subzone"
// pattern: "*" only as a whole last part.
func validateLocality(l string) error {
	parts := strings.Split(l, "/")
	if len(parts) > 3 {
		return fmt.Errorf("locality %q has more than region/zone/subzone", l)
	}
	for i, p := range parts {
		if p == "" || strings.Contains(p, "*") && (p != "*" || i != len(parts)-1) {
			return fmt.Errorf("locality %q: %q is not a name or a final *", l, p)
		}
	}
	return nil
}
