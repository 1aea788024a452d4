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
// What a stream holds is what go-control-plane records from the responses
// it sent (the subscription's ReturnedResources: name → content hash, which
// sotwEDS puts in each response). Before any response on a stream, a resumed
// stream holds what its first request proved (proxy.sotwResumed).
type sotwEDS struct {
	watches map[*sotwWatch]struct{}
	byName  map[string]map[*sotwWatch]struct{}
	byProxy map[*proxy]map[*sotwWatch]struct{}
}

// sotwWatch is one open state-of-the-world endpoint request.
type sotwWatch struct {
	req *cache.Request
	sub cache.Subscription
	ch  chan cache.Response
	p   *proxy
}

func newSotwEDS() *sotwEDS {
	return &sotwEDS{
		watches: map[*sotwWatch]struct{}{},
		byName:  map[string]map[*sotwWatch]struct{}{},
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

// subscribed is the names w asks for (every resource held, for a wildcard
// request).
func (g *group) sotwNamesLocked(w *sotwWatch) map[string]struct{} {
	if w.sub.IsWildcard() {
		all := make(map[string]struct{}, len(g.edsRes))
		for n := range g.edsRes {
			all[n] = struct{}{}
		}
		return all
	}
	return w.sub.SubscribedResources()
}

// sotwWatchLocked answers a state-of-the-world endpoint request at once
// when there is something to send, and otherwise keeps it until there is.
func (g *group) sotwWatchLocked(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	p := g.members[req.GetNode().GetId()]
	if p == nil {
		return nil, fmt.Errorf("node %q is not a member of its group", req.GetNode().GetId())
	}
	w := &sotwWatch{req: req, sub: sub, ch: ch, p: p}
	if req.GetResponseNonce() == "" && len(sub.ReturnedResources()) == 0 {
		g.resumeLocked(w)
	}
	if g.sotwRespondLocked(w, req.GetVersionInfo() == "") {
		return func() {}, nil
	}
	c := g.sotw
	c.watches[w] = struct{}{}
	for n := range g.sotwNamesLocked(w) {
		set := c.byName[n]
		if set == nil {
			set = map[*sotwWatch]struct{}{}
			c.byName[n] = set
		}
		set[w] = struct{}{}
	}
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
	for n := range g.sotwNamesLocked(w) {
		if set := c.byName[n]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(c.byName, n)
			}
		}
	}
	// A wildcard watch may be indexed under names gone since.
	if w.sub.IsWildcard() {
		for n, set := range c.byName {
			delete(set, w)
			if len(set) == 0 {
				delete(c.byName, n)
			}
		}
	}
	if set := c.byProxy[w.p]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(c.byProxy, w.p)
		}
	}
}

// resumeLocked is called with the first endpoint request of a stream: when
// its version is the content version of the names it asks for as the group
// holds them, the proxy holds them (proxy.sotwResumed).
func (g *group) resumeLocked(w *sotwWatch) {
	v := w.req.GetVersionInfo()
	if v == "" {
		w.p.sotwResumed = nil
		return
	}
	names := g.sotwNamesLocked(w)
	if v != g.sotwVersionLocked(names) {
		return // a previous resume of this stream (names changed since) still holds
	}
	held := make(map[string]string, len(names))
	for n := range names {
		if it, ok := g.edsRes[n]; ok {
			held[n] = it.hash
		}
	}
	w.p.sotwResumed = held
}

// sotwVersionLocked is the content version of names as the group holds
// them (names it does not hold do not count).
func (g *group) sotwVersionLocked(names map[string]struct{}) string {
	var a, b uint64
	for n := range names {
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
	held := w.sub.ReturnedResources()
	if len(held) == 0 && w.p.sotwResumed != nil {
		held = w.p.sotwResumed
	}
	var resend map[string]struct{}
	if r := w.p.edsResend.Load(); r != nil {
		resend = *r
	}
	var send []string
	var a, b uint64
	for n := range names {
		it, ok := g.edsRes[n]
		if !ok {
			continue
		}
		a += it.mix[0]
		b += it.mix[1]
		_, again := resend[n]
		if h, known := held[n]; known && h == it.hash && !again {
			continue
		}
		send = append(send, n)
	}
	if len(send) == 0 && !always {
		return false
	}
	slices.Sort(send)
	returned := make(map[string]string, len(names))
	for n, h := range held {
		if _, ok := names[n]; ok {
			if _, exists := g.edsRes[n]; exists {
				returned[n] = h
			}
		}
	}
	anys := make([]*anypb.Any, len(send))
	for i, n := range send {
		it := g.edsRes[n]
		anys[i] = it.any
		returned[n] = it.hash
	}
	w.p.sotwResumed = nil // from now on the stream's own record counts
	w.ch <- &cache.PassthroughResponse{
		Request:           w.req,
		DiscoveryResponse: &discoveryv3.DiscoveryResponse{VersionInfo: fmt.Sprintf("%016x%016x", a, b), Resources: anys, TypeUrl: resource.EndpointType},
		ReturnedResources: returned,
	}
	return true
}

// sotwChangedLocked answers the open watches that ask for any of names.
func (g *group) sotwChangedLocked(names []string) {
	c := g.sotw
	var hit map[*sotwWatch]struct{}
	for _, n := range names {
		for w := range c.byName[n] {
			if hit == nil {
				hit = map[*sotwWatch]struct{}{}
			}
			hit[w] = struct{}{}
		}
	}
	for w := range c.watches {
		if w.sub.IsWildcard() {
			if hit == nil {
				hit = map[*sotwWatch]struct{}{}
			}
			hit[w] = struct{}{}
		}
	}
	for w := range hit {
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
