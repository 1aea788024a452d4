package adstest

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Event is one response as the client received it.
type Event struct {
	Type    string
	Version string
	Names   []string // resources in the response (delta: added or updated)
	Removed []string // delta only
	NACKed  bool
}

// State is what the client holds. Resources maps type URL → name → message.
type State struct {
	Resources map[string]map[string]proto.Message
	Versions  map[string]string // last applied version (delta: system version)
	Responses map[string]int    // responses received, by type
	Log       []Event
	Err       error // why the stream ended, if it did
}

// Count returns the responses received for a type.
func (s State) Count(typeURL string) int { return s.Responses[typeURL] }

// Client is one ADS stream.
type Client struct {
	node   *corev3.Node
	delta  bool
	cancel context.CancelFunc
	sotw   discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	dlt    discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient

	mu       sync.Mutex
	st       State
	changed  chan struct{}
	nackNext map[string]string
	sent     bool // node sent in the first request
	// per type: subscribed names (nil = wildcard), last nonce
	names  map[string]map[string]bool
	nonces map[string]string
	done   chan struct{}
	only   map[string]bool // types the client subscribes to; nil: all
}

// Option adjusts a Client.
type Option func(*Client)

// Types restricts the client to these type URLs: it subscribes to no other
// (default: listeners, clusters, routes, endpoints and secrets). A client
// that follows clusters and their endpoints only is Types(ClusterType,
// EndpointType).
func Types(typeURLs ...string) Option {
	return func(c *Client) {
		c.only = map[string]bool{}
		for _, t := range typeURLs {
			c.only[t] = true
		}
	}
}

// Resume makes a state-of-the-world client start as Envoy does when it
// reconnects: holding st's resources, its first requests carry st's versions
// (so a server that still has those versions need not answer them).
func Resume(st State) Option {
	return func(c *Client) {
		c.st.Versions = maps.Clone(st.Versions)
		for t, m := range st.Resources {
			c.st.Resources[t] = maps.Clone(m)
		}
	}
}

// Dial opens an ADS stream on cc as node and subscribes like Envoy.
func Dial(ctx context.Context, cc grpc.ClientConnInterface, node *corev3.Node, delta bool, opts ...Option) (*Client, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := &Client{
		node: node, delta: delta, cancel: cancel,
		st: State{
			Resources: map[string]map[string]proto.Message{},
			Versions:  map[string]string{},
			Responses: map[string]int{},
		},
		changed:  make(chan struct{}),
		nackNext: map[string]string{},
		names:    map[string]map[string]bool{},
		nonces:   map[string]string{},
		done:     make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(cc)
	var err error
	if delta {
		c.dlt, err = ads.DeltaAggregatedResources(ctx)
	} else {
		c.sotw, err = ads.StreamAggregatedResources(ctx)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	c.mu.Lock()
	// Envoy asks for clusters first, then listeners, both wildcard (and,
	// resuming, for the routes, endpoints and secrets they name).
	err = errors.Join(c.subscribeLocked(resource.ClusterType, nil, nil), c.subscribeLocked(resource.ListenerType, nil, nil))
	if len(c.st.Versions) > 0 && err == nil {
		err = c.followLocked(resource.ClusterType)
	}
	c.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) { // EOF: the server ended the stream; Recv tells why
		cancel()
		return nil, err
	}
	go c.recvLoop()
	return c, nil
}

// Close ends the stream.
func (c *Client) Close() {
	c.cancel()
	<-c.done
}

// Done is closed when the stream has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// NACKNext makes the client reject the next response of typeURL with msg.
func (c *Client) NACKNext(typeURL, msg string) {
	c.mu.Lock()
	c.nackNext[typeURL] = msg
	c.mu.Unlock()
}

// State returns a copy of the current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.copyLocked()
}

func (c *Client) copyLocked() State {
	out := State{
		Resources: make(map[string]map[string]proto.Message, len(c.st.Resources)),
		Versions:  maps.Clone(c.st.Versions),
		Responses: maps.Clone(c.st.Responses),
		Log:       slices.Clone(c.st.Log),
		Err:       c.st.Err,
	}
	for t, m := range c.st.Resources {
		out.Resources[t] = maps.Clone(m)
	}
	return out
}

// WaitFor blocks until cond holds for the state, the stream ends, or ctx is
// done; it returns the state that satisfied cond.
func (c *Client) WaitFor(ctx context.Context, cond func(State) bool) (State, error) {
	for {
		c.mu.Lock()
		st := c.copyLocked()
		ch := c.changed
		c.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		if st.Err != nil {
			return st, st.Err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-ch:
		}
	}
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) recvLoop() {
	defer close(c.done)
	var err error
	for err == nil || errors.Is(err, io.EOF) {
		// A Send that fails with EOF means the server ended the stream; the
		// next Recv returns the status it ended it with.
		if c.delta {
			var r *discoveryv3.DeltaDiscoveryResponse
			if r, err = c.dlt.Recv(); err == nil {
				err = c.onDelta(r)
			} else {
				break
			}
		} else {
			var r *discoveryv3.DiscoveryResponse
			if r, err = c.sotw.Recv(); err == nil {
				err = c.onSotW(r)
			} else {
				break
			}
		}
	}
	c.mu.Lock()
	c.st.Err = err
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *Client) takeNACK(typeURL string) string {
	msg := c.nackNext[typeURL]
	delete(c.nackNext, typeURL)
	return msg
}

