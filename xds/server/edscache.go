package server

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
)

// State-of-the-world endpoints are served with content versions, as every
// other type is: a response's version_info is a hash of the (name, content
// hash) pairs of the endpoint resources the request names and the group
// holds, so two replicas fed the same mesh state give a gateway the same
// version, whatever each one's history; and a stream whose first request
// carries the version of exactly what this server holds for those names
// (a gateway that reconnected, to this replica or another) is sent nothing
// until something changes.
//
// go-control-plane's LinearCache numbers its state-of-the-world versions
// with a counter of its own (per cache), so it cannot do this; it still
// serves delta streams, whose versions are per resource and by content
// already (initial_resource_versions resumes them). sotwEDS is the group's
// state-of-the-world endpoint cache: a map of watches, guarded by group.mu
// like the rest of the group (every caller holds it), answering from
// group.edsRes.
//
// What a stream holds is recorded here, per stream (edsStream), not in
// go-control-plane's subscription: its ReturnedResources would be a map of
// every name the stream holds (name → content hash), one per gateway, and a
// response brings every name it asks for up to date anyway. So a stream
// holds (edsHeld) the names it asked for when it was last brought up to
// date, as the group held them then (its generation: an item changed or
// added since has a later one), less any name a later request dropped.
// The names a stream asks for are not go-control-plane's either: its
// subscription would make a set of them for every request of every stream;
// OnStreamRequest takes them out of the request (which go-control-plane
// then sees as a wildcard one, to be answered by this cache only) and the
// group gives every stream that asks for the same list the same set
// (group.asked). A response counts once it is
// sent (OnStreamResponse: go-control-plane drops a response that a newer
// request of its type overtakes); before any response, a resumed stream
// holds what its first request proved (resumeLocked).
type sotwEDS struct {
	watches map[*sotwWatch]struct{}
	byProxy map[*proxy]map[*sotwWatch]struct{}
}

// sotwWatch is one open state-of-the-world endpoint request.
type sotwWatch struct {
	req   *cache.Request
	ch    chan cache.Response
	p     *proxy
	st    *edsStream
	names *nameSet // nil: every resource (wildcard)
}

// nameSet is a list of endpoint names a request asks for and its set;
// shared, never modified.
type nameSet struct {
	list []string
	set  map[string]struct{}
}

// edsAsk is what a state-of-the-world endpoint request asks for, taken out
// of the request by OnStreamRequest (Server.edsReqs).
type edsAsk struct {
	st    *edsStream
	names *nameSet // nil: wildcard
}

// edsStream is what one state-of-the-world stream holds of the group's
// endpoints; guarded by group.mu.
type edsStream struct {
	p *proxy // the stream's, once it asked for endpoints
	// legacy: no request of the stream named a resource yet, so an empty
	// one asks for every resource (the xDS protocol's legacy wildcard).
	// Touched by the stream's goroutine only.
	legacy bool
	held   edsHeld
	// pending is the response made for the stream and not yet sent, and
	// what the stream holds once it is.
	pending     *discoveryv3.DiscoveryResponse
	pendingHeld edsHeld
}

// edsHeld: the stream holds each of names that the group held at
// generation gen, at the content it had then (an item whose gen is later
// is not held); names nil holds nothing. sent says a response set it (else
// a resume did).
type edsHeld struct {
	gen   uint64
	names *nameSet
	sent  bool
}

// holds reports whether the stream holds it (the group's current item n).
func (h *edsHeld) holds(n string, it item) bool {
	if it.gen > h.gen {
		return false
	}
	if h.names == nil {
		return false
	}
	_, ok := h.names.set[n]
	return ok
}

// narrow drops from h the names that a new request (names now) no longer
// asks for: a name asked for again is sent again (as go-control-plane's
// subscriptions do). h keeps now itself when it asks for the same names,
// so that the previous request's set is not kept alive.
func (h *edsHeld) narrow(now *nameSet) {
	if h.names == nil || h.names == now {
		return
	}
	if sameSet(h.names.set, now.set) {
		h.names = now
		return
	}
	keep := true
	for n := range h.names.set {
		if _, ok := now.set[n]; !ok {
			keep = false
			break
		}
	}
	if keep {
		return // now asks for more: h holds what it held
	}
	in := make(map[string]struct{}, len(now.set))
	for n := range h.names.set {
		if _, ok := now.set[n]; ok {
			in[n] = struct{}{}
		}
	}
	h.names = &nameSet{set: in}
}

