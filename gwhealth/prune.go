package gwhealth

import (
	"cmp"
	"slices"

	"github.com/meshgate/meshgate/discovery/model"
)

// Cut is a cluster's part of a network that no gateway reachable from here
// leads to: every gateway its endpoints would be sent to is down.
type Cut struct {
	Cluster  string   `json:"cluster"`
	Network  string   `json:"network"`
	Gateways []string `json:"gateways"` // the down gateways (Key)
	// Withdrawn counts the services whose endpoints behind the cut were
	// removed; Kept names the services kept whole because nothing reachable
	// would be left (fail-static).
	Withdrawn int      `json:"withdrawn"`
	Kept      []string `json:"kept,omitempty"`
}

// Targets are the gateways a daemon in localNetwork probes: every network
// gateway of another network in m (its gateways route there). An empty
// localNetwork matches every network (as in translate), so nothing is
// probed.
func Targets(m *model.MeshState, localNetwork string) []model.NetworkGateway {
	if m == nil || localNetwork == "" {
		return nil
	}
	var out []model.NetworkGateway
	for _, c := range m.Clusters {
		for _, g := range c.NetworkGateways {
			if g.Network != "" && g.Network != localNetwork {
				out = append(out, g)
			}
		}
	}
	return out
}

// Prune returns m as seen from localNetwork when the gateways for which
// down is true are down, and the cuts it made. It is pure and never
// changes m (changed clusters are copied).
//
//   - A down gateway whose cluster still has an up gateway in the same
//     network is dropped from NetworkGateways: translate splits its weight
//     over the others.
//   - When every gateway that a cluster's endpoints in a network would be
//     sent to (translate's choice: the cluster's own gateways in that
//     network, else every gateway of the network) is down, those endpoints
//     are cut: removed from each service that keeps at least one ready
//     endpoint reachable from here (local network, or behind an up
//     gateway). A service that would have none left is kept whole
//     (fail-static: a gateway unreachable from here may still come back,
//     and no endpoint at all helps no caller).
func Prune(m *model.MeshState, localNetwork string, down func(model.NetworkGateway) bool) (*model.MeshState, []Cut) {
	if m == nil || localNetwork == "" {
		return m, nil
	}
	byNetCluster := map[[2]string][]model.NetworkGateway{}
	byNet := map[string][]model.NetworkGateway{}
	anyDown := false
	for _, c := range m.Clusters {
		for _, g := range c.NetworkGateways {
			byNetCluster[[2]string{g.Network, g.Cluster}] = append(byNetCluster[[2]string{g.Network, g.Cluster}], g)
			byNet[g.Network] = append(byNet[g.Network], g)
			if g.Network != localNetwork && down(g) {
				anyDown = true
			}
		}
	}
	if !anyDown {
		return m, nil
	}
	gatewaysFor := func(network, cluster string) []model.NetworkGateway {
		if g := byNetCluster[[2]string{network, cluster}]; len(g) > 0 {
			return g
		}
		return byNet[network]
	}
	allDown := func(gws []model.NetworkGateway) bool {
		for _, g := range gws {
			if !down(g) {
				return false
			}
		}
		return len(gws) > 0
	}
	// cut[network, cluster] for the remote endpoint groups with no gateway up.
	cuts := map[[2]string]*Cut{}
	isCut := func(c *model.ClusterState, ep *model.Endpoint) *Cut {
		network := cmp.Or(ep.Network, c.Network)
		if network == "" || network == localNetwork {
			return nil
		}
		k := [2]string{network, c.ID}
		if cut, ok := cuts[k]; ok {
			return cut
		}
		var cut *Cut
		if gws := gatewaysFor(network, c.ID); allDown(gws) {
			cut = &Cut{Cluster: c.ID, Network: network}
			for _, g := range gws {
				cut.Gateways = append(cut.Gateways, Key(g))
			}
		}
		cuts[k] = cut
		return cut
	}
	// Per hostname: is a ready endpoint left outside the cuts?
	reachable := map[string]bool{}
	behindCut := map[string]bool{}
	for _, c := range m.Clusters {
		for i := range c.Services {
			s := &c.Services[i]
			for j := range s.Endpoints {
				ep := &s.Endpoints[j]
				if isCut(c, ep) != nil {
					behindCut[s.Hostname] = true
				} else if ep.Ready {
					reachable[s.Hostname] = true
				}
			}
		}
	}
	out := &model.MeshState{MeshID: m.MeshID, LocalCluster: m.LocalCluster, Clusters: slices.Clone(m.Clusters)}
	counted := map[*Cut]map[string]bool{}
	for ci, c := range out.Clusters {
		var cc *model.ClusterState
		own := func() *model.ClusterState {
			if cc == nil {
				cp := *c
				cp.Services = slices.Clone(c.Services)
				cc = &cp
			}
			return cc
		}
		for i := range c.Services {
			s := &c.Services[i]
			if !behindCut[s.Hostname] {
				continue
			}
			var kept []model.Endpoint
			removed := false
			for j := range s.Endpoints {
				ep := &s.Endpoints[j]
				cut := isCut(c, ep)
				if cut == nil {
					kept = append(kept, *ep)
					continue
				}
				if counted[cut] == nil {
					counted[cut] = map[string]bool{}
				}
				if !reachable[s.Hostname] {
					if !counted[cut][s.Hostname] {
						cut.Kept = append(cut.Kept, s.Hostname)
					}
					counted[cut][s.Hostname] = true
					kept = append(kept, *ep)
					continue
				}
				if !counted[cut][s.Hostname] {
					cut.Withdrawn++
				}
				counted[cut][s.Hostname] = true
				removed = true
			}
			if removed {
				own().Services[i].Endpoints = kept
			}
		}
		// Down gateways of a group that keeps an up one: drop them.
		var gws []model.NetworkGateway
		dropped := false
		for _, g := range c.NetworkGateways {
			if g.Network != localNetwork && down(g) && !allDown(byNetCluster[[2]string{g.Network, g.Cluster}]) {
				dropped = true
				continue
			}
			gws = append(gws, g)
		}
		if dropped {
			own().NetworkGateways = gws
		}
		if cc != nil {
			out.Clusters[ci] = cc
		}
	}
	var report []Cut
	for _, cut := range cuts {
		if cut != nil {
			report = append(report, *cut)
		}
	}
	slices.SortFunc(report, func(a, b Cut) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Network, b.Network))
	})
	return out, report
}