func (c *Client) onSotW(r *discoveryv3.DiscoveryResponse) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := r.GetTypeUrl()
	c.st.Responses[t]++
	c.nonces[t] = r.GetNonce()
	ev := Event{Type: t, Version: r.GetVersionInfo()}
	msgs := map[string]proto.Message{}
	for _, a := range r.GetResources() {
		m, name, err := unpack(a)
		if err != nil {
			return err
		}
		msgs[name] = m
		ev.Names = append(ev.Names, name)
	}
	slices.Sort(ev.Names)
	if msg := c.takeNACK(t); msg != "" {
		ev.NACKed = true
		c.st.Log = append(c.st.Log, ev)
		c.notifyLocked()
		return c.sendSotWLocked(t, &rpcstatus.Status{Code: 3, Message: msg})
	}
	if t == resource.ListenerType || t == resource.ClusterType || c.st.Resources[t] == nil {
		c.st.Resources[t] = msgs // full state (or first response)
	} else {
		for n, m := range msgs {
			c.st.Resources[t][n] = m
		}
	}
	c.st.Versions[t] = r.GetVersionInfo()
	c.st.Log = append(c.st.Log, ev)
	err := c.sendSotWLocked(t, nil) // ACK
	if err == nil {
		err = c.followLocked(t)
	}
	c.notifyLocked()
	return err
}

func (c *Client) sendSotWLocked(t string, detail *rpcstatus.Status) error {
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl:       t,
		VersionInfo:   c.st.Versions[t],
		ResponseNonce: c.nonces[t],
		ResourceNames: slices.Sorted(maps.Keys(c.names[t])),
		ErrorDetail:   detail,
	}
	if !c.sent {
		req.Node, c.sent = c.node, true
	}
	return c.sotw.Send(req)
}

func (c *Client) onDelta(r *discoveryv3.DeltaDiscoveryResponse) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := r.GetTypeUrl()
	c.st.Responses[t]++
	ev := Event{Type: t, Version: r.GetSystemVersionInfo(), Removed: slices.Clone(r.GetRemovedResources())}
	msgs := map[string]proto.Message{}
	for _, res := range r.GetResources() {
		m, name, err := unpack(res.GetResource())
		if err != nil {
			return err
		}
		msgs[name] = m
		ev.Names = append(ev.Names, name)
	}
	slices.Sort(ev.Names)
	if msg := c.takeNACK(t); msg != "" {
		ev.NACKed = true
		c.st.Log = append(c.st.Log, ev)
		c.notifyLocked()
		return c.dlt.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: r.GetNonce(),
			ErrorDetail: &rpcstatus.Status{Code: 3, Message: msg}})
	}
	if c.st.Resources[t] == nil {
		c.st.Resources[t] = map[string]proto.Message{}
	}
	for n, m := range msgs {
		c.st.Resources[t][n] = m
	}
	for _, n := range r.GetRemovedResources() {
		delete(c.st.Resources[t], n)
	}
	c.st.Versions[t] = r.GetSystemVersionInfo()
	c.st.Log = append(c.st.Log, ev)
	err := c.dlt.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: r.GetNonce()})
	if err == nil {
		err = c.followLocked(t)
	}
	c.notifyLocked()
	return err
}

// followLocked updates the subscriptions that depend on type t, as Envoy
// does: routes and secrets named by listeners, endpoints and secrets named by
// clusters.
func (c *Client) followLocked(t string) error {
	if t != resource.ListenerType && t != resource.ClusterType {
		return nil
	}
	refs := References(values(c.st.Resources[resource.ListenerType]), values(c.st.Resources[resource.ClusterType]))
	return errors.Join(
		c.subscribeLocked(resource.RouteType, refs.Routes, c.names[resource.RouteType]),
		c.subscribeLocked(resource.EndpointType, refs.Endpoints, c.names[resource.EndpointType]),
		c.subscribeLocked(resource.SecretType, refs.Secrets, c.names[resource.SecretType]),
	)
}

func values(m map[string]proto.Message) []proto.Message {
	return slices.Collect(maps.Values(m))
}

// subscribeLocked sends a request when the wanted names of t differ from the
// current ones. want nil with have nil on the first call is a wildcard.
func (c *Client) subscribeLocked(t string, want, have map[string]bool) error {
	if c.only != nil && !c.only[t] {
		return nil
	}
	_, known := c.names[t]
	if known && maps.Equal(want, have) {
		return nil
	}
	if !known && want != nil && len(want) == 0 {
		return nil // nothing to ask for yet
	}
	c.names[t] = want
	for n := range c.st.Resources[t] {
		if want != nil && !want[n] {
			delete(c.st.Resources[t], n)
		}
	}
	if !c.delta {
		return c.sendSotWLocked(t, nil)
	}
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t}
	for n := range want {
		if !have[n] {
			req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, n)
		}
	}
	for n := range have {
		if !want[n] {
			req.ResourceNamesUnsubscribe = append(req.ResourceNamesUnsubscribe, n)
		}
	}
	slices.Sort(req.ResourceNamesSubscribe)
	slices.Sort(req.ResourceNamesUnsubscribe)
	if !c.sent {
		req.Node, c.sent = c.node, true
	}
	return c.dlt.Send(req)
}

func unpack(a *anypb.Any) (proto.Message, string, error) {
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, "", err
	}
	return m, resourceName(m), nil
}
