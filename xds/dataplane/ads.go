package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// shortType names xDS types in metrics and logs.
var shortType = map[string]string{
	resourcev3.ListenerType: "lds", resourcev3.ClusterType: "cds",
	resourcev3.EndpointType: "eds", resourcev3.SecretType: "sds",
}

// initialFetchWarning is how long a stream may stay silent before a warning.
const initialFetchWarning = 15 * time.Second

// This is the product's ADS client; the tests have one of their own
// (test/adstest, also under the e2e workloads). They are kept apart on
// purpose: this one applies each response into the data path before it ACKs,
// reconnects with backoff, delays a repeated NACK and feeds metrics and
// /config_dump; the tests' client must instead expose the protocol itself
// (one stream whose end a test asserts, delta as well as state of the world,
// NACK on command, RDS, a log of every response). Sharing one would put test
// knobs into the gateway or hide from the tests what the server sends.

// subscription is the client side of one resource type on the ADS stream.
// version survives reconnects; nonce and sent are per stream.
type subscription struct {
	typeURL  string
	wildcard bool
	version  string   // last accepted version_info
	nonce    string   // last received nonce on this stream
	names    []string // resource names last requested on this stream
	sent     bool

	nackVersion string // version of the last rejected response
	nackCount   int    // consecutive rejections of nackVersion
	pending     *discoveryv3.DiscoveryRequest
	timer       *time.Timer
}

func (s *subscription) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.pending = nil
}

// adsStream is one StreamAggregatedResources call.
type adsStream struct {
	g      *Gateway
	stream grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	subs   map[string]*subscription
	nackCh chan string
}

