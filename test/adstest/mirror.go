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
	"google.golang.org/grpc"
)

// Mirror is a light state-of-the-world stream for fleets of thousands of
// gateways in benchmarks: it subscribes at once to the names a full Client
// learned (Subscriptions of its State), ACKs every response without decoding
// it, and keeps only the last version and the response count of each type.
// The server sees what it sees from Envoy (the same subscriptions, ACKs); the
// benchmark does not pay for a thousand decoded configurations.
type Mirror struct {
	stream grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	cancel context.CancelFunc
	names  map[string][]string
	done   chan struct{}
	sendMu sync.Mutex // the first requests and the ACKs are sent from two goroutines

	mu       sync.Mutex
	versions map[string]string
	counts   map[string]int
	changed  chan struct{} // closed and replaced on every response
	err      error
}

// Subscriptions are the names a client holds by type URL, as a Mirror asks
// for them: nil for the wildcard types (listeners, clusters).
func (s State) Subscriptions() map[string][]string {
	out := map[string][]string{resource.ClusterType: nil, resource.ListenerType: nil}
	for _, t := range []string{resource.RouteType, resource.EndpointType, resource.SecretType} {
		if names := slices.Sorted(maps.Keys(s.Resources[t])); len(names) > 0 {
			out[t] = names
		}
	}
	return out
}

// DialMirror opens a state-of-the-world ADS stream on cc as node and asks
// for names (type URL → names; nil names: wildcard).
func DialMirror(ctx context.Context, cc grpc.ClientConnInterface, node *corev3.Node, names map[string][]string) (*Mirror, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	m := &Mirror{stream: stream, cancel: cancel, names: names, done: make(chan struct{}),
		versions: map[string]string{}, counts: map[string]int{}, changed: make(chan struct{})}
	// Receive from the start: a large response must not wait for the
	// last first request, nor that request for the response (flow control).
	go m.recvLoop()
	first := true
	// Envoy's order: clusters, listeners, then what they name.
	for _, t := range []string{resource.ClusterType, resource.ListenerType, resource.RouteType, resource.EndpointType, resource.SecretType} {
		ns, ok := names[t]
		if !ok {
			continue
		}
		req := &discoveryv3.DiscoveryRequest{TypeUrl: t, ResourceNames: ns}
		if first {
			req.Node, first = node, false
		}
		if err := m.send(req); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

func (m *Mirror) send(req *discoveryv3.DiscoveryRequest) error {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	return m.stream.Send(req)
}

func (m *Mirror) recvLoop() {
	defer close(m.done)
	for {
		r, err := m.stream.Recv()
		if err == nil {
			t := r.GetTypeUrl()
			err = m.send(&discoveryv3.DiscoveryRequest{TypeUrl: t, ResourceNames: m.names[t], VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce()})
			m.mu.Lock()
			m.versions[t] = r.GetVersionInfo()
			m.counts[t]++
			close(m.changed)
			m.changed = make(chan struct{})
			m.mu.Unlock()
		}
		if err != nil {
			m.mu.Lock()
			if !errors.Is(err, io.EOF) {
				m.err = err
			}
			close(m.changed)
			m.changed = make(chan struct{})
			m.mu.Unlock()
			return
		}
	}
}

// Count is the number of responses received (and ACKed) of typeURL.
func (m *Mirror) Count(typeURL string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[typeURL]
}

// WaitCount blocks until at least n responses of typeURL have been received
// and ACKed, the stream ends, or ctx is done.
func (m *Mirror) WaitCount(ctx context.Context, typeURL string, n int) error {
	for {
		m.mu.Lock()
		got, ch, err := m.counts[typeURL], m.changed, m.err
		m.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-m.done:
			if err == nil {
				err = io.EOF
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Close ends the stream.
func (m *Mirror) Close() {
	m.cancel()
	<-m.done
}
