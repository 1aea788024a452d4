package dataplane

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/xds/dataplane/lb"
)

const (
	defaultConnectTimeout           = 5 * time.Second // Envoy's default
	transportSocketMatchMetadataKey = "envoy.transport_socket_match"
)

type clusterKind int

const (
	kindStatic clusterKind = iota
	kindEDS
	kindDNS
)

// clusterConfig is a validated CDS Cluster.
type clusterConfig struct {
	name           string
	proto          *clusterv3.Cluster
	kind           clusterKind
	edsName        string       // EDS resource name (service_name, else the cluster name)
	static         *endpointSet // STATIC and DNS clusters
	connectTimeout time.Duration
	lb             lb.Config // Policy, LocalityWeighted, PanicThreshold, Outlier
	maxConnections uint32    // 0: unlimited
	transport      *upstreamTLS
	socketMatches  []socketMatch
}

type socketMatch struct {
	name  string
	match map[string]*structpb.Value
	tls   *upstreamTLS // nil: plain TCP
}

// endpointSet is a validated ClusterLoadAssignment.
type endpointSet struct {
	proto            *endpointv3.ClusterLoadAssignment
	eps              []endpointInfo
	localityWeighted bool // some locality has load_balancing_weight
}

type endpointInfo struct {
	lb.Endpoint
	tsMatch map[string]*structpb.Value // filter_metadata["envoy.transport_socket_match"]
}

func validateCluster(c *clusterv3.Cluster) (*clusterConfig, error) {
	if err := pgv(c); err != nil {
		return nil, err
	}
	if err := checkFields(c, "name", "alt_stat_name", "type", "eds_cluster_config", "connect_timeout",
		"per_connection_buffer_limit_bytes", "lb_policy", "load_assignment", "max_requests_per_connection",
		"circuit_breakers", "upstream_http_protocol_options", "common_http_protocol_options", "http_protocol_options",
		"http2_protocol_options", "typed_extension_protocol_options", "dns_refresh_rate", "dns_jitter",
		"dns_failure_refresh_rate", "respect_dns_ttl", "dns_lookup_family", "typed_dns_resolver_config", "wait_for_warm_on_init",
		"outlier_detection", "cleanup_interval", "round_robin_lb_config", "least_request_lb_config",
		"common_lb_config", "transport_socket", "transport_socket_matches", "metadata", "protocol_selection",
		"upstream_connection_options", "ignore_health_on_host_removal", "track_cluster_stats",
		"lrs_server", "track_timeout_budgets", "connection_pool_per_downstream_connection", "stats_matcher"); err != nil {
		return nil, err
	}
	cc := &clusterConfig{name: c.GetName(), proto: c}
	var err error
	if cc.connectTimeout, err = duration(c.GetConnectTimeout(), defaultConnectTimeout); err != nil {
		return nil, at("connect_timeout", err)
	}
	if err := cc.discovery(c); err != nil {
		return nil, err
	}
	if cc.lb, err = lbConfig(c); err != nil {
		return nil, err
	}
	for _, t := range c.GetCircuitBreakers().GetThresholds() {
		if t.GetPriority() == corev3.RoutingPriority_DEFAULT && t.GetMaxConnections() != nil {
			cc.maxConnections = t.GetMaxConnections().GetValue()
		}
	}
	if ts := c.GetTransportSocket(); ts != nil {
		if cc.transport, err = validateUpstreamTLS(ts); err != nil {
			return nil, at("transport_socket", err)
		}
	}
	for i, m := range c.GetTransportSocketMatches() {
		path := fmt.Sprintf("transport_socket_matches[%d] (%s)", i, m.GetName())
		if err := checkFields(m, "name", "match", "transport_socket"); err != nil {
			return nil, at(path, err)
		}
		sm := socketMatch{name: m.GetName(), match: m.GetMatch().GetFields()}
		if sm.tls, err = validateUpstreamTLS(m.GetTransportSocket()); err != nil {
			return nil, at(path+".transport_socket", err)
		}
		cc.socketMatches = append(cc.socketMatches, sm)
	}
	return cc, nil
}

