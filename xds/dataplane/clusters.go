package dataplane

import (
	"fmt"
	"slices"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/meshgate/meshgate/xds/dataplane/lb"
)

// clusterState outlives cluster and endpoint updates: outlier state and the
// number of open upstream connections.
type clusterState struct {
	hosts  *lb.Hosts
	active atomic.Int64
	obs    *clusterObserver
}

// clusterRuntime is what new connections use: the config and a balancer over
// the current endpoints (nil until an EDS cluster got its endpoints).
type clusterRuntime struct {
	cfg *clusterConfig
	bal *lb.Balancer
	st  *clusterState
}

// applyClusters validates a whole CDS response and then replaces the
// clusters. New connections use the new clusters; established ones keep
// their upstream. Called on the ADS goroutine.
func (g *Gateway) applyClusters(cs []*clusterv3.Cluster) error {
	cfgs := map[string]*clusterConfig{}
	for _, c := range cs {
		cc, err := validateCluster(c)
		if err != nil {
			return &resourceError{c.GetName(), c, fmt.Errorf("cluster %q: %w", c.GetName(), err)}
		}
		if _, dup := cfgs[cc.name]; dup {
			return &resourceError{cc.name, c, fmt.Errorf("cluster %q: duplicate name in response", cc.name)}
		}
		cfgs[cc.name] = cc
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clusterCfgs = cfgs
	for name := range g.clusterStates {
		if cfgs[name] == nil {
			g.m.ejectedActive.DeleteLabelValues(name)
			delete(g.clusterStates, name)
		}
	}
	g.rebuildClustersLocked()
	// Endpoints of EDS names no longer used are dropped (unsubscribed).
	used := g.edsNamesLocked()
	for name := range g.endpoints {
		if !slices.Contains(used, name) {
			delete(g.endpoints, name)
		}
	}
	g.gotCDS = true
	g.markReady()
	return nil
}

// applyEndpoints validates a whole EDS response, then updates the
// endpoints of the names it carries (EDS is not a full-state type: names
// absent from the response keep their endpoints). Resources that were not
// requested are ignored.
func (g *Gateway) applyEndpoints(clas []*endpointv3.ClusterLoadAssignment) error {
	g.mu.Lock()
	wanted := g.edsNamesLocked()
	g.mu.Unlock()
	sets := map[string]*endpointSet{}
	for _, cla := range clas {
		name := cla.GetClusterName()
		set, err := validateLoadAssignment(cla, true)
		if err != nil {
			return &resourceError{name, cla, fmt.Errorf("cluster load assignment %q: %w", name, err)}
		}
		if _, dup := sets[name]; dup {
			return fmt.Errorf("cluster load assignment %q: duplicate name in response", name)
		}
		sets[name] = set
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, set := range sets {
		if slices.Contains(wanted, name) {
			g.endpoints[name] = set
		}
	}
	g.rebuildClustersLocked()
	return nil
}

// applySecrets validates a whole SDS response, then publishes a new secret
// set: the received secrets replace those of the same name; secrets no
// longer referenced are dropped.
func (g *Gateway) applySecrets(ss []*tlsv3.Secret, wanted []string) error {
	got := map[string]*secretEntry{}
	for _, s := range ss {
		e, err := validateSecret(s)
		if err != nil {
			return &resourceError{s.GetName(), s, fmt.Errorf("secret %q: %w", s.GetName(), err)}
		}
		if _, dup := got[s.GetName()]; dup {
			return fmt.Errorf("secret %q: duplicate name in response", s.GetName())
		}
		got[s.GetName()] = e
	}
	next := &secretSet{byName: map[string]*secretEntry{}}
	for name, e := range g.secrets.Load().byName {
		if slices.Contains(wanted, name) {
			next.byName[name] = e
		}
	}
	for name, e := range got {
		if slices.Contains(wanted, name) {
			next.byName[name] = e
		}
	}
	g.secrets.Store(next)
	return nil
}

// rebuildClustersLocked publishes new cluster runtimes. Called with g.mu held.
func (g *Gateway) rebuildClustersLocked() {
	next := make(map[string]*clusterRuntime, len(g.clusterCfgs))
	for name, cc := range g.clusterCfgs {
		st := g.clusterStates[name]
		if st == nil {
			st = &clusterState{hosts: lb.NewHosts(), obs: &clusterObserver{m: g.m, cluster: name, log: g.log.Info}}
			g.clusterStates[name] = st
		}
		set := cc.static
		if cc.kind == kindEDS {
			set = g.endpoints[cc.edsName]
		}
		cr := &clusterRuntime{cfg: cc, st: st}
		if set != nil {
			cfg := cc.lb
			cfg.LocalityWeighted = cfg.LocalityWeighted || set.localityWeighted
			cfg.Now, cfg.Observer = g.cfg.Now, st.obs
			eps := make([]lb.Endpoint, len(set.eps))
			for i := range set.eps {
				eps[i] = set.eps[i].Endpoint
				eps[i].Data = cc.transportFor(&set.eps[i])
			}
			cr.bal = lb.New(cfg, eps, st.hosts)
		}
		next[name] = cr
	}
	g.clusters.Store(&next)
}

// edsNamesLocked returns the sorted EDS names the clusters need.
func (g *Gateway) edsNamesLocked() []string {
	var out []string
	for _, cc := range g.clusterCfgs {
		if cc.kind == kindEDS && !slices.Contains(out, cc.edsName) {
			out = append(out, cc.edsName)
		}
	}
	slices.Sort(out)
	return out
}

// sdsNamesLocked returns the sorted SDS secret names listeners and clusters reference.
func (g *Gateway) sdsNamesLocked() []string {
	set := map[string]bool{}
	for _, lr := range g.listeners {
		cfg := lr.cfg.Load()
		for _, c := range append(slices.Clone(cfg.chains), cfg.def) {
			if c != nil && c.tls != nil {
				c.tls.common.sdsNames(set)
			}
		}
	}
	for _, cc := range g.clusterCfgs {
		cc.sdsNames(set)
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
