package server

import (
	"crypto/sha256"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshgate/meshgate/xds/node"
)

// Make-before-break. A proxy moves to a new build in up to three steps, so
// that no listener or route ever names a cluster the proxy does not hold:
//
//  1. (Envoy) clusters and secrets of old and new, with the old listeners and
//     routes. Step 2 waits until those clusters have been sent and the
//     endpoints of the new ones too (Envoy asks for them right after).
//  2. The new listeners and routes, still with the old clusters.
//  3. The target: clusters and secrets nothing uses any more are removed.
//     For Envoy it follows step 2 at once: on the ordered ADS stream the new
//     routes leave first. A proxyless gRPC client asks for a cluster only
//     when a route names it, keeps using the old route until the new
//     clusters and their endpoints arrived (gRFC A74), and RPCs already bound
//     to an old cluster wait for it; so for gRPC step 3 waits until the
//     client has stopped asking for the clusters it removes.
//
// Each step is a snapshot; the stream callbacks (clustersSent, clustersHeld,
// requested, endpointsSent) move a proxy on. All of it runs under group.mu.

type phase int

const (
	phaseNone         phase = iota
	phaseNewClusters        // step 1 published
	phaseBeforeRemove       // step 2 published, step 3 waits for the client to let go (gRPC)
)

func (p *proxy) resetStage() {
	p.pending, p.phase, p.stage1CDS, p.waitEDS, p.advanceOnEDS, p.waitGone = nil, phaseNone, "", nil, false, nil
}

// publishLocked brings member p towards the group's target build.
func (g *group) publishLocked(p *proxy) {
	t := g.target
	if t == nil || (p.pending == nil && p.published.sameAs(t)) || (p.pending != nil && p.pending.sameAs(t)) {
		return
	}
	if !usersChange(p.published, t) {
		p.resetStage()
		g.setLocked(p, t)
		return
	}
	if g.node.Generator == "" && p.cdsWatched.Load() {
		s1 := g.step(1, p.published, t)
		if v := s1.kinds[kCluster].version; v != p.sentCDS {
			p.resetStage()
			g.setLocked(p, s1)
			p.pending, p.phase, p.stage1CDS = t, phaseNewClusters, v
			return
		}
	}
	p.resetStage()
	g.switchLocked(p, t)
}

// step returns step 1 or 2 from published to t, shared by the members that
// make the same move (usually all of them).
func (g *group) step(n int, published, t *build) *build {
	key := stepKey{n, published, t}
	if b, ok := g.steps[key]; ok {
		return b
	}
	b := stage1(published, t)
	if n == 2 {
		b = stage2(published, t)
	}
	if g.steps == nil || len(g.steps) > 64 {
		g.steps = map[stepKey]*build{}
	}
	g.steps[key] = b
	return b
}

type stepKey struct {
	n                 int
	published, target *build
}

// switchLocked publishes step 2 and, unless it has to wait, step 3.
func (g *group) switchLocked(p *proxy, t *build) {
	s2 := g.step(2, p.published, t)
	if s2.sameAs(t) {
		g.setLocked(p, t)
		return
	}
	g.setLocked(p, s2)
	if g.node.Generator == node.GeneratorGRPC {
		subscribed := p.subscribedLocked(resource.ClusterType)
		gone := map[string]bool{}
		for name := range s2.kinds[kCluster].items {
			if _, kept := t.kinds[kCluster].items[name]; !kept && subscribed[name] {
				gone[name] = true
			}
		}
		if len(gone) > 0 {
			p.pending, p.phase, p.waitGone = t, phaseBeforeRemove, gone
			return
		}
	}
	g.setLocked(p, t)
	g.applyDeletesLocked()
}

// clustersSent is called when a cluster response of the given version goes
// out to p (before it is written; anything published now leaves after it).
func (g *group) clustersSent(p *proxy, version string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clustersSentLocked(p, version)
}

func (g *group) clustersSentLocked(p *proxy, version string) {
	p.sentCDS = version
	if p.phase != phaseNewClusters || version != p.stage1CDS {
		return
	}
	// Endpoints the new clusters need that the proxy does not ask for yet:
	// it asks right after applying these clusters.
	p.waitEDS = map[string]bool{}
	subscribed := p.subscribedLocked(resource.EndpointType)
	for _, it := range p.published.kinds[kCluster].items {
		name := edsName(it.res)
		if _, ok := g.edsRes[name]; ok && name != "" && !subscribed[name] {
			p.waitEDS[name] = true
		}
	}
	if len(p.waitEDS) == 0 {
		g.advanceLocked(p)
	}
}

