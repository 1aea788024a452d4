package model

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"
)

// Well-known labels and annotations (Istio's names, for interop).
const (
	LabelNetwork = "topology.istio.io/network"
	// Topology labels: where a Node (or, Istio's way, a workload) runs.
	LabelRegion      = "topology.kubernetes.io/region"
	LabelZone        = "topology.kubernetes.io/zone"
	LabelSubzone     = "topology.istio.io/subzone"
	LabelCluster     = "topology.istio.io/cluster"
	LabelHostname    = "kubernetes.io/hostname"
	LabelGatewayPort = "networking.istio.io/gatewayPort"
	LabelTLSMode     = "security.istio.io/tlsMode"
	TLSModeIstio     = "istio"
	// DefaultGatewayPort is the east-west gateway port when no label overrides it.
	DefaultGatewayPort = 15443
)

// MeshState is everything the translator knows: one ClusterState per cluster.
// Routing configuration (Gateways, VirtualServices, DestinationRules,
// ServiceEntries, Secrets) is taken from the local cluster only, as istiod does
// in a multi-primary mesh; services and endpoints come from every cluster.
type MeshState struct {
	MeshID       string          `json:"meshID,omitempty"`
	LocalCluster string          `json:"localCluster"`
	Clusters     []*ClusterState `json:"clusters"` // sorted by ID
	// Unreachable are the east-west gateways of other networks that do not
	// answer from here (the daemon's probes, package gwhealth): the
	// translator leaves them out of every load assignment that has anything
	// else to offer (fail-static otherwise). Local knowledge: never gossiped.
	Unreachable []NetworkGateway `json:"unreachable,omitempty"`
}

// Cluster returns the ClusterState with the given id, or nil.
func (m *MeshState) Cluster(id string) *ClusterState {
	i, ok := slices.BinarySearchFunc(m.Clusters, id, func(c *ClusterState, id string) int { return cmp.Compare(c.ID, id) })
	if !ok {
		return nil
	}
	return m.Clusters[i]
}

// Local returns the local cluster's state (never nil: an empty state if absent).
func (m *MeshState) Local() *ClusterState {
	if c := m.Cluster(m.LocalCluster); c != nil {
		return c
	}
	return &ClusterState{ID: m.LocalCluster}
}

// WithCluster returns a copy of m in which c replaces (or adds) the cluster of
// the same ID. m itself is not modified.
func (m *MeshState) WithCluster(c *ClusterState) *MeshState {
	out := &MeshState{MeshID: m.MeshID, LocalCluster: m.LocalCluster}
	out.Clusters = make([]*ClusterState, 0, len(m.Clusters)+1)
	replaced := false
	for _, old := range m.Clusters {
		if old.ID == c.ID {
			out.Clusters = append(out.Clusters, c)
			replaced = true
			continue
		}
		out.Clusters = append(out.Clusters, old)
	}
	if !replaced {
		out.Clusters = append(out.Clusters, c)
		slices.SortFunc(out.Clusters, func(a, b *ClusterState) int { return cmp.Compare(a.ID, b.ID) })
	}
	return out
}

// WithoutCluster returns a copy of m without the cluster id.
func (m *MeshState) WithoutCluster(id string) *MeshState {
	out := &MeshState{MeshID: m.MeshID, LocalCluster: m.LocalCluster}
	for _, c := range m.Clusters {
		if c.ID != id {
			out.Clusters = append(out.Clusters, c)
		}
	}
	return out
}