// discovery checks the cluster type and its endpoint source.
func (cc *clusterConfig) discovery(c *clusterv3.Cluster) error {
	if c.GetClusterType() != nil {
		return fmt.Errorf("cluster_type %s: custom cluster types are not supported", c.GetClusterType().GetName())
	}
	var err error
	switch c.GetType() {
	case clusterv3.Cluster_EDS:
		cc.kind = kindEDS
		ec := c.GetEdsClusterConfig()
		if err := checkFields(ec, "eds_config", "service_name"); err != nil {
			return at("eds_cluster_config", err)
		}
		if err := checkADSConfigSource(ec.GetEdsConfig()); err != nil {
			return at("eds_cluster_config.eds_config", err)
		}
		cc.edsName = ec.GetServiceName()
		if cc.edsName == "" {
			cc.edsName = c.GetName()
		}
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
		cc.kind = kindStatic
		if c.GetType() != clusterv3.Cluster_STATIC {
			// Resolved by the system resolver at each connect.
			cc.kind = kindDNS
		}
		if c.GetLoadAssignment() == nil {
			return fmt.Errorf("load_assignment is required for a %s cluster", c.GetType())
		}
		if cc.static, err = validateLoadAssignment(c.GetLoadAssignment(), cc.kind != kindDNS); err != nil {
			return at("load_assignment", err)
		}
	default:
		return fmt.Errorf("type %s is not supported (EDS, STATIC, STRICT_DNS, LOGICAL_DNS are)", c.GetType())
	}
	return nil
}

// ConnectPolicy is how the gateway connects to the endpoints of cluster c:
// the lb.Config of its lb_policy, healthy panic threshold, locality
// weighting and outlier detection (Envoy's defaults when c sets none), and
// the timeout of each connect attempt (connect_timeout, Envoy's 5 s when
// unset). A client that stands for a proxy (the end-to-end tests' mesh
// client) uses it to pick, retry and eject endpoints as the gateway's
// tcp_proxy does (see Gateway.connectUpstream).
func ConnectPolicy(c *clusterv3.Cluster) (lb.Config, time.Duration, error) {
	timeout, err := duration(c.GetConnectTimeout(), defaultConnectTimeout)
	if err != nil {
		return lb.Config{}, 0, at("connect_timeout", err)
	}
	cfg, err := lbConfig(c)
	return cfg, timeout, err
}

// lbConfig maps lb_policy, common_lb_config and outlier_detection.
func lbConfig(c *clusterv3.Cluster) (lb.Config, error) {
	cfg := lb.Config{PanicThreshold: 50}
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		cfg.Policy = lb.RoundRobin
	case clusterv3.Cluster_LEAST_REQUEST:
		cfg.Policy = lb.LeastRequest
	case clusterv3.Cluster_RANDOM:
		cfg.Policy = lb.Random
	default:
		return cfg, fmt.Errorf("lb_policy %s is not supported (ROUND_ROBIN, LEAST_REQUEST, RANDOM are)", c.GetLbPolicy())
	}
	if err := checkFields(c.GetRoundRobinLbConfig(), "locality_lb_config"); err != nil {
		return cfg, at("round_robin_lb_config", err)
	}
	if err := checkFields(c.GetLeastRequestLbConfig(), "choice_count", "active_request_bias", "locality_lb_config"); err != nil {
		return cfg, at("least_request_lb_config", err)
	}
	cl := c.GetCommonLbConfig()
	if err := checkFields(cl, "healthy_panic_threshold", "locality_weighted_lb_config", "zone_aware_lb_config",
		"update_merge_window", "ignore_new_hosts_until_first_hc", "consistent_hashing_lb_config"); err != nil {
		return cfg, at("common_lb_config", err)
	}
	if p := cl.GetHealthyPanicThreshold(); p != nil {
		cfg.PanicThreshold = p.GetValue()
	}
	cfg.LocalityWeighted = cl.GetLocalityWeightedLbConfig() != nil
	var err error
	if cfg.Outlier, err = outlierConfig(c.GetOutlierDetection()); err != nil {
		return cfg, at("outlier_detection", err)
	}
	return cfg, nil
}