// clustersModified is called with a state-of-the-world cluster response
// to p before it is written. Envoy builds a modified EDS cluster anew and
// warms it: it needs the cluster's endpoints again, although they did not
// change, and asks with the names and version it already holds, which the
// endpoint cache does not answer; with initial_fetch_timeout 0 (as istiod
// sets it) the cluster then warms for ever, Envoy never acknowledges the
// clusters, and every later step waits on them. istiod answers such a
// request (its EDS "always respond" after a cluster push); here the
// endpoints of each modified cluster the proxy already asks for are marked
// on p (edsResend): the endpoint cache does not count them as held by p's
// stream until a response carries them (edscache.go), so they leave after
// these clusters (the stream sends them in order, on an open watch at once,
// otherwise in answer to the next request) and end the warming. Their
// version is unchanged (content versions): Envoy applies them all the same.
func (g *group) clustersModified(p *proxy, version string, res []*anypb.Any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := g.sentClusters[version]
	if cur == nil {
		cur = map[string]edsCluster{}
		for _, a := range res {
			c := &clusterv3.Cluster{}
			if err := a.UnmarshalTo(c); err != nil {
				continue
			}
			if name := edsName(c); name != "" {
				cur[c.GetName()] = edsCluster{eds: name, hash: sha256.Sum256(a.GetValue())}
			}
		}
		if g.sentClusters == nil || len(g.sentClusters) >= 16 {
			g.sentClusters = map[string]map[string]edsCluster{} // a few versions are in use at once
		}
		g.sentClusters[version] = cur
	}
	prevVersion := p.sentClusters
	p.sentClusters = version
	if prevVersion == "" {
		// The first cluster response of the stream: a stream that started
		// holding clusters (clustersHeld) holds them at that version,
		// clusters not known here if they were never published here (a
		// group built after the gateway asked): every cluster of this
		// response may then be a modified one.
		prevVersion = p.heldCDS
	}
	p.heldCDS = ""
	if prevVersion == "" || prevVersion == version {
		return
	}
	prev, known := g.sentClusters[prevVersion]
	var touch []string
	subscribed := p.subscribedLocked(resource.EndpointType)
	for name, c := range cur {
		old, held := prev[name]
		if known && (!held || old == c) {
			continue // new (asked for anew: the cache answers by itself) or unchanged
		}
		if _, ok := g.edsRes[c.eds]; !ok || !subscribed[c.eds] {
			continue
		}
		touch = append(touch, c.eds) // unknown previous version: every cluster may have changed
	}
	if len(touch) == 0 {
		return
	}
	p.addResendLocked(touch)
	g.sotwProxyLocked(p)
}

// deltaClustersModified is the delta xDS counterpart of clustersModified,
// called with a delta cluster response to p before it is written. Such a
// response carries only clusters that are new or changed, so an EDS cluster
// in it whose endpoints p already asks for is one Envoy holds and now
// rebuilds and warms (a new one asks for its endpoints anew and the cache
// answers by itself). The endpoint cache versions delta resources by their
// content and sends a stream only what differs from what it holds, so
// handing it the same endpoints again sends nothing: those names are marked
// on p (edsResend), its stream's watch does not count them as held
// (resendSub), and they are handed to the cache again, which sends them to
// this stream after these clusters (on an open watch at once, otherwise in
// answer to the next endpoint request). Other members' streams hold them
// and get nothing (state-of-the-world ones are served by sotwEDS).
func (g *group) deltaClustersModified(p *proxy, res []*discoveryv3.Resource) {
	g.mu.Lock()
	defer g.mu.Unlock()
	subscribed := p.subscribedLocked(resource.EndpointType)
	if len(subscribed) == 0 {
		return // the first clusters: nothing is held yet
	}
	var touch map[string]types.Resource
	for _, r := range res {
		c := &clusterv3.Cluster{}
		if err := r.GetResource().UnmarshalTo(c); err != nil {
			continue
		}
		name := edsName(c)
		it, ok := g.edsRes[name]
		if name == "" || !ok || !subscribed[name] {
			continue
		}
		if touch == nil {
			touch = map[string]types.Resource{}
		}
		touch[name] = it.raw
	}
	if len(touch) == 0 {
		return
	}
	p.addResendLocked(slices.Collect(maps.Keys(touch)))
	if err := g.eds.UpdateResources(touch, nil); err != nil {
		g.s.log.Error("endpoint cache: re-sending the endpoints of modified clusters", "group", g.key, "err", err)
	}
}

// endpointsResent is called with an endpoint response to p before it is
// written (names: those it carries): they are no longer to be sent again.
func (g *group) endpointsResent(p *proxy, names func() []string) {
	if p.edsResend.Load() == nil {
		return
	}
	n := names()
	g.mu.Lock()
	defer g.mu.Unlock()
	p.dropResendLocked(n)
}

// addResendLocked adds names to p.edsResend.
func (p *proxy) addResendLocked(names []string) {
	resend := map[string]struct{}{}
	if old := p.edsResend.Load(); old != nil {
		maps.Copy(resend, *old)
	}
	for _, n := range names {
		resend[n] = struct{}{}
	}
	p.edsResend.Store(&resend)
}