// ClusterState is one cluster's part of the mesh.
type ClusterState struct {
	ID      string `json:"id"`
	Network string `json:"network,omitempty"`
	// Generation orders states of the same cluster: federation accepts a peer's
	// state only when its generation is newer.
	Generation  uint64 `json:"generation,omitempty"`
	TrustDomain string `json:"trustDomain,omitempty"`
	// TrustBundle holds the PEM roots of the cluster's CA.
	TrustBundle []byte `json:"trustBundle,omitempty"`

	Namespaces       []Namespace       `json:"namespaces,omitempty"`
	Services         []Service         `json:"services,omitempty"`
	Gateways         []Gateway         `json:"gateways,omitempty"`
	VirtualServices  []VirtualService  `json:"virtualServices,omitempty"`
	DestinationRules []DestinationRule `json:"destinationRules,omitempty"`
	ServiceEntries   []ServiceEntry    `json:"serviceEntries,omitempty"`
	Secrets          []Secret          `json:"secrets,omitempty"`
	// NetworkGateways are the east-west gateway addresses of this cluster's
	// network(s), by which other networks reach its endpoints.
	NetworkGateways []NetworkGateway `json:"networkGateways,omitempty"`
	// UnreachableGateways are the east-west gateways of other networks that
	// this cluster's daemon finds down (its probes, package gwhealth),
	// gossiped in its record. For the other daemons it is corroborating
	// evidence only: each prunes by its own probes, never by this.
	// ConfigHash leaves it out (nothing is translated from it).
	UnreachableGateways []NetworkGateway `json:"unreachableGateways,omitempty"`

	// ObservedAt is when the change this state carries was observed in its
	// own cluster (the source's event: the informer's delivery of the
	// oldest change not yet published, a file reload), on THIS daemon's
	// clock: federation moves a peer's time by the estimated clock offset
	// of its daemon. Zero when unknown. Not content: Hash, ConfigHash and
	// JSON leave it out (a new time alone is no change); Clone keeps it.
	ObservedAt time.Time `json:"-"`
	// ServiceExports are the cluster's Multi-Cluster Services API
	// ServiceExports (clusterset.go): which of its Services it exports to
	// the clusterset.
	ServiceExports []ServiceExport `json:"serviceExports,omitempty"`
	// GatewayAPIStatus is the status the conversion gives the cluster's
	// Gateway API objects (gatewayapistatus.go), nil without any. Content
	// (a status change alone is published, so that it gets written), but
	// local: federation does not gossip it.
	GatewayAPIStatus *GatewayAPIStatus `json:"gatewayAPIStatus,omitempty"`
}

// NetworkGateway is an address at which a network's east-west gateway accepts
// AUTO_PASSTHROUGH mTLS from other networks.
type NetworkGateway struct {
	Network string `json:"network"`
	Cluster string `json:"cluster"`
	Address string `json:"address"`
	Port    uint32 `json:"port"`
}

// Service returns the service with the given hostname, or nil.
func (c *ClusterState) Service(hostname string) *Service {
	i, ok := slices.BinarySearchFunc(c.Services, hostname, func(s Service, h string) int { return cmp.Compare(s.Hostname, h) })
	if !ok {
		return nil
	}
	return &c.Services[i]
}

// Secret returns the secret namespace/name, or nil.
func (c *ClusterState) Secret(namespace, name string) *Secret {
	for i := range c.Secrets {
		if c.Secrets[i].Namespace == namespace && c.Secrets[i].Name == name {
			return &c.Secrets[i]
		}
	}
	return nil
}

// DeriveNetworkGateways finds the east-west gateways among services: a Service
// labelled topology.istio.io/network=<net> is that network's gateway, reachable
// at its load-balancer addresses (else its external IPs) on port 15443 or the
// port named by the networking.istio.io/gatewayPort label.
func DeriveNetworkGateways(cluster string, services []Service) []NetworkGateway {
	var out []NetworkGateway
	for _, s := range services {
		nw := s.Labels[LabelNetwork]
		if nw == "" {
			continue
		}
		port := uint32(DefaultGatewayPort)
		if p, err := strconv.ParseUint(s.Labels[LabelGatewayPort], 10, 16); err == nil && p > 0 {
			port = uint32(p)
		}
		addrs := s.LoadBalancerIPs
		if len(addrs) == 0 {
			addrs = s.ExternalIPs
		}
		for _, a := range addrs {
			out = append(out, NetworkGateway{Network: nw, Cluster: cluster, Address: a, Port: port})
		}
	}
	sortGateways(out)
	return slices.Compact(out)
}

func sortGateways(g []NetworkGateway) {
	slices.SortFunc(g, func(a, b NetworkGateway) int {
		return cmp.Or(cmp.Compare(a.Network, b.Network), cmp.Compare(a.Cluster, b.Cluster),
			cmp.Compare(a.Address, b.Address), cmp.Compare(a.Port, b.Port))
	})
}

func byMeta[T any](get func(*T) *Meta) func(a, b T) int {
	return func(a, b T) int {
		ma, mb := get(&a), get(&b)
		return cmp.Or(cmp.Compare(ma.Namespace, mb.Namespace), cmp.Compare(ma.Name, mb.Name))
	}
}

