package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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

	mu      sync.Mutex
	members map[string]*proxy
	target  *build // latest good build, nil until the first succeeds
	// eds serves this group's ClusterLoadAssignments; edsHashes are the
	// content hashes of what it holds; edsDelete are names to remove once no
	// member still uses the listeners that need them.
	eds       *cache.LinearCache
	edsHashes map[string]string
	edsDelete map[string]struct{}
	// parked are endpoint watches opened before the first build.
	parked map[*parkedWatch]struct{}
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
		edsHashes: map[string]string{},
		edsDelete: map[string]struct{}{},
		parked:    map[*parkedWatch]struct{}{},
	}
}

// built reports whether the group has a good build.
func (g *group) built() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.target != nil
}

// install makes b (and clas) the group's configuration and publishes it to
// every member. clas nil means "endpoints unchanged".
func (g *group) install(b *build, clas []*endpointv3.ClusterLoadAssignment, changedAt time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	first := g.target == nil
	// Endpoints first: a new cluster's endpoints must be there when the
	// proxy asks for them right after receiving the cluster.
	if err := g.setEndpointsLocked(clas, changedAt); err != nil {
		return err
	}
	if b != nil {
		g.target = b
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

// setEndpointsLocked updates the endpoint cache with the CLAs whose content
// changed; removals wait for applyDeletesLocked.
func (g *group) setEndpointsLocked(clas []*endpointv3.ClusterLoadAssignment, changedAt time.Time) error {
	if clas == nil {
		return nil
	}
	next := make(map[string]struct{}, len(clas))
	update := map[string]types.Resource{}
	for _, c := range clas {
		name := c.GetClusterName()
		h, err := hashResource(c)
		if err != nil {
			return err
		}
		next[name] = struct{}{}
		delete(g.edsDelete, name)
		if old, ok := g.edsHashes[name]; !ok || old != h {
			update[name] = c
			g.edsHashes[name] = h
		}
	}
	for name := range g.edsHashes {
		if _, ok := next[name]; !ok {
			g.edsDelete[name] = struct{}{}
		}
	}
	if len(update) == 0 {
		return nil
	}
	if !changedAt.IsZero() {
		g.edsChangedAt.Store(changedAt.UnixNano())
	}
	return g.eds.UpdateResources(update, nil)
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
		delete(g.edsHashes, n)
	}
	clear(g.edsDelete)
	if err := g.eds.UpdateResources(nil, names); err != nil {
		g.s.log.Error("endpoint cache: removing endpoints", "group", g.key, "err", err)
	}
}

// publishLocked brings member p towards the group's target build, in two
// steps when needed (make-before-break): first the new clusters (and
// secrets) with the old listeners and routes; the new listeners and routes
// once the proxy has been sent those clusters and their endpoints (see
// clustersSent, endpointsRequested, endpointsSent).
// Proxyless gRPC clients are not staged: they ask for a cluster only after a
// route names it, and hold RPCs until it is ready.
func (g *group) publishLocked(p *proxy) {
	t := g.target
	if t == nil || (p.pending == nil && p.published.sameAs(t)) || (p.pending != nil && p.pending.sameAs(t)) {
		return
	}
	if g.node.Generator == "" && p.cdsWatched.Load() && usersChange(p.published, t) {
		// The proxy must hold every cluster the new listeners and routes
		// may use before it gets them: wait until it has been sent s1's.
		s1 := stage1(p.published, t)
		if v := s1.kinds[kCluster].version; v != p.sentCDS {
			g.setLocked(p, s1)
			p.pending, p.stage1CDS, p.waitEDS, p.advanceOnEDS = t, v, nil, false
			return
		}
	}
	g.setLocked(p, t)
	p.pending, p.stage1CDS, p.waitEDS, p.advanceOnEDS = nil, "", nil, false
}

// clustersSent is called when a cluster response of the given version goes
// out to p. If it is the first step of a staged update, the second step
// follows once the endpoints of the new clusters are on their way too.
func (g *group) clustersSent(p *proxy, version string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p.sentCDS = version
	if p.pending == nil || version != p.stage1CDS {
		return
	}
	// Endpoints the new clusters need that the proxy does not ask for yet:
	// it will ask right after applying these clusters.
	p.waitEDS = map[string]bool{}
	for _, it := range p.published.kinds[kCluster].items {
		name := edsName(it.res)
		if _, ok := g.edsHashes[name]; ok && name != "" && !p.edsSubscribed[name] {
			p.waitEDS[name] = true
		}
	}
	if len(p.waitEDS) == 0 {
		g.advanceLocked(p)
	}
}

// endpointsRequested records the endpoint names p subscribes to (state of
// the world: the full list; delta: changes).
func (g *group) endpointsRequested(p *proxy, sotwNames, subscribe, unsubscribe []string, delta bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !delta || p.edsSubscribed == nil {
		p.edsSubscribed = map[string]bool{}
	}
	for _, n := range sotwNames {
		p.edsSubscribed[n] = true
	}
	for _, n := range subscribe {
		p.edsSubscribed[n] = true
	}
	for _, n := range unsubscribe {
		delete(p.edsSubscribed, n)
	}
	if p.waitEDS == nil {
		return
	}
	for n := range p.waitEDS {
		if !p.edsSubscribed[n] {
			return
		}
	}
	// The cache answers this request with the new endpoints; the second
	// step goes out right after that answer.
	p.advanceOnEDS = true
}

// endpointsSent completes a staged update waiting for endpoints.
func (g *group) endpointsSent(p *proxy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p.advanceOnEDS {
		g.advanceLocked(p)
	}
}

// advanceLocked is the second step of a staged update.
func (g *group) advanceLocked(p *proxy) {
	t := p.pending
	p.pending, p.stage1CDS, p.waitEDS, p.advanceOnEDS = nil, "", nil, false
	if t != nil {
		g.setLocked(p, t)
	}
	g.applyDeletesLocked()
}

// edsName is the endpoint resource an EDS cluster asks for ("" otherwise).
func edsName(r types.Resource) string {
	c, ok := r.(*clusterv3.Cluster)
	if !ok || c.GetType() != clusterv3.Cluster_EDS {
		return ""
	}
	if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
		return n
	}
	return c.GetName()
}

