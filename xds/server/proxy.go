package server

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// proxy is one connected node (one or more streams with the same node id).
type proxy struct {
	id          string
	node        Node
	group       *group
	connectedAt time.Time
	streams     int // guarded by Server.mu

	// cdsWatched is set once the node asks for clusters: only then is a
	// staged update (make-before-break) waited on.
	cdsWatched atomic.Bool

	// Guarded by group.mu: the make-before-break state (see stage.go).
	published *build // what the snapshot cache holds for this node
	pending   *build // target of a staged update, nil when none
	phase     phase
	stage1CDS string // cluster version whose sending ends step 1
	sentCDS   string // cluster version last sent
	// sentClusters is the version of the last state-of-the-world cluster
	// response whose clusters are known (group.sentClusters); heldCDS the
	// version a stream's first cluster request said it holds, until a
	// cluster response is sent (clustersHeld).
	sentClusters string
	heldCDS      string
	// The names the node asks for, by type URL (clusters and endpoints):
	// sotwNames is the last state-of-the-world request's list (shared with
	// the request, which go-control-plane keeps anyway), subscribed the set
	// a delta stream built up (see subscribedLocked). waitEDS are endpoints
	// step 1 waits for, advanceOnEDS says the next endpoint response ends
	// it; waitGone are clusters step 3 waits for a gRPC client to stop
	// asking for.
	sotwNames    map[string][]string
	subscribed   map[string]map[string]bool
	waitEDS      map[string]bool
	advanceOnEDS bool
	waitGone     map[string]bool
	// edsResend are endpoint resources the proxy's stream must get again
	// although it holds them (clustersModified, deltaClustersModified): the
	// endpoint caches do not see them among what the stream holds
	// (sotwRespondLocked, resendSub) until a response carries them
	// (endpointsResent). Replaced, never modified, under group.mu; read by
	// the delta endpoint cache without it.
	edsResend atomic.Pointer[map[string]struct{}]

	// wild are the open wildcard cluster and listener watches of the
	// proxy's streams (wildcard.go); guarded by group.mu.
	wild map[*wildWatch]struct{}

	mu           sync.Mutex
	pubChangedAt [numKinds]time.Time
	pubOrigins   [numKinds]origins
	// converged is, by origin cluster, the newest origin change counted in
	// meshgate_mesh_convergence_seconds for this proxy (convergence.go).
	converged map[string]time.Time
	types     map[string]*typeStatus // by type URL
}

// typeStatus is what one proxy has been sent and has acknowledged of a type.
type typeStatus struct {
	Sent     string    `json:"sent,omitempty"`
	Acked    string    `json:"acked,omitempty"`
	Pushes   int       `json:"pushes"`
	NACKs    int       `json:"nacks,omitempty"`
	LastNACK *nackInfo `json:"lastNack,omitempty"`
	// observed is the change time last fed to the ack-latency histogram.
	observed time.Time
}

