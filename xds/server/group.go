package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshgate/meshgate/sni"
)

// group is the set of connected nodes that share one configuration (same
// group key). It owns the latest good build, the endpoint cache, and the
// make-before-break state of each member.
//
// Locking: group.mu guards everything below it and the publish fields of the
// members; it is taken after Server.mu and before proxy.mu.
type group struct {
	key  string
	node Node // the template translated for (id and ip cleared)
	s    *Server

	// edsChangedAt is when the endpoints last changed (unix nanoseconds);
	// read without the lock when responses are sent.
	edsChangedAt atomic.Int64
	// edsOrigins are the origins of the last endpoint update (convergence.go).
	edsOrigins atomic.Pointer[origins]
	// warnedEmpty is set once an empty configuration has been logged.
	warnedEmpty atomic.Bool

	mu      sync.Mutex
	members map[string]*proxy
	target  *build // latest good build, nil until the first succeeds
	// eds serves this group's ClusterLoadAssignments to delta streams and
	// sotw to state-of-the-world streams (content versions, edscache.go),
	// marshalled once and shared by every member's stream; edsRes is what
	// they hold (encoding and
	// content hash, by name); edsDelete are names to remove once no member
	// still uses the listeners that need them; edsByHost are the endpoint
	// resources of target's EDS clusters by service hostname (names whose
	// host cannot be read under ""), what an endpoint change of a host
	// recomputes.
	eds      *cache.LinearCache
	sotw     *sotwEDS
	edsRes   map[string]item
	edsGen   uint64   // counts the updates of edsRes (item.gen)
	edsAsked *nameSet // the last endpoint names a request asked for (asked)
	// wildAnys: the resources of the last few cluster and listener
	// versions, wrapped for wildcard responses (wildcard.go).
	wildAnys  map[kindVersion][]*anypb.Any
	edsDelete map[string]struct{}
	edsByHost map[string][]string
	// parked are endpoint watches opened before the first build.
	parked map[*parkedWatch]struct{}
	// steps caches make-before-break steps by (published, target).
	steps map[stepKey]*build
	// sentClusters: the EDS clusters of each cluster version sent to a
	// member, by name with their content hash (clustersModified; a few
	// versions, computed once per version for the whole group).
	sentClusters map[string]map[string]edsCluster
	// stale: the last full translation failed, so target is not the
	// configuration of the last mesh state (buildRoutes may not start from it).
	stale bool
	// objErrs and lastErr are the last translation's problems (debug output).
	objErrs []string
	lastErr string
}

func newGroup(s *Server, key string, n Node) *group {
	return &group{
		key:       key,
		node:      n.template(),
		s:         s,
		members:   map[string]*proxy{},
		eds:       cache.NewLinearCache(resource.EndpointType, cache.WithLogger(s.cpLog)),
		sotw:      newSotwEDS(),
		edsRes:    map[string]item{},
		edsDelete: map[string]struct{}{},
		parked:    map[*parkedWatch]struct{}{},
	}
}

// edsClusters are the names of the EDS clusters of the group's latest good
// build; ok is false before the first build.
func (g *group) edsClusters() ([]string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.target == nil {
		return nil, false
	}
	var out []string
	for name, it := range g.target.kinds[kCluster].items {
		if c, ok := it.res.(*clusterv3.Cluster); ok && c.GetType() == clusterv3.Cluster_EDS {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, true
}

// built reports whether the group has a good build.
func (g *group) built() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.target != nil
}

// install makes b (and clas) the group's configuration and publishes it to
// every member. clas nil means "endpoints unchanged"; otherwise clas is the
// complete set.
func (g *group) install(b *build, clas []*endpointv3.ClusterLoadAssignment, changedAt change) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	first := g.target == nil
	// Endpoints first: a new cluster's endpoints must be there when the
	// proxy asks for them right after receiving the cluster.
	if clas != nil {
		if err := g.setEndpointsLocked(clas, nil, changedAt); err != nil {
			return err
		}
	}
	if b != nil {
		if g.target == nil || g.target.kinds[kCluster].version != b.kinds[kCluster].version {
			g.edsByHost = edsByHost(b) // (same clusters, same index: a route-only build)
		}
		g.target = b
		clear(g.steps)
	}
	if first {
		g.unparkLocked()
	}
	for _, p := range g.members {
		g.publishLocked(p)
	}
	g.applyDeletesLocked()
	return nil
}

// installEndpoints replaces the endpoint resources named (and only those:
// what the translator did not return for them is removed).
func (g *group) installEndpoints(clas []*endpointv3.ClusterLoadAssignment, names []string, changedAt change) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.setEndpointsLocked(clas, names, changedAt); err != nil {
		return err
	}
	g.applyDeletesLocked()
	return nil
}

// endpointNames are the endpoint resources of the group's latest good build
// that depend on the endpoints of hosts (all of them when all), sorted; ok
// is false before the first build.
func (g *group) endpointNames(hosts map[string]bool, all bool) (names []string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.target == nil {
		return nil, false
	}
	if all {
		for _, ns := range g.edsByHost {
			names = append(names, ns...)
		}
		slices.Sort(names)
		return names, true
	}
	for h := range hosts {
		names = append(names, g.edsByHost[h]...)
	}
	names = append(names, g.edsByHost[""]...)
	slices.Sort(names)
	return slices.Compact(names), true
}

// intern replaces the endpoint names a request asks for by the group's own
// copies: each stream's request decodes its own strings, and go-control-
// plane (delta) or this package keeps them for every stream; so a thousand
// gateways asking for the same five thousand endpoints share one copy of
// the names instead of a thousand.
func (g *group) intern(names []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, n := range names {
		if it, ok := g.edsRes[n]; ok {
			names[i] = it.name
		}
	}
}

