package translate

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshgate/meshgate/discovery/model"
)

// Locality load balancing, as istiod applies it (networking/core/loadbalancer):
// the DestinationRule's localityLbSetting, else the mesh default (enabled,
// no rules). With `distribute`, the locality groups get the weights of the
// first rule whose `from` matches the proxy's locality, and groups no `to`
// names lose their endpoints. Otherwise, when the cluster has outlier
// detection (without it Envoy never fails over), each group gets a priority
// by how much of the proxy's locality it shares (region, zone, subzone), a
// region other than the one `failover` names for the proxy's region last.
// `failoverPriority` (also with outlier detection only) first splits each
// locality group by how many of the listed labels, in order, an endpoint
// shares with the proxy (applyFailoverPriorities); `failover` rules, when
// also given, then order regions within each of those priorities.

// localityLB returns the locality setting in force for a cluster, nil when
// disabled.
func localityLB(pol policy) *model.LocalityLB {
	l := &model.LocalityLB{} // MeshConfig.localityLbSetting default: enabled
	if pol.LB != nil && pol.LB.Locality != nil {
		l = pol.LB.Locality
	}
	if l.Enabled != nil && !*l.Enabled {
		return nil
	}
	return l
}

// applyLocalityCluster is istiod's LocalityLBSettings.ApplyToCluster for the
// cluster itself: locality-weighted load balancing when weights or failover
// rules are in force, and the rules on a load assignment inside the cluster
// (DNS clusters).
func (b *builder) applyLocalityCluster(c *clusterv3.Cluster, pol policy) {
	l := localityLB(pol)
	if l == nil {
		return
	}
	if c.OutlierDetection != nil && (len(l.Failover) > 0 || len(l.FailoverPriority) > 0) || len(l.Distribute) > 0 {
		c.CommonLbConfig.LocalityConfigSpecifier = &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
			LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
		}
	}
	if c.LoadAssignment != nil {
		// istiod pairs a DNS cluster's endpoints with its first locality
		// only; failoverPriority is not applied to DNS clusters here
		b.applyLocalityLB(c.LoadAssignment, pol, nil)
	}
}

// applyLocalityLB is istiod's ApplyLocalityLoadBalancer on a load assignment;
// topos are the topologies of la's endpoints (per locality group, in order),
// for failoverPriority.
// usesTopology reports whether applyLocalityLB reads the endpoints'
// topology for pol (failoverPriority); loadAssignment collects it only then.
func usesTopology(pol policy) bool {
	l := localityLB(pol)
	return l != nil && len(l.Distribute) == 0 && pol.Outlier != nil && len(l.FailoverPriority) > 0
}

func (b *builder) applyLocalityLB(la *endpointv3.ClusterLoadAssignment, pol policy, topos [][]epTopology) {
	l := localityLB(pol)
	if l == nil {
		return
	}
	proxy := &corev3.Locality{Region: b.proxy.Locality.Region, Zone: b.proxy.Locality.Zone, SubZone: b.proxy.Locality.Subzone}
	switch {
	case len(l.Distribute) > 0:
		applyLocalityWeights(proxy, la, l.Distribute)
	case pol.Outlier != nil && len(l.FailoverPriority) > 0:
		applyFailoverPriorities(la, topos, b.proxyTopologyLabels(), l.FailoverPriority)
		if len(l.Failover) > 0 {
			applyLocalityFailover(proxy, la, l.Failover)
		}
	case pol.Outlier != nil:
		applyLocalityFailover(proxy, la, l.Failover)
	}
}

// proxyTopologyLabels are the proxy's labels with the topology labels istiod
// adds to them (setTopologyLabels): region, zone, subzone, cluster, and the
// network unless a label names one.
func (b *builder) proxyTopologyLabels() map[string]string {
	return epTopology{labels: b.proxy.Labels, cluster: b.proxy.ClusterID, locality: b.proxy.Locality, network: b.proxy.Network}.labelSet()
}

// applyFailoverPriorities is istiod's applyFailoverPriorities: each locality
// group is split by endpoint priority (applyFailoverPriorityPerLocality), in
// place of the group, and priorities are renumbered from 0 without gaps.
func applyFailoverPriorities(la *endpointv3.ClusterLoadAssignment, topos [][]epTopology, proxyLabels map[string]string, priorities []string) {
	if len(proxyLabels) == 0 || len(topos) == 0 {
		return
	}
	var out []*endpointv3.LocalityLbEndpoints
	for i, lle := range la.Endpoints {
		out = append(out, failoverPriorityPerLocality(lle, topos[i], proxyLabels, priorities)...)
	}
	byPriority := map[uint32][]int{}
	for i, lle := range out {
		byPriority[lle.Priority] = append(byPriority[lle.Priority], i)
	}
	for n, p := range slices.Sorted(maps.Keys(byPriority)) {
		for _, i := range byPriority[p] {
			out[i].Priority = uint32(n)
		}
	}
	la.Endpoints = out
}

