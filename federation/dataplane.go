package federation

import (
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

// DataPlaneRecheck is how often a cluster held past its fail-static window
// (its daemon gone, its data plane still answering) is checked again.
const DataPlaneRecheck = time.Second

// holdForDataPlaneLocked reports whether a cluster whose fail-static window
// ended stays visible because Options.DataPlaneServing says its data plane
// still serves: the daemon is gone, its gateways are not (the fail-static
// promise: endpoints that still work are not withdrawn). Called with n.mu
// held.
func (n *Node) holdForDataPlaneLocked(st *model.ClusterState) bool {
	return n.opts.DataPlaneServing != nil && st != nil && n.opts.DataPlaneServing(st)
}