// runADS keeps an ADS stream open until ctx is done, reconnecting with
// jittered exponential backoff. The last applied config keeps serving while
// the control plane is unreachable. It returns nil when ctx ends, or the
// error that keeps it from connecting at all.
func (g *Gateway) runADS(ctx context.Context) error {
	creds := insecure.NewCredentials()
	if g.cfg.XDSTLS != nil {
		creds = credentials.NewTLS(g.cfg.XDSTLS)
	}
	if g.ca != nil {
		// The secure port: first an SVID from the CA (the token proves who
		// we are), then ADS with it as client certificate.
		g.log.Info("obtaining the gateway's SVID from the CA", "ca", g.cfg.Identity.Address)
		select {
		case <-ctx.Done():
			return nil
		case <-g.ca.Ready():
		}
		creds = credentials.NewTLS(g.ca.TLSConfig())
	}
	// One connection per address: replicas of the daemon (behind a Service
	// in a cluster, listed one by one where there is none). A stream that
	// ends moves to the next address at once; only when every address
	// failed in a row does the gateway back off.
	addrs := g.cfg.XDSAddresses()
	clients := make([]discoveryv3.AggregatedDiscoveryServiceClient, len(addrs))
	for i, a := range addrs {
		conn, err := grpc.NewClient(a, grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(g.cfg.MaxMessageBytes)))
		if err != nil {
			return fmt.Errorf("xds client for %s: %w", a, err)
		}
		defer conn.Close()
		clients[i] = discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	}
	subs := map[string]*subscription{}
	for _, t := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.EndpointType, resourcev3.SecretType} {
		subs[t] = &subscription{typeURL: t, wildcard: t == resourcev3.ClusterType || t == resourcev3.ListenerType}
	}
	backoff := g.cfg.ReconnectBase
	cur, failed := 0, 0 // the address in use; addresses failed in a row
	for {
		g.setXDSServer(addrs[cur])
		got, err := g.runStream(ctx, clients[cur], subs, addrs[cur])
		g.m.xdsConnected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		if got {
			backoff = g.cfg.ReconnectBase
			failed = 0
		}
		failed++
		if permanent(err) {
			// The control plane refused this gateway (its node, its
			// identity): asking again at once cannot succeed.
			if !g.hasConfig() {
				return fmt.Errorf("the control plane at %s refused this gateway: %w", addrs[cur], err)
			}
			backoff = g.cfg.ReconnectMax // keep serving; ask again, slowly, in case it is fixed there
			failed = len(addrs)
		}
		prev := addrs[cur]
		cur = (cur + 1) % len(addrs)
		if failed < len(addrs) {
			// Another replica not tried since the last good stream: at once.
			g.m.xdsFailovers.Inc()
			g.log.Warn("ADS stream ended; serving the last config and moving to the next xDS address",
				"address", prev, "next", addrs[cur], "err", err)
			continue
		}
		failed = 0
		wait := backoff/2 + rand.N(backoff/2+1)
		if g.hasConfig() {
			g.log.Warn("ADS stream ended; serving the last config and reconnecting",
				"address", prev, "next", addrs[cur], "err", err, "retry_in", wait)
		} else {
			g.log.Warn("ADS stream ended before any config arrived; reconnecting",
				"address", prev, "next", addrs[cur], "err", err, "retry_in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, g.cfg.ReconnectMax)
	}
}

// setXDSServer marks addr as the xDS address in use (metric xds_server).
func (g *Gateway) setXDSServer(addr string) {
	for _, a := range g.cfg.XDSAddresses() {
		v := 0.0
		if a == addr {
			v = 1
		}
		g.m.xdsServer.WithLabelValues(a).Set(v)
	}
}

type recvResult struct {
	resp *discoveryv3.DiscoveryResponse
	err  error
}

// runStream runs one stream; got reports whether a response arrived.
func (g *Gateway) runStream(ctx context.Context, client discoveryv3.AggregatedDiscoveryServiceClient, subs map[string]*subscription, addr string) (got bool, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.StreamAggregatedResources(sctx)
	if err != nil {
		return false, err
	}
	g.m.xdsStreams.Inc()
	s := &adsStream{g: g, stream: stream, subs: subs, nackCh: make(chan string, 4*len(subs))}
	for _, sub := range subs {
		sub.stopTimer()
		sub.nonce, sub.sent, sub.names = "", false, nil
	}
	defer func() {
		for _, sub := range subs {
			sub.stopTimer()
		}
	}()
	// A Send that fails because the server ended the stream returns io.EOF;
	// the server's status (a refusal: not retried) is what Recv returns.
	sendFailed := func(err error) error {
		if errors.Is(err, io.EOF) {
			if _, rerr := stream.Recv(); rerr != nil {
				return rerr
			}
		}
		return err
	}
	for _, t := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if err := s.send(subs[t], nil); err != nil {
			return false, sendFailed(err)
		}
	}
	if err := s.syncSubscriptions(); err != nil {
		return false, sendFailed(err)
	}
	resumed := g.hasConfig()
	if resumed {
		// The stream is open and asks with the versions this gateway holds:
		// a server that holds the same (a replica fed the same state) has
		// nothing to send until something changes, and that is a connected
		// stream, not a silent one.
		g.m.xdsConnected.Set(1)
	}
	recv := receive(sctx, stream)
	// Once receive runs, the status after a failed Send is its last result.
	sendFailed = func(err error) error {
		if !errors.Is(err, io.EOF) {
			return err
		}
		for {
			select {
			case r := <-recv:
				if r.err != nil {
					return r.err
				}
			case <-ctx.Done():
				return err
			}
		}
	}
	// Like Envoy's initial_fetch_timeout warning: a control plane that has no
	// config for this node answers nothing at all.
	silent := time.NewTimer(initialFetchWarning)
	defer silent.Stop()
	for {
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-silent.C:
			if !got && !resumed {
				g.log.Warn("no xDS response yet; does the control plane know this node?",
					"node_id", g.cfg.NodeID, "address", addr, "waited", initialFetchWarning)
			}
		case r := <-recv:
			if r.err != nil {
				return got, r.err
			}
			got = true
			g.m.xdsConnected.Set(1)
			if err := s.handle(r.resp); err != nil {
				return got, sendFailed(err)
			}
		case t := <-s.nackCh:
			sub := subs[t]
			if sub.pending != nil && sub.pending.GetResponseNonce() == sub.nonce {
				req := sub.pending
				sub.pending, sub.timer = nil, nil
				if err := stream.Send(req); err != nil {
					return got, sendFailed(err)
				}
			}
		}
	}
}

