package federation

import (
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// Synced is closed once this node holds the mesh as its peers know it, so
// that what a daemon serves after a (re)start is never a mesh missing the
// clusters it is about to learn: gateways that reconnect to a restarted
// daemon would otherwise be handed a configuration without the remote
// clusters' endpoints for the moment it takes to learn them, and fail calls.
//
// The node is synced when it has nothing to learn (no seed: no Config.Seeds,
// no Join, and Options.SeedSource returned none at the first attempt), or
// when it has joined at least one peer and holds a visible record of the
// cluster of every live member of another cluster (a member that has not
// published yet is waited for; one whose cluster was refused, not admitted,
// is not). Subscribers have been handed that remote
// set when Synced closes. After Config.SyncTimeout without that, the node
// gives up waiting (logged with the clusters still missing) and closes
// Synced anyway: the local cluster must not wait forever for an unreachable
// mesh. Synced never reopens.
func (n *Node) Synced() <-chan struct{} { return n.syncedCh }

// seedsKnown records whether the first join attempt found seeds.
type seedsKnown int8

const (
	seedsUnknown seedsKnown = iota // no join attempt yet
	seedsNone                      // nothing to join
	seedsSome
)

// noteSeeds records what a join attempt had to contact.
func (n *Node) noteSeeds(seeds []string) {
	n.mu.Lock()
	if len(seeds) > 0 {
		n.seedsKnown = seedsSome
	} else if n.seedsKnown == seedsUnknown {
		n.seedsKnown = seedsNone
	}
	n.mu.Unlock()
	kick(n.kickNotify)
}

// syncStateLocked reports whether the node is synced now (see Synced) and,
// if not, which clusters of live members it still lacks.
func (n *Node) syncStateLocked(now time.Time) (synced bool, missing []string) {
	if n.seedsKnown == seedsUnknown {
		return false, nil
	}
	joined := false
	for _, p := range n.peers {
		if p.name == n.name || p.state != memberlist.StateAlive {
			continue
		}
		joined = true
		if p.cluster == n.cfg.ClusterID || n.refused[p.cluster] != nil || slices.Contains(missing, p.cluster) {
			continue
		}
		if r := n.records[p.cluster]; r == nil {
			missing = append(missing, p.cluster)
		} else if vis, _ := n.visibleLocked(r, now); !vis {
			missing = append(missing, p.cluster)
		}
	}
	if !joined {
		return n.seedsKnown == seedsNone, nil
	}
	slices.Sort(missing)
	return len(missing) == 0, missing
}

// checkSynced closes Synced when synced is true or the sync deadline has
// passed; it returns how long until that deadline (0: closed already). The
// notify loop calls it after handing the remote set to the subscribers.
func (n *Node) checkSynced(now time.Time, synced bool, missing []string, remote int) time.Duration {
	select {
	case <-n.syncedCh:
		return 0
	default:
	}
	took := now.Sub(n.syncStart)
	switch {
	case synced:
		n.log.Info("federation synced: holding every live member's cluster", "after", took.Round(time.Millisecond), "remoteClusters", remote)
		n.met.syncSeconds.Set(took.Seconds())
	case !now.Before(n.syncStart.Add(n.cfg.SyncTimeout)):
		n.log.Warn("federation sync timed out; going on without what is missing", "after", took.Round(time.Millisecond),
			"missingClusters", missing, "joined", n.alive.Load() > 1, "timeout", n.cfg.SyncTimeout)
		n.met.syncSeconds.Set(took.Seconds())
	default:
		return max(n.syncStart.Add(n.cfg.SyncTimeout).Sub(now), time.Millisecond)
	}
	close(n.syncedCh)
	return 0
}