// dropResendLocked removes names from p.edsResend.
func (p *proxy) dropResendLocked(names []string) {
	old := p.edsResend.Load()
	if old == nil {
		return
	}
	resend := maps.Clone(*old)
	for _, n := range names {
		delete(resend, n)
	}
	if len(resend) == 0 {
		p.edsResend.Store(nil)
		return
	}
	p.edsResend.Store(&resend)
}

// resendSub is a delta stream's endpoint subscription as the endpoint cache
// sees it: the names p must get again (edsResend) are not among those it
// holds, so the cache sends them.
type resendSub struct {
	cache.Subscription
	p *proxy
}

func (s resendSub) ReturnedResources() map[string]string {
	held := s.Subscription.ReturnedResources()
	resend := s.p.edsResend.Load()
	if resend == nil {
		return held
	}
	out := maps.Clone(held)
	for n := range *resend {
		delete(out, n)
	}
	return out
}

// edsCluster is an EDS cluster as sent: its endpoint resource and the
// hash of its encoding.
type edsCluster struct {
	eds  string
	hash [sha256.Size]byte
}

// clustersHeld is called when p's first cluster request on a stream (state
// of the world) says it already holds version: a proxy that reconnected, to
// this daemon or to a restarted one, whose clusters are current. The cache
// answers only a version that differs, so version counts as sent: without
// this a later step 1 with these same clusters (a route-only change) would
// wait for a cluster response that never comes, and the proxy would never
// get the new routes.
func (g *group) clustersHeld(p *proxy, version string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p.sentCDS == "" {
		g.clustersSentLocked(p, version)
	}
	if p.sentClusters == "" {
		p.heldCDS = version
	}
	// The clusters it holds are known when they are the ones published to
	// it (a moved gateway: its group was built here): a later cluster
	// response that modifies one of them is followed by its endpoints
	// (clustersModified).
	if b := p.published; p.sentClusters == "" && b != nil && b.kinds[kCluster].version == version {
		if g.sentClusters[version] == nil {
			cur := map[string]edsCluster{}
			for name, it := range b.kinds[kCluster].items {
				if eds := edsName(it.res); eds != "" {
					cur[name] = edsCluster{eds: eds, hash: sha256.Sum256(it.raw.ProtoReflect().GetUnknown())}
				}
			}
			if g.sentClusters == nil || len(g.sentClusters) >= 16 {
				g.sentClusters = map[string]map[string]edsCluster{}
			}
			g.sentClusters[version] = cur
		}
		p.sentClusters = version
	}
}

// requested records the names p subscribes to for typeURL (state of the
// world: the full list; delta: changes).
func (g *group) requested(p *proxy, typeURL string, sotwNames, subscribe, unsubscribe []string, delta bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !delta {
		// Kept as the request's list: a set is made only when a step asks.
		if p.sotwNames == nil {
			p.sotwNames = map[string][]string{}
		}
		p.sotwNames[typeURL] = sotwNames
	} else {
		if p.subscribed == nil {
			p.subscribed = map[string]map[string]bool{}
		}
		set := p.subscribed[typeURL]
		if set == nil {
			set = map[string]bool{}
			p.subscribed[typeURL] = set
		}
		for _, n := range subscribe {
			set[n] = true
		}
		for _, n := range unsubscribe {
			delete(set, n)
		}
		if typeURL == resource.EndpointType && len(unsubscribe) > 0 {
			p.dropResendLocked(unsubscribe)
		}
	}
	if p.phase != phaseBeforeRemove && p.waitEDS == nil {
		return // no step waits on what the node asks for
	}
	set := p.subscribedLocked(typeURL)
	if typeURL == resource.ClusterType && p.phase == phaseBeforeRemove {
		for n := range p.waitGone {
			if set[n] {
				return
			}
		}
		g.advanceLocked(p) // the client let go of every cluster step 3 removes
		return
	}
	if typeURL != resource.EndpointType || p.waitEDS == nil {
		return
	}
	for n := range p.waitEDS {
		if !set[n] {
			return
		}
	}
	// The cache answers this request with the new endpoints; the next step
	// goes out right after that answer.
	p.advanceOnEDS = true
}

// endpointsSent ends a step waiting for endpoints.
func (g *group) endpointsSent(p *proxy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p.advanceOnEDS {
		g.advanceLocked(p)
	}
}

func (g *group) advanceLocked(p *proxy) {
	t, ph := p.pending, p.phase
	p.resetStage()
	switch {
	case t == nil:
	case ph == phaseNewClusters:
		g.switchLocked(p, t)
	default:
		g.setLocked(p, t)
	}
	g.applyDeletesLocked()
}

// subscribedLocked is the set of names p asks for of typeURL.
func (p *proxy) subscribedLocked(typeURL string) map[string]bool {
	if set, ok := p.subscribed[typeURL]; ok {
		return set
	}
	names := p.sotwNames[typeURL]
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
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