// receive forwards the stream's responses (and its final error) until ctx ends.
func receive(ctx context.Context, stream grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]) <-chan recvResult {
	recv := make(chan recvResult)
	go func() {
		for {
			resp, err := stream.Recv()
			select {
			case recv <- recvResult{resp, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return recv
}

// request builds the next DiscoveryRequest of sub.
func (s *adsStream) request(sub *subscription, detail *rpcstatus.Status) *discoveryv3.DiscoveryRequest {
	return &discoveryv3.DiscoveryRequest{
		VersionInfo: sub.version, Node: s.g.node, ResourceNames: sub.names,
		TypeUrl: sub.typeURL, ResponseNonce: sub.nonce, ErrorDetail: detail,
	}
}

func (s *adsStream) send(sub *subscription, detail *rpcstatus.Status) error {
	sub.sent = true
	return s.stream.Send(s.request(sub, detail))
}

// syncSubscriptions asks for the EDS and SDS names the current clusters and
// listeners need, when they differ from what was last asked on this stream.
func (s *adsStream) syncSubscriptions() error {
	s.g.mu.Lock()
	want := map[string][]string{
		resourcev3.EndpointType: s.g.edsNamesLocked(),
		resourcev3.SecretType:   s.g.sdsNamesLocked(),
	}
	s.g.mu.Unlock()
	for _, t := range []string{resourcev3.EndpointType, resourcev3.SecretType} {
		sub, names := s.subs[t], want[t]
		if (!sub.sent && len(names) == 0) || (sub.sent && slices.Equal(names, sub.names)) {
			continue
		}
		sub.names = names
		if err := s.send(sub, nil); err != nil {
			return err
		}
	}
	return nil
}

// handle validates and applies one response, then ACKs or NACKs it.
func (s *adsStream) handle(resp *discoveryv3.DiscoveryResponse) error {
	g := s.g
	sub := s.subs[resp.GetTypeUrl()]
	if sub == nil {
		g.log.Warn("ignoring response of a type never requested", "type", resp.GetTypeUrl())
		return nil
	}
	sub.stopTimer()
	sub.nonce = resp.GetNonce()
	err := g.apply(resp, sub)
	g.mu.Lock()
	st := g.typeStatus(sub.typeURL)
	if err == nil {
		st.version, st.lastUpdated = resp.GetVersionInfo(), time.Now()
	} else {
		st.lastNACK, st.lastNACKAt, st.nackVersion = err.Error(), time.Now(), resp.GetVersionInfo()
		st.nackName, st.nackResource = "", nil
		if re, ok := err.(*resourceError); ok {
			st.nackName, st.nackResource = re.name, re.res
		}
	}
	g.mu.Unlock()
	if err == nil {
		return s.ack(sub, resp)
	}
	return s.nack(sub, resp, err)
}

// ack records an applied response, ACKs it and updates the EDS/SDS subscriptions.
func (s *adsStream) ack(sub *subscription, resp *discoveryv3.DiscoveryResponse) error {
	g, typ := s.g, shortType[sub.typeURL]
	if sub.version != resp.GetVersionInfo() {
		g.m.xdsVersion.DeleteLabelValues(typ, sub.version)
	}
	sub.version, sub.nackVersion, sub.nackCount = resp.GetVersionInfo(), "", 0
	g.m.xdsApplied.WithLabelValues(typ).Inc()
	g.m.xdsVersion.WithLabelValues(typ, sub.version).Set(1)
	g.log.Info("applied xDS config", "type", typ, "version", sub.version, "resources", len(resp.GetResources()))
	if err := s.send(sub, nil); err != nil {
		return err
	}
	return s.syncSubscriptions()
}

// nack sends a NACK with the error as error_detail (version_info stays the
// last accepted one). A version rejected again is NACKed after a growing delay.
func (s *adsStream) nack(sub *subscription, resp *discoveryv3.DiscoveryResponse, err error) error {
	g, typ := s.g, shortType[sub.typeURL]
	g.m.xdsNACKs.WithLabelValues(typ).Inc()
	g.log.Error("rejected xDS response; the previous config stays in place",
		"type", typ, "version", resp.GetVersionInfo(), "nonce", resp.GetNonce(), "err", err)
	detail := &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}
	repeat := resp.GetVersionInfo() == sub.nackVersion
	sub.nackVersion = resp.GetVersionInfo()
	if !repeat {
		sub.nackCount = 0
	}
	sub.nackCount++
	if !repeat {
		return s.send(sub, detail)
	}
	delay := min(g.cfg.NACKBase<<min(sub.nackCount-2, 20), g.cfg.NACKMax)
	sub.pending = s.request(sub, detail)
	sub.sent = true
	t := sub.typeURL
	sub.timer = time.AfterFunc(delay, func() {
		select {
		case s.nackCh <- t:
		default: // the loop re-checks pending on every wake-up; never block a timer
		}
	})
	return nil
}

// apply decodes, validates and applies a response of sub's type.
func (g *Gateway) apply(resp *discoveryv3.DiscoveryResponse, sub *subscription) error {
	switch sub.typeURL {
	case resourcev3.ListenerType:
		ls, err := decode(resp, func() *listenerv3.Listener { return &listenerv3.Listener{} })
		if err != nil {
			return err
		}
		return g.applyListeners(ls)
	case resourcev3.ClusterType:
		cs, err := decode(resp, func() *clusterv3.Cluster { return &clusterv3.Cluster{} })
		if err != nil {
			return err
		}
		return g.applyClusters(cs)
	case resourcev3.EndpointType:
		es, err := decode(resp, func() *endpointv3.ClusterLoadAssignment { return &endpointv3.ClusterLoadAssignment{} })
		if err != nil {
			return err
		}
		return g.applyEndpoints(es)
	case resourcev3.SecretType:
		ss, err := decode(resp, func() *tlsv3.Secret { return &tlsv3.Secret{} })
		if err != nil {
			return err
		}
		g.mu.Lock()
		wanted := g.sdsNamesLocked()
		g.mu.Unlock()
		return g.applySecrets(ss, wanted)
	}
	return fmt.Errorf("unsupported type %s", sub.typeURL)
}

// decode unpacks the resources of a response (bare, or wrapped in a
// discovery Resource), checking each one's type.
func decode[T proto.Message](resp *discoveryv3.DiscoveryResponse, mk func() T) ([]T, error) {
	out := make([]T, 0, len(resp.GetResources()))
	for i, a := range resp.GetResources() {
		if a.MessageName() == "envoy.service.discovery.v3.Resource" {
			r := &discoveryv3.Resource{}
			if err := a.UnmarshalTo(r); err != nil {
				return nil, fmt.Errorf("resources[%d]: %v", i, err)
			}
			a = r.GetResource()
		}
		if a == nil || "type.googleapis.com/"+string(a.MessageName()) != resp.GetTypeUrl() {
			return nil, fmt.Errorf("resources[%d]: type %s in a %s response", i, typeOf(a), resp.GetTypeUrl())
		}
		m := mk()
		if err := a.UnmarshalTo(m); err != nil {
			return nil, fmt.Errorf("resources[%d]: %v", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func typeOf(a *anypb.Any) string {
	if a == nil {
		return "(none)"
	}
	return a.GetTypeUrl()
}

// permanent reports a stream error that asking again cannot cure: the
// control plane refused the node or the caller's identity (InvalidArgument,
// PermissionDenied). Unavailable, Unauthenticated (a token may be renewed),
// ResourceExhausted and the rest are retried.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.PermissionDenied:
		return true
	}
	return false
}

// hasConfig reports whether a listener or cluster configuration was applied.
func (g *Gateway) hasConfig() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gotLDS || g.gotCDS
}
