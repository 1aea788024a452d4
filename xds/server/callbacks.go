package server

import (
	"context"
	"errors"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stream is the server's view of one xDS stream. Its fields are touched only
// by the stream's own goroutine (go-control-plane calls a stream's callbacks
// from one goroutine).
type stream struct {
	id       int64
	delta    bool
	proxy    *proxy
	lastSent map[string]*sentResponse // by type URL
	// eds is what a state-of-the-world stream holds of its group's
	// endpoints (edscache.go); edsReq its latest endpoint request, until
	// its watch is made (Server.edsReqs).
	eds    *edsStream
	edsReq *discoveryv3.DiscoveryRequest
	// wild is what the stream holds of wildcard clusters and listeners
	// (wildcard.go; guarded by the group's mutex), wildReq its latest
	// request of each, until its watch is made (Server.reqs).
	wild    [numKinds]wildHeld
	wildReq [numKinds]*discoveryv3.DiscoveryRequest
}

// sentResponse is the latest response of a type on a stream.
type sentResponse struct {
	nonce     string
	version   string
	changedAt time.Time
	origins   origins
	sentAt    time.Time
	answered  bool // acked or nacked already
	nacked    bool
}

// callbacks implements go-control-plane's server callbacks: node admission,
// ACK/NACK tracking, and the NACK guard.
type callbacks struct{ s *Server }

var _ serverv3.Callbacks = callbacks{}

// streamKey tells state-of-the-world and delta streams apart: the two
// servers number their streams independently.
type streamKey struct {
	delta bool
	id    int64
}

func (c callbacks) open(id int64, delta bool) error {
	st := &stream{id: id, delta: delta, lastSent: map[string]*sentResponse{}}
	if !delta {
		st.eds = &edsStream{legacy: true}
	}
	c.s.streams.Store(streamKey{delta, id}, st)
	return nil
}

func (c callbacks) closed(id int64, delta bool) {
	v, ok := c.s.streams.LoadAndDelete(streamKey{delta, id})
	if !ok {
		return
	}
	st := v.(*stream)
	if st.edsReq != nil {
		c.s.reqs.Delete(st.edsReq)
	}
	for _, r := range st.wildReq {
		if r != nil {
			c.s.reqs.Delete(r)
		}
	}
	if st.proxy != nil {
		c.s.detach(st.proxy)
	}
}

func (c callbacks) stream(id int64, delta bool) *stream {
	v, ok := c.s.streams.Load(streamKey{delta, id})
	if !ok {
		return nil
	}
	return v.(*stream)
}

// admit parses the node of a stream's first request. A malformed or missing
// node ends the stream with InvalidArgument (logged and counted) rather than
// leaving the client waiting for a snapshot that will never exist.
func (c callbacks) admit(st *stream, n *corev3.Node) error {
	node, err := ParseNode(n, c.s.cfg.ClusterID)
	if err != nil {
		reason := "malformed_node"
		var ne *NodeError
		if errors.As(err, &ne) {
			reason = ne.Reason
		}
		c.s.m.rejected.WithLabelValues(reason).Inc()
		c.s.log.Warn("refusing xDS stream", "node", n.GetId(), "reason", reason, "err", err)
		return status.Error(codes.InvalidArgument, err.Error())
	}
	p, err := c.s.attach(node)
	if err != nil {
		c.s.m.rejected.WithLabelValues("conflicting_node").Inc()
		c.s.log.Warn("refusing xDS stream", "node", node.ID, "reason", "conflicting_node", "err", err)
		return err
	}
	st.proxy = p
	return nil
}

// request handles ACK/NACK bookkeeping. It returns the version the request
// must be treated as holding: after a NACK, the rejected version, so that the
// cache waits for new configuration instead of resending what was refused.
func (c callbacks) request(st *stream, typeURL, nonce string, errDetail string, nack bool) (rejected string) {
	p := st.proxy
	if typeURL == resource.ClusterType {
		p.cdsWatched.Store(true)
	}
	ls := st.lastSent[typeURL]
	if ls == nil || nonce == "" || nonce != ls.nonce {
		return ""
	}
	if ls.answered {
		if ls.nacked {
			return ls.version
		}
		return ""
	}
	ls.answered = true
	now := time.Now()
	if nack {
		ls.nacked = true
		c.s.log.Warn("proxy rejected configuration (NACK); it keeps its last good configuration and the version is not resent",
			"proxy", p.id, "type", shortType(typeURL), "version", ls.version, "error", errDetail)
		c.s.m.nacks.WithLabelValues(shortType(typeURL)).Inc()
		p.mu.Lock()
		ts := p.typeStatus(typeURL)
		ts.NACKs++
		ts.LastNACK = &nackInfo{Version: ls.version, Message: errDetail, At: now}
		p.mu.Unlock()
		return ls.version
	}
	p.mu.Lock()
	ts := p.typeStatus(typeURL)
	ts.Acked = ls.version
	observe := !ls.changedAt.IsZero() && ls.changedAt.After(p.connectedAt) && ls.changedAt.After(ts.observed)
	if observe {
		ts.observed = ls.changedAt
	}
	p.mu.Unlock()
	if observe {
		c.s.m.ackLatency.WithLabelValues(shortType(typeURL)).Observe(now.Sub(ls.changedAt).Seconds())
		c.s.m.ack.WithLabelValues(shortType(typeURL)).Observe(now.Sub(ls.sentAt).Seconds())
	}
	if len(ls.origins) > 0 && ls.changedAt.After(p.connectedAt) {
		c.s.converged(p, ls.origins, now)
	}
	return ""
}

// response records a response about to be sent.
func (c callbacks) response(st *stream, typeURL, nonce, version string) {
	p := st.proxy
	if p == nil {
		return
	}
	changedAt, origins := p.changedAt(typeURL)
	now := time.Now()
	st.lastSent[typeURL] = &sentResponse{nonce: nonce, version: version, changedAt: changedAt, origins: origins, sentAt: now}
	if !changedAt.IsZero() && changedAt.After(p.connectedAt) {
		c.s.m.push.WithLabelValues(shortType(typeURL)).Observe(now.Sub(changedAt).Seconds())
	}
	p.mu.Lock()
	ts := p.typeStatus(typeURL)
	ts.Sent = version
	ts.Pushes++
	p.mu.Unlock()
	c.s.m.pushes.WithLabelValues(shortType(typeURL)).Inc()
	switch typeURL {
	case resource.ClusterType:
		// Sending happens right after this call on the same goroutine, so
		// anything the second step queues leaves after these clusters.
		p.group.clustersSent(p, version)
	case resource.EndpointType:
		p.group.endpointsSent(p)
	}
}

// State of the world.

func (c callbacks) OnStreamOpen(_ context.Context, id int64, _ string) error {
	return c.open(id, false)
}
func (c callbacks) OnStreamClosed(id int64, _ *corev3.Node) { c.closed(id, false) }

func (c callbacks) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	st := c.stream(id, false)
	if st == nil {
		return status.Error(codes.Internal, "unknown stream")
	}
	if st.proxy == nil {
		if err := c.admit(st, req.GetNode()); err != nil {
			return err
		}
	}
	if t := req.GetTypeUrl(); t == resource.EndpointType || t == resource.ClusterType {
		names := req.GetResourceNames()
		if t == resource.EndpointType {
			g := st.proxy.group
			g.intern(names)
			ask := g.ask(st.eds, names)
			if ask.names != nil {
				names = ask.names.list
			}
			// The names leave the request: go-control-plane would make a
			// set of them for every request of every stream, and only the
			// group's endpoint cache reads them (edscache.go), from ask.
			// The watch this request opens finds ask through it
			// (muxCache.CreateWatch); a request go-control-plane ignores
			// (stale nonce) is forgotten with the next one.
			req.ResourceNames = nil
			if st.edsReq != nil {
				c.s.reqs.Delete(st.edsReq)
			}
			st.edsReq = req
			c.s.reqs.Store(req, ask)
		}
		st.proxy.group.requested(st.proxy, t, names, nil, nil, false)
	}
	if k, ok := wildKind(req.GetTypeUrl()); ok {
		// The watch finds the stream through its request (a wildcard one
		// is answered by the group: wildcard.go).
		if r := st.wildReq[k]; r != nil {
			c.s.reqs.Delete(r)
		}
		st.wildReq[k] = req
		c.s.reqs.Store(req, st)
	}
	nack := req.GetErrorDetail() != nil
	if req.GetTypeUrl() == resource.ClusterType && req.GetResponseNonce() == "" && req.GetVersionInfo() != "" && !nack {
		// A reconnecting Envoy says which clusters it holds; the cache will
		// not send that version again.
		st.proxy.group.clustersHeld(st.proxy, req.GetVersionInfo())
	}
	if v := c.request(st, req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail().GetMessage(), nack); v != "" {
		// The NACK guard: go-control-plane's snapshot cache answers at once
		// whenever the request's version differs from the snapshot's, and a
		// NACK carries the previous good version, so without this it would
		// resend the rejected version in a loop.
		req.VersionInfo = v
	}
	return nil
}