func sameSet(a, b map[string]struct{}) bool {
	if len(a) != len(b) {
		return false
	}
	for n := range a {
		if _, ok := b[n]; !ok {
			return false
		}
	}
	return true
}

func newSotwEDS() *sotwEDS {
	return &sotwEDS{
		watches: map[*sotwWatch]struct{}{},
		byProxy: map[*proxy]map[*sotwWatch]struct{}{},
	}
}

// edsMix is the share of one (name, content hash) pair in a content
// version: versions are sums of shares, so they do not depend on order.
func edsMix(name, hash string) [2]uint64 {
	// One buffer on the stack for the usual lengths (hashing through the
	// hash.Hash interface would put each write's copy on the heap).
	var buf [256]byte
	b := append(buf[:0], name...)
	b = append(b, 0)
	b = append(b, hash...)
	sum := sha256.Sum256(b)
	return [2]uint64{binary.BigEndian.Uint64(sum[0:8]), binary.BigEndian.Uint64(sum[8:16])}
}

// edsAny wraps an endpoint resource's encoding once, for every response.
func edsAny(it item) *anypb.Any {
	return &anypb.Any{TypeUrl: resource.EndpointType, Value: it.raw.ProtoReflect().GetUnknown()}
}

// sotwNamesLocked is the names w asks for (every resource held, for a
// wildcard request).
func (g *group) sotwNamesLocked(w *sotwWatch) *nameSet {
	if w.names == nil {
		all := make(map[string]struct{}, len(g.edsRes))
		for n := range g.edsRes {
			all[n] = struct{}{}
		}
		return &nameSet{set: all}
	}
	return w.names
}

// ask is what a state-of-the-world endpoint request of the stream st asks
// for (names: the request's, interned). Called by the stream's goroutine.
func (g *group) ask(st *edsStream, names []string) edsAsk {
	if st.legacy && len(names) == 0 {
		return edsAsk{st: st}
	}
	st.legacy = false
	if slices.Contains(names, "*") {
		return edsAsk{st: st}
	}
	return edsAsk{st: st, names: g.asked(names)}
}

// asked is the group's nameSet of names: the last one made, when a request
// asks for the same list (gateways of one shape do), else a new one.
func (g *group) asked(names []string) *nameSet {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ns := g.edsAsked; ns != nil && slices.Equal(ns.list, names) {
		return ns
	}
	ns := &nameSet{list: names, set: make(map[string]struct{}, len(names))}
	for _, n := range names {
		ns.set[n] = struct{}{}
	}
	g.edsAsked = ns
	return ns
}

// sotwWatchLocked answers a state-of-the-world endpoint request of the
// stream st at once when there is something to send, and otherwise keeps it
// until there is.
func (g *group) sotwWatchLocked(req *cache.Request, ask edsAsk, ch chan cache.Response) (func(), error) {
	p := g.members[req.GetNode().GetId()]
	if p == nil {
		return nil, fmt.Errorf("node %q is not a member of its group", req.GetNode().GetId())
	}
	st := ask.st
	w := &sotwWatch{req: req, ch: ch, p: p, st: st, names: ask.names}
	st.p = p
	// A response made for an earlier request and not sent is dropped by
	// go-control-plane now (a newer request of its type overtook it).
	st.pending = nil
	if req.GetResponseNonce() == "" && !st.held.sent {
		g.resumeLocked(w)
	}
	st.held.narrow(g.sotwNamesLocked(w))
	if g.sotwRespondLocked(w, req.GetVersionInfo() == "") {
		return func() {}, nil
	}
	c := g.sotw
	c.watches[w] = struct{}{}
	if c.byProxy[p] == nil {
		c.byProxy[p] = map[*sotwWatch]struct{}{}
	}
	c.byProxy[p][w] = struct{}{}
	return func() { g.dropSotwWatchLocked(w) }, nil // called with g.mu held (openLocked)
}

func (g *group) dropSotwWatchLocked(w *sotwWatch) {
	c := g.sotw
	if _, ok := c.watches[w]; !ok {
		return
	}
	delete(c.watches, w)
	if set := c.byProxy[w.p]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(c.byProxy, w.p)
		}
	}
}