// outlierConfig maps Envoy's outlier detection to consecutive connect
// failures. Without outlier_detection Envoy's defaults apply (Envoy itself
// would not eject at all; the built-in gateway always does). A connect
// failure is a local-origin error: with split_external_local_origin_errors
// it counts toward consecutive_local_origin_failure, otherwise (Envoy maps it
// to a 503) toward consecutive_5xx and consecutive_gateway_failure.
// The success-rate and failure-percentage algorithms (success_rate_*,
// failure_percentage_*) run every interval over the connects of that
// interval; connect failures being local-origin errors, with
// split_external_local_origin_errors their local-origin enforcing fields
// apply (enforcing_local_origin_success_rate,
// enforcing_failure_percentage_local_origin).
func outlierConfig(od *clusterv3.OutlierDetection) (lb.OutlierConfig, error) {
	oc := lb.DefaultOutlierConfig()
	if od == nil {
		return oc, nil
	}
	if err := checkFields(od, "consecutive_5xx", "interval", "base_ejection_time", "max_ejection_percent",
		"enforcing_consecutive_5xx", "enforcing_success_rate", "success_rate_minimum_hosts",
		"success_rate_request_volume", "success_rate_stdev_factor", "consecutive_gateway_failure",
		"enforcing_consecutive_gateway_failure", "split_external_local_origin_errors",
		"consecutive_local_origin_failure", "enforcing_consecutive_local_origin_failure",
		"enforcing_local_origin_success_rate", "failure_percentage_threshold", "enforcing_failure_percentage",
		"enforcing_failure_percentage_local_origin", "failure_percentage_minimum_hosts",
		"failure_percentage_request_volume", "max_ejection_time", "max_ejection_time_jitter",
		"successful_active_health_check_uneject_host", "always_eject_one_host", "detect_degraded_hosts"); err != nil {
		return oc, err
	}
	u32 := func(v *wrapperspb.UInt32Value, def uint32) uint32 {
		if v == nil {
			return def
		}
		return v.GetValue()
	}
	type rule struct{ n, enforcing uint32 }
	var rules []rule
	if od.GetSplitExternalLocalOriginErrors() {
		rules = append(rules, rule{u32(od.GetConsecutiveLocalOriginFailure(), 5),
			u32(od.GetEnforcingConsecutiveLocalOriginFailure(), 100)})
	} else {
		rules = append(rules,
			rule{u32(od.GetConsecutive_5Xx(), 5),
				u32(od.GetEnforcingConsecutive_5Xx(), 100)},
			rule{u32(od.GetConsecutiveGatewayFailure(), 5),
				u32(od.GetEnforcingConsecutiveGatewayFailure(), 0)})
	}
	oc.Consecutive, oc.EnforcingPercent = 0, 0
	for _, r := range rules {
		if r.n == 0 || r.enforcing == 0 {
			continue
		}
		if oc.Consecutive == 0 || r.n < oc.Consecutive {
			oc.Consecutive, oc.EnforcingPercent = r.n, min(r.enforcing, 100)
		}
	}
	var err error
	if oc.Interval, err = duration(od.GetInterval(), oc.Interval); err != nil {
		return oc, at("interval", err)
	}
	if oc.BaseEjectionTime, err = duration(od.GetBaseEjectionTime(), oc.BaseEjectionTime); err != nil {
		return oc, at("base_ejection_time", err)
	}
	if oc.MaxEjectionTime, err = duration(od.GetMaxEjectionTime(), oc.MaxEjectionTime); err != nil {
		return oc, at("max_ejection_time", err)
	}
	if oc.MaxEjectionTimeJitter, err = duration(od.GetMaxEjectionTimeJitter(), 0); err != nil {
		return oc, at("max_ejection_time_jitter", err)
	}
	oc.MaxEjectionPercent = u32(od.GetMaxEjectionPercent(), oc.MaxEjectionPercent)
	oc.AlwaysEjectOne = od.GetAlwaysEjectOneHost().GetValue()
	sr, fp := &oc.SuccessRate, &oc.FailurePercent
	sr.MinimumHosts = u32(od.GetSuccessRateMinimumHosts(), sr.MinimumHosts)
	sr.RequestVolume = u32(od.GetSuccessRateRequestVolume(), sr.RequestVolume)
	sr.StdevFactor = u32(od.GetSuccessRateStdevFactor(), sr.StdevFactor)
	fp.Threshold = u32(od.GetFailurePercentageThreshold(), fp.Threshold)
	fp.MinimumHosts = u32(od.GetFailurePercentageMinimumHosts(), fp.MinimumHosts)
	fp.RequestVolume = u32(od.GetFailurePercentageRequestVolume(), fp.RequestVolume)
	if od.GetSplitExternalLocalOriginErrors() {
		sr.Enforcing = u32(od.GetEnforcingLocalOriginSuccessRate(), sr.Enforcing)
		fp.Enforcing = u32(od.GetEnforcingFailurePercentageLocalOrigin(), fp.Enforcing)
	} else {
		sr.Enforcing = u32(od.GetEnforcingSuccessRate(), sr.Enforcing)
		fp.Enforcing = u32(od.GetEnforcingFailurePercentage(), fp.Enforcing)
	}
	sr.Enforcing, fp.Enforcing = min(sr.Enforcing, 100), min(fp.Enforcing, 100)
	if fp.Threshold > 100 {
		return oc, at("failure_percentage_threshold", fmt.Errorf("%d is above 100", fp.Threshold))
	}
	return oc, nil
}

