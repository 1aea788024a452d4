package server

import (
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Clusters and listeners asked for by wildcard on a state-of-the-world
// stream (what Envoy does) are answered by the group, not by go-control-
// plane's snapshot cache: its responses carry a map of every resource name
// sent (name → version), which the stream's subscription keeps, one per
// stream and type (5,000 clusters: about 300 KB a gateway). A wildcard
// response carries every resource of its type, so what a stream holds is
// the version it was last sent (wildHeld, recorded when go-control-plane
// sends the response: a newer request of the type drops a response not yet
// sent). The answers are the snapshot cache's:
//   - a new watch is answered when the request's version is not the one
//     published to the proxy, or the stream does not hold it (a stream's
//     first request whose version is the published one holds it: a
//     gateway that reconnected, or moved from a replica fed the same state;
//     routes and secrets, asked for by name, are not resumed);
//   - an open watch is answered when a version other than the request's is
//     published to the proxy (setLocked: clusters, then listeners, then
//     the snapshot cache answers routes and secrets, its own order);
//   - the resources are the published build's, each wrapped once per
//     (kind, version) for every response of the group (wildAnys).
//
// Requests that name clusters or listeners (gRPC clients) still go to the
// snapshot cache.

// wildHeld is what one stream holds of a wildcard type; guarded by
// group.mu.
type wildHeld struct {
	version        string
	pending        *discoveryv3.DiscoveryResponse
	pendingVersion string
}

// wildWatch is one open wildcard request.
type wildWatch struct {
	req  *cache.Request
	ch   chan cache.Response
	k    kind
	held *wildHeld
}

// wildKind is the kind a wildcard request of typeURL is answered for here.
func wildKind(typeURL string) (kind, bool) {
	switch typeURL {
	case kindTypeURL[kCluster]:
		return kCluster, true
	case kindTypeURL[kListener]:
		return kListener, true
	}
	return 0, false
}

// wildWatch opens a wildcard watch of kind k for p's stream st.
func (g *group) wildWatch(p *proxy, st *stream, k kind, req *cache.Request, ch chan cache.Response) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := &st.wild[k]
	h.pending = nil // a response not sent yet is dropped by go-control-plane now
	if req.GetResponseNonce() == "" && h.version == "" && req.GetVersionInfo() != "" {
		if b := p.published; b != nil && b.kinds[k].version == req.GetVersionInfo() {
			h.version = req.GetVersionInfo() // resumed
		}
	}
	w := &wildWatch{req: req, ch: ch, k: k, held: h}
	if b := p.published; b != nil && (b.kinds[k].version != req.GetVersionInfo() || h.version != b.kinds[k].version) {
		g.wildRespondLocked(w, b)
		return func() {}, nil
	}
	if p.wild == nil {
		p.wild = map[*wildWatch]struct{}{}
	}
	p.wild[w] = struct{}{}
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		delete(p.wild, w)
	}, nil
}

// wildPublishedLocked answers p's open watches of kind k that the newly
// published build b changes.
func (g *group) wildPublishedLocked(p *proxy, b *build, k kind) {
	for w := range p.wild {
		if w.k == k && b.kinds[k].version != w.req.GetVersionInfo() {
			delete(p.wild, w)
			g.wildRespondLocked(w, b)
		}
	}
}

// wildReset forgets what st holds of kind k (its requests of that kind go
// to the snapshot cache now).
func (g *group) wildReset(st *stream, k kind) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st.wild[k] = wildHeld{}
}

func (g *group) wildRespondLocked(w *wildWatch, b *build) {
	t := b.kinds[w.k]
	resp := &discoveryv3.DiscoveryResponse{VersionInfo: t.version, Resources: g.wildAnysLocked(w.k, t), TypeUrl: kindTypeURL[w.k]}
	w.held.pending, w.held.pendingVersion = resp, t.version
	w.ch <- &cache.PassthroughResponse{Request: w.req, DiscoveryResponse: resp}
}

// wildSent records that resp is being sent on st (OnStreamResponse).
func (g *group) wildSent(st *stream, k kind, resp *discoveryv3.DiscoveryResponse) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h := &st.wild[k]; h.pending != nil && h.pending == resp {
		h.version = h.pendingVersion
		h.pending, h.pendingVersion = nil, ""
	}
}

type kindVersion struct {
	k       kind
	version string
}

// wildAnysLocked is t's resources wrapped for a response, sorted by name;
// made once per (kind, version) and shared (responses are not modified).
func (g *group) wildAnysLocked(k kind, t typed) []*anypb.Any {
	key := kindVersion{k, t.version}
	if a, ok := g.wildAnys[key]; ok {
		return a
	}
	if g.wildAnys == nil || len(g.wildAnys) >= 8 { // the versions in use: a few
		g.wildAnys = map[kindVersion][]*anypb.Any{}
	}
	names := make([]string, 0, len(t.items))
	for n := range t.items {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*anypb.Any, len(names))
	for i, n := range names {
		out[i] = &anypb.Any{TypeUrl: kindTypeURL[k], Value: t.items[n].raw.ProtoReflect().GetUnknown()}
	}
	g.wildAnys[key] = out
	return out
}