// resumeLocked is called with the first endpoint request of a stream: when
// its version is the content version of the names it asks for as the group
// holds them, the stream holds them.
func (g *group) resumeLocked(w *sotwWatch) {
	v := w.req.GetVersionInfo()
	if v == "" {
		w.st.held = edsHeld{}
		return
	}
	names := g.sotwNamesLocked(w)
	if v != g.sotwVersionLocked(names) {
		return // a previous resume of this stream (names changed since) still holds
	}
	w.st.held = edsHeld{gen: g.edsGen, names: names}
}

// sotwVersionLocked is the content version of names as the group holds
// them (names it does not hold do not count).
func (g *group) sotwVersionLocked(names *nameSet) string {
	var a, b uint64
	for n := range names.set {
		if it, ok := g.edsRes[n]; ok {
			a += it.mix[0]
			b += it.mix[1]
		}
	}
	return fmt.Sprintf("%016x%016x", a, b)
}

// sotwRespondLocked sends w what its stream does not hold (or, when
// always, a response even if that is nothing) and reports whether it did.
func (g *group) sotwRespondLocked(w *sotwWatch, always bool) bool {
	names := g.sotwNamesLocked(w)
	held := &w.st.held
	var resend map[string]struct{}
	if r := w.p.edsResend.Load(); r != nil {
		resend = *r
	}
	var send []string
	var a, b uint64
	for n := range names.set {
		it, ok := g.edsRes[n]
		if !ok {
			continue
		}
		a += it.mix[0]
		b += it.mix[1]
		_, again := resend[n]
		if held.holds(n, it) && !again {
			continue
		}
		send = append(send, n)
	}
	if len(send) == 0 && !always {
		return false
	}
	slices.Sort(send)
	anys := make([]*anypb.Any, len(send))
	for i, n := range send {
		anys[i] = g.edsRes[n].any
	}
	// Once sent, the stream holds every name it asks for as the group
	// holds them now (what it did not hold is in this response).
	resp := &discoveryv3.DiscoveryResponse{VersionInfo: fmt.Sprintf("%016x%016x", a, b), Resources: anys, TypeUrl: resource.EndpointType}
	w.st.pending = resp
	w.st.pendingHeld = edsHeld{gen: g.edsGen, names: names, sent: true}
	w.ch <- &cache.PassthroughResponse{Request: w.req, DiscoveryResponse: resp}
	return true
}

// sotwSent records that the endpoint response resp is being sent on the
// stream st (OnStreamResponse, before it is written).
func (g *group) sotwSent(st *edsStream, resp *discoveryv3.DiscoveryResponse) {
	if st == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if st.pending != nil && st.pending == resp {
		st.held = st.pendingHeld
		st.pending, st.pendingHeld = nil, edsHeld{}
	}
}

// sotwChangedLocked answers the open watches that ask for any of names.
func (g *group) sotwChangedLocked(names []string) {
	var hit []*sotwWatch
	for w := range g.sotw.watches {
		if w.names == nil {
			hit = append(hit, w)
			continue
		}
		asks := w.names.set
		if len(names) >= len(asks) {
			hit = append(hit, w) // as cheap to answer as to look
			continue
		}
		for _, n := range names {
			if _, ok := asks[n]; ok {
				hit = append(hit, w)
				break
			}
		}
	}
	for _, w := range hit {
		if g.sotwRespondLocked(w, false) {
			g.dropSotwWatchLocked(w)
		}
	}
}

// sotwProxyLocked answers the open watches of p (its edsResend changed).
func (g *group) sotwProxyLocked(p *proxy) {
	for w := range maps.Clone(g.sotw.byProxy[p]) {
		if g.sotwRespondLocked(w, false) {
			g.dropSotwWatchLocked(w)
		}
	}
}

// claNames reads the cluster_name (field 1) of each encoded
// ClusterLoadAssignment in a response, without decoding the rest.
func claNames(res []*anypb.Any) []string {
	names := make([]string, 0, len(res))
	for _, a := range res {
		b := a.GetValue()
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				break
			}
			b = b[n:]
			if num == 1 && typ == protowire.BytesType {
				v, m := protowire.ConsumeBytes(b)
				if m >= 0 {
					names = append(names, string(v))
				}
				break
			}
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				break
			}
			b = b[m:]
		}
	}
	return names
}