// failoverPriorityPerLocality splits one locality group: an endpoint that
// differs from the proxy first at label j of the list gets priority len-j,
// one that agrees on all 0. A leading network label is istiod's exception:
// a different network does not stop the comparison but adds len to the
// priority. "label=value" compares with value instead of the proxy's label.
func failoverPriorityPerLocality(lle *endpointv3.LocalityLbEndpoints, topo []epTopology, proxyLabels map[string]string, priorities []string) []*endpointv3.LocalityLbEndpoints {
	lowest := len(priorities)
	includesNetwork := priorities[0] == model.LabelNetwork
	names := make([]string, len(priorities))
	override := map[string]string{}
	for i, p := range priorities {
		parts := strings.Split(p, "=")
		names[i] = parts[0]
		if len(parts) == 2 {
			override[parts[0]] = parts[1]
		}
	}
	byPriority := map[int][]int{}
	for i := range lle.LbEndpoints {
		labels := topo[i].labelSet()
		priority, adjust := 0, 0
		for j, name := range names {
			want, ok := override[name]
			if !ok {
				want = proxyLabels[name]
			}
			if want != labels[name] {
				if j == 0 && includesNetwork {
					adjust = lowest
					continue
				}
				priority = lowest - j
				break
			}
		}
		byPriority[priority+adjust] = append(byPriority[priority+adjust], i)
	}
	var out []*endpointv3.LocalityLbEndpoints
	for _, p := range slices.Sorted(maps.Keys(byPriority)) {
		part := &endpointv3.LocalityLbEndpoints{Locality: lle.Locality, Priority: uint32(p)}
		var weight uint32
		for _, i := range byPriority[p] {
			part.LbEndpoints = append(part.LbEndpoints, lle.LbEndpoints[i])
			weight += lle.LbEndpoints[i].GetLoadBalancingWeight().GetValue()
		}
		part.LoadBalancingWeight = wrapperspb.UInt32(weight)
		out = append(out, part)
	}
	return out
}

// localityMatch is istiod's LocalityMatch: a "region/zone/subzone" pattern,
// "*" or a missing part matching anything (the region must be given).
func localityMatch(l *corev3.Locality, pattern string) bool {
	parts := strings.SplitN(pattern, "/", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return (parts[0] == "*" || parts[0] == l.GetRegion()) &&
		(parts[1] == "*" || parts[1] == "" || parts[1] == l.GetZone()) &&
		(parts[2] == "*" || parts[2] == "" || parts[2] == l.GetSubZone())
}

func applyLocalityWeights(proxy *corev3.Locality, la *endpointv3.ClusterLoadAssignment, distribute []model.LocalityDistribute) {
	for _, d := range distribute {
		if !localityMatch(proxy, d.From) {
			continue
		}
		unmatched := map[int]bool{}
		for i := range la.Endpoints {
			unmatched[i] = true
		}
		// istiod walks the map in Go's random order; sorted here, which
		// agrees with it whenever the patterns do not overlap
		for _, to := range slices.Sorted(func(yield func(string) bool) {
			for k := range d.To {
				if !yield(k) {
					return
				}
			}
		}) {
			weight := d.To[to]
			orig := map[int]uint32{}
			var total uint32
			for i, e := range la.Endpoints {
				if unmatched[i] && localityMatch(e.Locality, to) {
					delete(unmatched, i)
					orig[i] = 1
					if e.LoadBalancingWeight != nil {
						orig[i] = e.LoadBalancingWeight.Value
					}
					total += orig[i]
				}
			}
			for i, w := range orig {
				if v := float64(w*weight) / float64(total); v > 0 {
					la.Endpoints[i].LoadBalancingWeight = wrapperspb.UInt32(uint32(math.Ceil(v)))
				}
			}
		}
		for i := range unmatched {
			la.Endpoints[i].LbEndpoints = nil
		}
		return
	}
}

func applyLocalityFailover(proxy *corev3.Locality, la *endpointv3.ClusterLoadAssignment, failover []model.LocalityFailover) {
	byPriority := map[int][]int{}
	for i, e := range la.Endpoints {
		p := lbPriority(proxy, e.Locality)
		if p == 3 {
			for _, f := range failover {
				if f.From == proxy.GetRegion() {
					if e.Locality == nil || e.Locality.Region != f.To {
						p = 4
					}
					break
				}
			}
		}
		p += int(e.Priority) * 5
		e.Priority = uint32(p)
		byPriority[p] = append(byPriority[p], i)
	}
	// priorities must run from 0 without gaps
	ps := make([]int, 0, len(byPriority))
	for p := range byPriority {
		ps = append(ps, p)
	}
	sort.Ints(ps)
	for n, p := range ps {
		for _, i := range byPriority[p] {
			la.Endpoints[i].Priority = uint32(n)
		}
	}
}

// lbPriority is istiod's LbPriority: 0 same subzone, 1 same zone, 2 same
// region, 3 elsewhere.
func lbPriority(proxy, ep *corev3.Locality) int {
	switch {
	case proxy.GetRegion() != ep.GetRegion():
		return 3
	case proxy.GetZone() != ep.GetZone():
		return 2
	case proxy.GetSubZone() != ep.GetSubZone():
		return 1
	}
	return 0
}
