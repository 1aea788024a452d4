package gwhealth

import (
	"github.com/meshgate/meshgate/discovery/model"
)

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

// Mark returns m with Unreachable set to the gateways of other networks
// that down says are down (the translator leaves them out of each load
// assignment that has anything else: see model.MeshState.Unreachable), and
// that list. m itself is never changed; with nothing down it is returned
// as is.
func Mark(m *model.MeshState, localNetwork string, down func(model.NetworkGateway) bool) (*model.MeshState, []model.NetworkGateway) {
	var out []model.NetworkGateway
	for _, g := range Targets(m, localNetwork) {
		if down(g) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return m, nil
	}
	cp := *m
	cp.Unreachable = out
	return &cp, out
}