type nackInfo struct {
	Version string    `json:"version"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

func (p *proxy) typeStatus(typeURL string) *typeStatus {
	if p.types == nil {
		p.types = map[string]*typeStatus{}
	}
	ts := p.types[typeURL]
	if ts == nil {
		ts = &typeStatus{}
		p.types[typeURL] = ts
	}
	return ts
}

// changedAt is when the change behind the content of typeURL now published
// to the proxy arrived (zero when unknown), and the clusters whose changes
// that content carries (convergence.go).
func (p *proxy) changedAt(typeURL string) (time.Time, origins) {
	if typeURL == resource.EndpointType {
		var o origins
		if po := p.group.edsOrigins.Load(); po != nil {
			o = *po
		}
		if n := p.group.edsChangedAt.Load(); n != 0 {
			return time.Unix(0, n), o
		}
		return time.Time{}, o
	}
	for k := range numKinds {
		if kindTypeURL[k] == typeURL {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.pubChangedAt[k], p.pubOrigins[k]
		}
	}
	return time.Time{}, nil
}

// attach registers a stream's node: a new proxy (and group) or one more
// stream of a known proxy. A node id already connected with other metadata
// is refused.
func (s *Server) attach(n Node) (*proxy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := n.groupKey()
	if p := s.proxies[n.ID]; p != nil {
		if p.group.key != key {
			return nil, status.Errorf(codes.FailedPrecondition, "node %q is already connected with different metadata", n.ID)
		}
		p.streams++
		return p, nil
	}
	g := s.groups[key]
	created := g == nil
	if created {
		g = newGroup(s, key, n)
		s.groups[key] = g
	}
	p := &proxy{id: n.ID, node: n, group: g, connectedAt: time.Now(), streams: 1}
	s.proxies[n.ID] = p
	g.mu.Lock()
	g.members[p.id] = p
	g.publishLocked(p)
	g.mu.Unlock()
	s.m.connected.Inc()
	s.log.Info("proxy connected", "proxy", n.ID, "generator", n.Generator, "namespace", n.Namespace, "network", n.Network, "cluster", n.ClusterID)
	if created {
		s.deb.Trigger() // first build for the new group
	}
	return p, nil
}

// detach drops one stream of p; the last one removes the proxy and its
// snapshot, and an empty group.
func (s *Server) detach(p *proxy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.streams--
	if p.streams > 0 {
		return
	}
	delete(s.proxies, p.id)
	g := p.group
	g.mu.Lock()
	delete(g.members, p.id)
	s.snaps.ClearSnapshot(p.id)
	empty := len(g.members) == 0
	g.mu.Unlock()
	if empty && s.groups[g.key] == g {
		delete(s.groups, g.key)
	}
	s.m.connected.Dec()
	s.log.Info("proxy disconnected", "proxy", p.id)
}

func (s *Server) groupOf(nodeID string) *group {
	if p := s.proxyOf(nodeID); p != nil {
		return p.group
	}
	return nil
}

func (s *Server) proxyOf(nodeID string) *proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxies[nodeID]
}

// ProxyStatus is the state of one connected proxy (for /debug/proxies).
type ProxyStatus struct {
	ID          string                 `json:"id"`
	Generator   string                 `json:"generator,omitempty"`
	Namespace   string                 `json:"namespace"`
	Labels      map[string]string      `json:"labels,omitempty"`
	Network     string                 `json:"network,omitempty"`
	ClusterID   string                 `json:"clusterID"`
	RouterMode  string                 `json:"routerMode,omitempty"`
	ConnectedAt time.Time              `json:"connectedAt,omitzero"`
	Streams     int                    `json:"streams"`
	Staged      bool                   `json:"staged,omitempty"`
	Types       map[string]*typeStatus `json:"types,omitempty"` // by short type name
}

// Proxies returns the connected proxies sorted by id.
func (s *Server) Proxies() []ProxyStatus {
	s.mu.Lock()
	ps := slices.Collect(maps.Values(s.proxies))
	streams := make(map[string]int, len(ps))
	for _, p := range ps {
		streams[p.id] = p.streams
	}
	s.mu.Unlock()
	slices.SortFunc(ps, func(a, b *proxy) int {
		if a.id < b.id {
			return -1
		}
		if a.id > b.id {
			return 1
		}
		return 0
	})
	out := make([]ProxyStatus, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.status(streams[p.id]))
	}
	return out
}

func (p *proxy) status(streams int) ProxyStatus {
	p.group.mu.Lock()
	staged := p.pending != nil
	p.group.mu.Unlock()
	st := ProxyStatus{
		ID: p.id, Generator: p.node.Generator, Namespace: p.node.Namespace, Labels: p.node.Labels,
		Network: p.node.Network, ClusterID: p.node.ClusterID, RouterMode: p.node.RouterMode,
		ConnectedAt: p.connectedAt, Streams: streams, Staged: staged, Types: map[string]*typeStatus{},
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for t, ts := range p.types {
		cp := *ts
		if ts.LastNACK != nil {
			n := *ts.LastNACK
			cp.LastNACK = &n
		}
		st.Types[shortType(t)] = &cp
	}
	return st
}

// Proxy returns the status of one connected proxy.
func (s *Server) Proxy(id string) (ProxyStatus, bool) {
	s.mu.Lock()
	p := s.proxies[id]
	var streams int
	if p != nil {
		streams = p.streams
	}
	s.mu.Unlock()
	if p == nil {
		return ProxyStatus{}, false
	}
	return p.status(streams), true
}