// Normalize sorts every slice of c into its canonical order. Sources call it
// before publishing a state.
func (c *ClusterState) Normalize() {
	slices.SortFunc(c.Namespaces, byMeta(func(n *Namespace) *Meta { return &n.Meta }))
	slices.SortFunc(c.Services, func(a, b Service) int { return cmp.Compare(a.Hostname, b.Hostname) })
	for i := range c.Services {
		eps := c.Services[i].Endpoints
		slices.SortFunc(eps, func(a, b Endpoint) int {
			return cmp.Or(cmp.Compare(a.Address, b.Address), cmp.Compare(a.PodName, b.PodName))
		})
		for j := range eps {
			slices.SortFunc(eps[j].Ports, func(a, b EndpointPort) int { return cmp.Compare(a.Name, b.Name) })
		}
	}
	slices.SortFunc(c.Gateways, byMeta(func(g *Gateway) *Meta { return &g.Meta }))
	slices.SortFunc(c.VirtualServices, byMeta(func(v *VirtualService) *Meta { return &v.Meta }))
	slices.SortFunc(c.DestinationRules, byMeta(func(d *DestinationRule) *Meta { return &d.Meta }))
	slices.SortFunc(c.ServiceEntries, byMeta(func(s *ServiceEntry) *Meta { return &s.Meta }))
	slices.SortFunc(c.Secrets, byMeta(func(s *Secret) *Meta { return &s.Meta }))
	sortGateways(c.NetworkGateways)
	sortGateways(c.UnreachableGateways)
	slices.SortFunc(c.ServiceExports, byMeta(func(e *ServiceExport) *Meta { return &e.Meta }))
}

// Validate checks the structural invariants of a ClusterState: an ID, unique
// service hostnames and object names, sorted order.
func (c *ClusterState) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("cluster state: empty cluster id"))
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Hostname == "" {
			errs = append(errs, Errorf(RefOf(KindService, s.Meta), "hostname", "empty"))
		}
		if i > 0 && c.Services[i-1].Hostname >= s.Hostname {
			errs = append(errs, Errorf(RefOf(KindService, s.Meta), "hostname", "services not sorted or duplicated (%q after %q)", s.Hostname, c.Services[i-1].Hostname))
		}
	}
	return errors.Join(errs...)
}

// Hash is a content hash of c (hex SHA-256 of its canonical JSON).
func (c *ClusterState) Hash() string { return hashJSON(c) }

// ConfigHash hashes everything but endpoints: two states with equal ConfigHash
// differ at most in the endpoints of their services.
func (m *MeshState) ConfigHash() string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(struct{ M, L string }{m.MeshID, m.LocalCluster})
	for _, c := range m.Clusters {
		cc := *c
		cc.Generation = 0
		cc.UnreachableGateways = nil
		cc.GatewayAPIStatus = nil // nothing is translated from it; it follows endpoints (Programmed)
		cc.Services = make([]Service, len(c.Services))
		for i, s := range c.Services {
			s.Endpoints = nil
			cc.Services[i] = s
		}
		_ = enc.Encode(&cc)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Hash is a content hash of the whole mesh state, generations excluded.
func (m *MeshState) Hash() string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(struct{ M, L string }{m.MeshID, m.LocalCluster})
	for _, c := range m.Clusters {
		cc := *c
		cc.Generation = 0
		_ = enc.Encode(&cc)
	}
	if len(m.Unreachable) > 0 { // endpoints only: ConfigHash leaves it out
		_ = enc.Encode(m.Unreachable)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Clone returns a deep copy of c.
func (c *ClusterState) Clone() *ClusterState {
	b, err := json.Marshal(c)
	if err != nil {
		panic("model: marshal ClusterState: " + err.Error()) // cannot happen: plain data
	}
	out := &ClusterState{}
	if err := json.Unmarshal(b, out); err != nil {
		panic("model: unmarshal ClusterState: " + err.Error())
	}
	out.ObservedAt = c.ObservedAt
	return out
}

func hashJSON(v any) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(v)
	return hex.EncodeToString(h.Sum(nil))
}

// Compose returns base with the extra clusters added: the one merge of
// local and remote states (a source's clusters, remote clusters watched
// through remote secrets, clusters learned by gossip). base always wins: an
// extra cluster whose ID base already has is dropped; among extras with the
// same ID the first wins. The result's clusters are sorted by ID. Nothing
// is copied but the slice: base itself is returned when nothing is added,
// and Compose(nil, …) is nil.
func Compose(base *MeshState, extra []*ClusterState) *MeshState {
	if base == nil {
		return nil
	}
	have := make(map[string]bool, len(base.Clusters)+len(extra))
	for _, c := range base.Clusters {
		have[c.ID] = true
	}
	var add []*ClusterState
	for _, c := range extra {
		if c != nil && !have[c.ID] {
			have[c.ID] = true
			add = append(add, c)
		}
	}
	if len(add) == 0 {
		return base
	}
	out := &MeshState{MeshID: base.MeshID, LocalCluster: base.LocalCluster, Clusters: append(slices.Clone(base.Clusters), add...)}
	slices.SortStableFunc(out.Clusters, func(a, b *ClusterState) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