func (c callbacks) OnStreamResponse(_ context.Context, id int64, req *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	if st := c.stream(id, false); st != nil {
		if st.proxy != nil {
			if k, ok := wildKind(req.GetTypeUrl()); ok {
				st.proxy.group.wildSent(st, k, resp)
			}
			switch req.GetTypeUrl() {
			case resource.ClusterType:
				st.proxy.group.clustersModified(st.proxy, resp.GetVersionInfo(), resp.GetResources())
			case resource.EndpointType:
				st.proxy.group.sotwSent(st.eds, resp)
				st.proxy.group.endpointsResent(st.proxy, func() []string { return claNames(resp.GetResources()) })
			}
		}
		c.response(st, req.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
	}
}

// Delta.

func (c callbacks) OnDeltaStreamOpen(_ context.Context, id int64, _ string) error {
	return c.open(id, true)
}
func (c callbacks) OnDeltaStreamClosed(id int64, _ *corev3.Node) { c.closed(id, true) }

func (c callbacks) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	st := c.stream(id, true)
	if st == nil {
		return status.Error(codes.Internal, "unknown stream")
	}
	if st.proxy == nil {
		if err := c.admit(st, req.GetNode()); err != nil {
			return err
		}
	}
	if t := req.GetTypeUrl(); t == resource.EndpointType || t == resource.ClusterType {
		if t == resource.EndpointType {
			st.proxy.group.intern(req.GetResourceNamesSubscribe())
		}
		st.proxy.group.requested(st.proxy, t, nil, req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), true)
	}
	// Delta needs no guard: the cache diffs against what it has sent, so a
	// NACK produces no response until something changes.
	c.request(st, req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
	return nil
}

