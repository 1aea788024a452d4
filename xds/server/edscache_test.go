package server

import (
	"slices"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// rawEDS is a state-of-the-world ADS stream on which a test writes each
// endpoint request itself (names, version, nonce) over real gRPC.
type rawEDS struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   string
}

func dialRawEDS(t *testing.T, h *harness, pod string) *rawEDS {
	t.Helper()
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(h.cc).StreamAggregatedResources(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.CloseSend() })
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: gatewayNode(pod), TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	return &rawEDS{t: t, stream: s, node: pod}
}

// ask sends an endpoint request.
func (r *rawEDS) ask(version, nonce string, names ...string) {
	r.t.Helper()
	if err := r.stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names}); err != nil {
		r.t.Fatal(err)
	}
}

// next is the next endpoint response and the names it carries (cluster
// responses are skipped).
func (r *rawEDS) next() (*discoveryv3.DiscoveryResponse, []string) {
	r.t.Helper()
	for {
		resp, err := r.stream.Recv()
		if err != nil {
			r.t.Fatalf("%s: %v", r.node, err)
		}
		if resp.GetTypeUrl() != resource.EndpointType {
			continue
		}
		var names []string
		for _, a := range resp.GetResources() {
			var cla endpointv3.ClusterLoadAssignment
			if err := proto.Unmarshal(a.GetValue(), &cla); err != nil {
				r.t.Fatal(err)
			}
			names = append(names, cla.GetClusterName())
		}
		slices.Sort(names)
		return resp, names
	}
}

func (r *rawEDS) expect(what string, want ...string) *discoveryv3.DiscoveryResponse {
	r.t.Helper()
	resp, got := r.next()
	if !slices.Equal(got, want) {
		r.t.Fatalf("%s: %s: got endpoints %v, want %v", r.node, what, got, want)
	}
	return resp
}

// TestSotWEndpointStreamsHoldApart: what a state-of-the-world stream holds
// of its group's endpoints is its own (edsStream, not go-control-plane's
// per-stream map): streams of one group, or of one node, that share the
// group's copy of the names they ask for, each get what they do not hold;
// a name a stream stops asking for and asks for again is sent again to it
// alone; an endpoint change reaches each stream once, with only what
// changed. Absence is checked by order: a stream's next response after a
// request that must be answered by nothing is the one the next change
// makes.
func TestSotWEndpointStreamsHoldApart(t *testing.T) {
	h := newHarness(t, Options{Envoy: fakeTranslate})
	cs := baseCluster()
	h.srv.Update(mesh(cs))
	echo, web := "outbound|8080||echo.default.svc.cluster.local", "outbound|80||web.default.svc.cluster.local"

	a := dialRawEDS(t, h, "gw-a")
	b := dialRawEDS(t, h, "gw-b")
	a.ask("", "", web, echo)
	ra := a.expect("first request", echo, web)
	b.ask("", "", web, echo)
	rb := b.expect("first request", echo, web)
	if ra.GetVersionInfo() != rb.GetVersionInfo() {
		t.Errorf("same names, same state: versions %q and %q", ra.GetVersionInfo(), rb.GetVersionInfo())
	}

	// a lets go of web (nothing to send) and asks for it again: it is sent
	// again, alone. b ACKs: nothing.
	a.ask(ra.GetVersionInfo(), ra.GetNonce(), echo)
	a.ask(ra.GetVersionInfo(), ra.GetNonce(), web, echo)
	ra = a.expect("web asked for again", web)
	a.ask(ra.GetVersionInfo(), ra.GetNonce(), web, echo)
	b.ask(rb.GetVersionInfo(), rb.GetNonce(), web, echo)

	// A second stream of node gw-b (a reconnect that overlaps the old
	// stream) holds nothing: it gets everything, and the first stream
	// nothing more.
	b2 := dialRawEDS(t, h, "gw-b")
	b2.ask("", "", web, echo)
	rb2 := b2.expect("second stream of a node", echo, web)
	b2.ask(rb2.GetVersionInfo(), rb2.GetNonce(), web, echo)

	// One endpoint change: each stream gets echo, once.
	cs.Services[0] = service("echo", "default", 8080, "10.0.0.1:8080", "10.0.0.3:8080")
	h.srv.Update(mesh(cs))
	ra = a.expect("after the change (a)", echo)
	prevB := rb.GetVersionInfo()
	rb = b.expect("after the change (b)", echo)
	rb2 = b2.expect("after the change (b2)", echo)
	for _, r := range []*discoveryv3.DiscoveryResponse{rb, rb2} {
		if r.GetVersionInfo() != ra.GetVersionInfo() {
			t.Errorf("same names, same state: versions %q and %q", ra.GetVersionInfo(), r.GetVersionInfo())
		}
	}

	// b NACKs that version (holding the one before): nothing is sent again
	// until the next change, which brings web only, to every stream.
	a.ask(ra.GetVersionInfo(), ra.GetNonce(), web, echo)
	if err := b.stream.Send(&discoveryv3.DiscoveryRequest{
		TypeUrl: resource.EndpointType, VersionInfo: prevB, ResponseNonce: rb.GetNonce(),
		ResourceNames: []string{web, echo}, ErrorDetail: &rpcstatus.Status{Code: 3, Message: "rejected"},
	}); err != nil {
		t.Fatal(err)
	}
	b2.ask(rb2.GetVersionInfo(), rb2.GetNonce(), web, echo)
	cs.Services[1] = service("web", "default", 80, "10.0.1.2:9090")
	h.srv.Update(mesh(cs))
	a.expect("second change (a)", web)
	b.expect("second change (b, after its NACK)", web)
	b2.expect("second change (b2)", web)
}