func (g *group) setLocked(p *proxy, b *build) {
	p.mu.Lock()
	for k := range numKinds {
		if p.published == nil || p.published.kinds[k].version != b.kinds[k].version {
			p.pubChangedAt[k] = b.changedAt
		}
	}
	p.mu.Unlock()
	p.published = b
	if err := g.s.snaps.SetSnapshot(context.Background(), p.id, b.snap); err != nil {
		g.s.log.Error("setting snapshot", "proxy", p.id, "err", err)
	}
}

// endpoints returns the CLAs the group serves (for debug output).
func (g *group) endpoints() map[string]types.Resource {
	return g.eds.GetResources()
}

// parkedWatch is an endpoint watch opened before the group's first build;
// it is handed to the LinearCache when the build is installed, so nothing is
// answered before the first complete configuration.
type parkedWatch struct {
	req      *cache.Request
	deltaReq *cache.DeltaRequest
	sub      cache.Subscription
	ch       chan cache.Response
	deltaCh  chan cache.DeltaResponse
	inner    func()
	done     bool
}

func (g *group) watchEndpoints(w *parkedWatch) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.target != nil {
		return g.openLocked(w)
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

func (g *group) openLocked(w *parkedWatch) (func(), error) {
	if w.deltaReq != nil {
		return g.eds.CreateDeltaWatch(w.deltaReq, w.sub, w.deltaCh)
	}
	return g.eds.CreateWatch(w.req, w.sub, w.ch)
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