func (c callbacks) OnStreamDeltaResponse(id int64, req *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	if st := c.stream(id, true); st != nil {
		if st.proxy != nil {
			switch req.GetTypeUrl() {
			case resource.ClusterType:
				st.proxy.group.deltaClustersModified(st.proxy, resp.GetResources())
			case resource.EndpointType:
				st.proxy.group.endpointsResent(st.proxy, func() []string {
					names := make([]string, 0, len(resp.GetResources()))
					for _, r := range resp.GetResources() {
						names = append(names, r.GetName())
					}
					return names
				})
			}
		}
		c.response(st, req.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
	}
}

// REST is not served.

func (c callbacks) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "REST xDS is not served")
}
func (c callbacks) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}

// muxCache sends endpoint watches to the node's group and everything else to
// the snapshot cache.
type muxCache struct{ s *Server }

var _ cache.Cache = muxCache{}

func (m muxCache) CreateWatch(req *cache.Request, sub cache.Subscription, ch chan cache.Response) (func(), error) {
	if k, ok := wildKind(req.GetTypeUrl()); ok {
		v, _ := m.s.reqs.LoadAndDelete(req)
		st, _ := v.(*stream)
		if p := m.s.proxyOf(req.GetNode().GetId()); p != nil && st != nil {
			if sub.IsWildcard() {
				return p.group.wildWatch(p, st, k, req, ch)
			}
			p.group.wildReset(st, k)
		}
	}
	if req.GetTypeUrl() != resource.EndpointType {
		return m.s.snaps.CreateWatch(req, sub, ch)
	}
	v, ok := m.s.reqs.LoadAndDelete(req)
	if !ok {
		return nil, status.Error(codes.Internal, "endpoint request of an unknown stream")
	}
	ask := v.(edsAsk)
	g := m.s.groupOf(req.GetNode().GetId())
	if g == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "node %q is not connected", req.GetNode().GetId())
	}
	return g.watchEndpoints(&parkedWatch{req: req, sub: sub, ch: ch, ask: ask})
}

func (m muxCache) CreateDeltaWatch(req *cache.DeltaRequest, sub cache.Subscription, ch chan cache.DeltaResponse) (func(), error) {
	if req.GetTypeUrl() != resource.EndpointType {
		return m.s.snaps.CreateDeltaWatch(req, sub, ch)
	}
	p := m.s.proxyOf(req.GetNode().GetId())
	if p == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "node %q is not connected", req.GetNode().GetId())
	}
	return p.group.watchEndpoints(&parkedWatch{deltaReq: req, sub: resendSub{sub, p}, deltaCh: ch})
}

func (m muxCache) Fetch(context.Context, *cache.Request) (cache.Response, error) {
	return nil, status.Error(codes.Unimplemented, "REST xDS is not served")
}