// nextOf is the stream's next response of typeURL (others are skipped).
func (r *rawEDS) nextOf(typeURL string) *discoveryv3.DiscoveryResponse {
	r.t.Helper()
	for {
		resp, err := r.stream.Recv()
		if err != nil {
			r.t.Fatalf("%s: %v", r.node, err)
		}
		if resp.GetTypeUrl() == typeURL {
			return resp
		}
	}
}

// TestSotWWildcardStreamsHoldApart: wildcard clusters are answered by the
// group (wildcard.go), each stream holding the version it was sent: a
// second stream of a node gets the clusters although the first holds them,
// a stream whose first request carries the published version (a gateway
// that moved here) gets nothing, an ACK gets nothing; a cluster change
// reaches each stream once, with one version. Absence is checked by order:
// each stream's next cluster response is the change's.
func TestSotWWildcardStreamsHoldApart(t *testing.T) {
	h := newHarness(t, Options{Envoy: fakeTranslate})
	cs := baseCluster()
	h.srv.Update(mesh(cs))

	a := dialRawEDS(t, h, "gw-a") // asks for clusters, version ""
	ra := a.nextOf(resource.ClusterType)
	if len(ra.GetResources()) != 2 {
		t.Fatalf("first cluster response carries %d clusters, want 2", len(ra.GetResources()))
	}
	ack := func(r *rawEDS, resp *discoveryv3.DiscoveryResponse) {
		t.Helper()
		if err := r.stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.ClusterType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}
	ack(a, ra)
	a2 := dialRawEDS(t, h, "gw-a")
	ra2 := a2.nextOf(resource.ClusterType)
	if ra2.GetVersionInfo() != ra.GetVersionInfo() || len(ra2.GetResources()) != 2 {
		t.Fatalf("second stream of a node: version %q with %d clusters, want %q with 2", ra2.GetVersionInfo(), len(ra2.GetResources()), ra.GetVersionInfo())
	}
	ack(a2, ra2)

	moved, err := discoveryv3.NewAggregatedDiscoveryServiceClient(h.cc).StreamAggregatedResources(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = moved.CloseSend() })
	if err := moved.Send(&discoveryv3.DiscoveryRequest{Node: gatewayNode("gw-m"), TypeUrl: resource.ClusterType, VersionInfo: ra.GetVersionInfo()}); err != nil {
		t.Fatal(err)
	}
	m := &rawEDS{t: t, stream: moved, node: "gw-m"}

	cs.Services = append(cs.Services, service("api", "default", 8081, "10.0.2.1:8081"))
	h.srv.Update(mesh(cs))
	var version string
	for _, r := range []*rawEDS{a, a2, m} {
		resp := r.nextOf(resource.ClusterType)
		if resp.GetVersionInfo() == ra.GetVersionInfo() {
			t.Fatalf("%s: sent version %q again (held)", r.node, ra.GetVersionInfo())
		}
		if version == "" {
			version = resp.GetVersionInfo()
		} else if resp.GetVersionInfo() != version {
			t.Errorf("%s: version %q after the change, another stream %q", r.node, resp.GetVersionInfo(), version)
		}
		if len(resp.GetResources()) != 3 {
			t.Errorf("%s: %d clusters after the change, want 3", r.node, len(resp.GetResources()))
		}
	}
}