// validateLoadAssignment checks a ClusterLoadAssignment (EDS, or a static
// cluster's load_assignment). Endpoints that are UNHEALTHY, DRAINING or
// TIMEOUT are left out, as Envoy sends them no new connections.
func validateLoadAssignment(cla *endpointv3.ClusterLoadAssignment, needIP bool) (*endpointSet, error) {
	if err := pgv(cla); err != nil {
		return nil, err
	}
	if err := checkFields(cla, "cluster_name", "endpoints", "policy"); err != nil {
		return nil, err
	}
	if err := checkFields(cla.GetPolicy(), "overprovisioning_factor", "endpoint_stale_after", "weighted_priority_health"); err != nil {
		return nil, at("policy", err)
	}
	set := &endpointSet{proto: cla}
	for i, loc := range cla.GetEndpoints() {
		path := fmt.Sprintf("endpoints[%d]", i)
		if err := checkFields(loc, "locality", "metadata", "lb_endpoints", "load_balancing_weight", "priority", "proximity"); err != nil {
			return nil, at(path, err)
		}
		if loc.GetLoadBalancingWeight() != nil {
			set.localityWeighted = true
		}
		locKey := fmt.Sprintf("%d/%s/%s/%s", i, loc.GetLocality().GetRegion(), loc.GetLocality().GetZone(), loc.GetLocality().GetSubZone())
		for j, lep := range loc.GetLbEndpoints() {
			ep, skip, err := lbEndpoint(lep, needIP)
			if err != nil {
				return nil, at(fmt.Sprintf("%s.lb_endpoints[%d]", path, j), err)
			}
			if skip {
				continue
			}
			ep.Locality, ep.LocalityWeight, ep.Priority = locKey, loc.GetLoadBalancingWeight().GetValue(), loc.GetPriority()
			set.eps = append(set.eps, ep)
		}
	}
	return set, nil
}

func lbEndpoint(lep *endpointv3.LbEndpoint, needIP bool) (endpointInfo, bool, error) {
	var ep endpointInfo
	if err := checkFields(lep, "endpoint", "health_status", "metadata", "load_balancing_weight"); err != nil {
		return ep, false, err
	}
	if err := checkFields(lep.GetEndpoint(), "address", "health_check_config", "hostname", "additional_addresses"); err != nil {
		return ep, false, at("endpoint", err)
	}
	addr, err := socketAddress(lep.GetEndpoint().GetAddress(), needIP)
	if err != nil {
		return ep, false, at("endpoint", err)
	}
	switch lep.GetHealthStatus() {
	case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
		return ep, true, nil
	case corev3.HealthStatus_DEGRADED:
		ep.Degraded = true
	}
	ep.Address = addr
	ep.Weight = lep.GetLoadBalancingWeight().GetValue()
	ep.tsMatch = lep.GetMetadata().GetFilterMetadata()[transportSocketMatchMetadataKey].GetFields()
	return ep, false, nil
}

// transportFor returns the transport socket of an endpoint: the first
// transport_socket_matches entry whose match is a subset of the endpoint's
// "envoy.transport_socket_match" metadata, else the cluster's transport_socket.
func (cc *clusterConfig) transportFor(ep *endpointInfo) *upstreamTLS {
	for i := range cc.socketMatches {
		m := &cc.socketMatches[i]
		ok := true
		for k, v := range m.match {
			if got, has := ep.tsMatch[k]; !has || !proto.Equal(got, v) {
				ok = false
				break
			}
		}
		if ok {
			return m.tls
		}
	}
	return cc.transport
}

// sdsNames appends the SDS secret names the cluster references.
func (cc *clusterConfig) sdsNames(out map[string]bool) {
	if cc.transport != nil {
		cc.transport.common.sdsNames(out)
	}
	for _, m := range cc.socketMatches {
		if m.tls != nil {
			m.tls.common.sdsNames(out)
		}
	}
}