// edsByHost indexes the endpoint resources of b's EDS clusters by the
// service host their name carries (sni names and cluster names).
func edsByHost(b *build) map[string][]string {
	out := map[string][]string{}
	for _, it := range b.kinds[kCluster].items {
		name := edsName(it.res)
		if name == "" {
			continue
		}
		n, _, err := sni.ParseAny(name)
		host := n.Host
		if err != nil {
			host = "" // unknown dependency: recomputed on every endpoint change
		}
		out[host] = append(out[host], name)
	}
	return out
}

// setEndpointsLocked updates the endpoint cache with the CLAs whose content
// changed. names nil says clas is the complete set, and the rest is removed;
// otherwise only names are replaced, and those not in clas removed. Removals
// wait for applyDeletesLocked.
func (g *group) setEndpointsLocked(clas []*endpointv3.ClusterLoadAssignment, names []string, changedAt change) error {
	next := make(map[string]struct{}, len(clas))
	var update map[string]types.Resource
	for _, c := range clas {
		name := c.GetClusterName()
		next[name] = struct{}{}
		delete(g.edsDelete, name)
		raw, h, err := marshal(c)
		if err != nil {
			return fmt.Errorf("endpoints %s: %w", name, err)
		}
		if old, ok := g.edsRes[name]; !ok || old.hash != h {
			if update == nil {
				update = make(map[string]types.Resource, len(clas))
				g.edsGen++
			}
			update[name] = raw
			it := item{raw: raw, hash: h, name: name, mix: edsMix(name, h), gen: g.edsGen}
			it.any = edsAny(it)
			g.edsRes[name] = it
		}
	}
	gone := func(name string) {
		if _, ok := next[name]; !ok {
			if _, held := g.edsRes[name]; held {
				g.edsDelete[name] = struct{}{}
			}
		}
	}
	if names == nil {
		for name := range g.edsRes {
			gone(name)
		}
	} else {
		for _, name := range names {
			gone(name)
		}
	}
	if len(update) == 0 {
		return nil
	}
	if !changedAt.at.IsZero() {
		g.edsChangedAt.Store(changedAt.at.UnixNano())
	}
	g.edsOrigins.Store(&changedAt.origins) // nil: this update carries no cluster's change
	err := g.eds.UpdateResources(update, nil)
	g.sotwChangedLocked(slices.Collect(maps.Keys(update)))
	return err
}

// applyDeletesLocked removes endpoints no build needs any more, once no
// member is between the two steps of make-before-break.
func (g *group) applyDeletesLocked() {
	if len(g.edsDelete) == 0 {
		return
	}
	for _, p := range g.members {
		if p.pending != nil {
			return
		}
	}
	names := make([]string, 0, len(g.edsDelete))
	for n := range g.edsDelete {
		names = append(names, n)
		delete(g.edsRes, n)
	}
	clear(g.edsDelete)
	for _, p := range g.members {
		p.dropResendLocked(names) // gone: the cache must see them held to send their removal
	}
	if err := g.eds.UpdateResources(nil, names); err != nil {
		g.s.log.Error("endpoint cache: removing endpoints", "group", g.key, "err", err)
	}
}

func (g *group) setLocked(p *proxy, b *build) {
	p.mu.Lock()
	for k := range numKinds {
		if p.published == nil || p.published.kinds[k].version != b.kinds[k].version {
			p.pubChangedAt[k] = b.changedAt
			p.pubOrigins[k] = b.origins
		}
	}
	p.mu.Unlock()
	p.published = b
	// The snapshot cache's order (ADS): clusters, listeners, then routes
	// and secrets.
	g.wildPublishedLocked(p, b, kCluster)
	g.wildPublishedLocked(p, b, kListener)
	if err := g.s.snaps.SetSnapshot(context.Background(), p.id, b.snap); err != nil {
		g.s.log.Error("setting snapshot", "proxy", p.id, "err", err)
	}
}

// endpoints returns the CLAs the group serves (for debug output).
func (g *group) endpoints() map[string]types.Resource {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]types.Resource, len(g.edsRes))
	for n, it := range g.edsRes {
		if cla := unmarshalled(it.raw, &endpointv3.ClusterLoadAssignment{}); cla != nil {
			out[n] = cla
		}
	}
	return out
}

// parkedWatch is an endpoint watch opened before the group's first build;
// it is handed to the endpoint cache when the build is installed, so nothing is
// answered before the first complete configuration.
type parkedWatch struct {
	req      *cache.Request
	deltaReq *cache.DeltaRequest
	sub      cache.Subscription
	ch       chan cache.Response
	deltaCh  chan cache.DeltaResponse
	ask      edsAsk // a state-of-the-world request's
	inner    func()
	done     bool
}

func (g *group) watchEndpoints(w *parkedWatch) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.target != nil {
		cancel, err := g.openLocked(w)
		if err != nil || cancel == nil {
			return cancel, err
		}
		return func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			cancel()
		}, nil
	}
	g.parked[w] = struct{}{}
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		w.done = true
		delete(g.parked, w)
		if w.inner != nil {
			w.inner()
		}
	}, nil
}

// openLocked hands w to the endpoint cache; the cancel it returns is
// called with g.mu held.
func (g *group) openLocked(w *parkedWatch) (func(), error) {
	if w.deltaReq != nil {
		return g.eds.CreateDeltaWatch(w.deltaReq, w.sub, w.deltaCh)
	}
	return g.sotwWatchLocked(w.req, w.ask, w.ch)
}

func (g *group) unparkLocked() {
	for w := range g.parked {
		delete(g.parked, w)
		cancel, err := g.openLocked(w)
		if err != nil {
			g.s.log.Error("opening endpoint watch", "group", g.key, "err", err)
			continue
		}
		w.inner = cancel
	}
}
