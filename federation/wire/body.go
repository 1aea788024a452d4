package wire

import (
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

// AnnotationExportTo is Istio's Service annotation restricting visibility.
// A Service annotated "~" is not exported to other clusters.
const AnnotationExportTo = "networking.istio.io/exportTo"

// Body is what a Record carries about one cluster: its exported services
// without routing configuration, its network gateways, network, trust domain
// and bundle, and its remote secret sealed for each recipient cluster (see
// Secret).
type Body struct {
	Cluster         string           `json:"cluster"`
	Network         string           `json:"network,omitempty"`
	TrustDomain     string           `json:"trustDomain,omitempty"`
	TrustBundle     []byte           `json:"trustBundle,omitempty"`
	Services        []Service        `json:"services,omitempty"`
	NetworkGateways []NetworkGateway `json:"networkGateways,omitempty"`
	// ServiceExports are the cluster's valid Multi-Cluster Services API
	// exports (of Services the Body carries): what the clusterset's
	// <svc>.<ns>.svc.clusterset.local hosts, ServiceImports and conflict
	// resolution are derived from (model.ClusterSet). Older daemons ignore
	// the field.
	ServiceExports []ServiceExport `json:"serviceExports,omitempty"`
	// RemoteSecret is the remote secret in clear, as daemons wrote it
	// before sealing: read (from older daemons), never written by a Node.
	RemoteSecret []byte `json:"remoteSecret,omitempty"`
	// SealingKey is the owner's HPKE public key (DHKEM X25519): peers seal
	// their remote secrets to it. The record's signature binds it to the
	// cluster.
	SealingKey []byte `json:"sealingKey,omitempty"`
	// SealedAt is the generation the remote secret was sealed at (bound
	// into every envelope; at most the record's generation).
	SealedAt uint64 `json:"sealedAt,omitempty"`
	// SealedSecrets holds the remote secret sealed for each recipient
	// cluster, by recipient.
	SealedSecrets []SealedSecret `json:"sealedSecrets,omitempty"`
	// UnreachableGateways are the east-west gateways of other clusters'
	// networks that the owner's probes find down (model.ClusterState's
	// UnreachableGateways): what the owner sees, for the others to show
	// next to their own verdicts (corroboration, never a reason to prune).
	// Older decoders ignore it.
	UnreachableGateways []ProbedGateway `json:"unreachableGateways,omitempty"`
	// ObservedAt is when the owner's source observed the change this
	// record carries (unix nanoseconds, the owner's clock; model
	// ClusterState.ObservedAt). Covered by the hash, hence by the
	// signature. A daemon that writes it also answers timed requests
	// (Request.SentAt): receivers take its presence as that capability.
	ObservedAt int64 `json:"observedAt,omitempty"`
	// Lease names the replica that published the record and the term of
	// its publishing lease, when the cluster's daemons elect one publisher
	// (package federation, "Replicas"); absent otherwise. Receivers refuse
	// a record whose lease is older than one they have seen for the
	// cluster (a deposed holder's). Older decoders ignore the field.
	Lease *Lease `json:"lease,omitempty"`
	// Deltas says the daemon that published the record answers requests
	// for state deltas (Request.DeltaBase) and reads delta answers:
	// receivers take it as that capability, as with ObservedAt. Older
	// decoders ignore the field.
	Deltas bool `json:"deltas,omitempty"`
}

// Lease is a cluster's publishing lease as a record carries it: the holder
// identity and the lease's transition count (its term), which grows each
// time another holder takes the lease.
type Lease struct {
	Holder      string `json:"holder"`
	Transitions uint64 `json:"transitions"`
}

// MaxLeaseHolder bounds Lease.Holder (a Kubernetes Lease's holderIdentity).
const MaxLeaseHolder = 253

// Older reports whether l is a deposed holder's lease next to seen: a lower
// term, or the same term held by another holder (never two holders per term).
func (l Lease) Older(seen Lease) bool {
	return l.Transitions < seen.Transitions || (l.Transitions == seen.Transitions && l.Holder != seen.Holder)
}

// ProbedGateway is another cluster's network gateway, as a probe report
// names it.
type ProbedGateway struct {
	Network string `json:"network,omitempty"`
	Cluster string `json:"cluster"`
	Address string `json:"address"`
	Port    uint32 `json:"port"`
}

// MaxUnreachable bounds Body.UnreachableGateways.
const MaxUnreachable = 1024

// SealedSecret is the owner's remote secret sealed for one recipient
// cluster (package federation, seal.go).
type SealedSecret struct {
	Recipient string `json:"recipient"`
	// KeyID names the recipient's sealing key it was sealed to (the first
	// bytes of its SHA-256), so that a recipient tells an envelope for its
	// previous key from a bad one.
	KeyID []byte `json:"keyID"`
	// Sealed is the HPKE encapsulated key followed by the ciphertext.
	Sealed []byte `json:"sealed"`
}

// Secret is the remote-secret part of a Body, as DecodeBody returns it.
type Secret struct {
	Plain      []byte // an older daemon's remote secret in clear
	SealingKey []byte
	SealedAt   uint64
	Sealed     []SealedSecret
	// Lease is the body's publishing lease (nil: none), returned here with
	// the other parts of a body that are not cluster state.
	Lease *Lease
	// Deltas is the body's Deltas: its publisher answers delta requests.
	Deltas bool
}

// Bounds of a Body's remote-secret part.
const (
	MaxSealingKey = 256      // bytes of SealingKey
	MaxKeyID      = 32       // bytes of SealedSecret.KeyID
	MaxSealed     = 64 << 10 // bytes of one SealedSecret.Sealed
)

// Service is the exported part of a model.Service.
type Service struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Hostname  string            `json:"hostname"`
	Labels    map[string]string `json:"labels,omitempty"`
	ExportTo  string            `json:"exportTo,omitempty"`
	ClusterIP string            `json:"clusterIP,omitempty"`
	Type      string            `json:"type,omitempty"`
	Ports     []ServicePort     `json:"ports,omitempty"`
	Endpoints []Endpoint        `json:"endpoints,omitempty"`
}

// ServicePort is a model.ServicePort.
type ServicePort struct {
	Name           string `json:"name,omitempty"`
	Port           uint32 `json:"port"`
	TargetPort     uint32 `json:"targetPort,omitempty"`
	TargetPortName string `json:"targetPortName,omitempty"`
	Protocol       string `json:"protocol,omitempty"`
	AppProtocol    string `json:"appProtocol,omitempty"`
}

// Endpoint is a model.Endpoint.
type Endpoint struct {
	Address        string            `json:"address"`
	Ports          []EndpointPort    `json:"ports,omitempty"`
	Ready          bool              `json:"ready,omitempty"`
	Pod            string            `json:"pod,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	ServiceAccount string            `json:"sa,omitempty"`
	TLSMode        string            `json:"tlsMode,omitempty"`
	Region         string            `json:"region,omitempty"`
	Zone           string            `json:"zone,omitempty"`
	Subzone        string            `json:"subzone,omitempty"`
	Network        string            `json:"network,omitempty"`
	NodeName       string            `json:"nodeName,omitempty"`
}

// EndpointPort is a model.EndpointPort.
type EndpointPort struct {
	Name string `json:"name,omitempty"`
	Port uint32 `json:"port"`
}

// ServiceExport is a model.ServiceExport.
type ServiceExport struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Created   string `json:"created,omitempty"`
}

// NetworkGateway is a model.NetworkGateway.
type NetworkGateway struct {
	Network string `json:"network"`
	Address string `json:"address"`
	Port    uint32 `json:"port"`
}

// Exported reports whether a service travels to other clusters: not an
// ExternalName service and not annotated exportTo "~".
func Exported(s *model.Service) bool {
	return s.Type != "ExternalName" && s.Annotations[AnnotationExportTo] != "~"
}

// Export modes (BodyOptions.ExportMode): which Services travel.
const (
	// ExportAll: every Service that Exported allows (the default).
	ExportAll = "all"
	// ExportServiceExport: only Services that Exported allows and that a
	// valid ServiceExport of their cluster names (the MCS API's opt-in).
	ExportServiceExport = "serviceexport"
)

// BodyOptions shape what BuildBody puts in a Body.
type BodyOptions struct {
	// ExportMode is ExportAll ("" too) or ExportServiceExport.
	ExportMode string
}

// BodyFromState builds the Body of a local cluster state: exported services
// only, without selectors, external addresses, annotations (exportTo apart)
// or any Istio routing object.
func BodyFromState(c *model.ClusterState, remoteSecret []byte) Body {
	return BuildBody(c, remoteSecret, BodyOptions{})
}

// BuildBody is BodyFromState with options: in ExportServiceExport mode only
// the Services with a valid ServiceExport travel. In every mode the valid
// ServiceExports of the Services that travel travel too.
func BuildBody(c *model.ClusterState, remoteSecret []byte, o BodyOptions) Body {
	b := Body{Cluster: c.ID, Network: c.Network, TrustDomain: c.TrustDomain, TrustBundle: c.TrustBundle, RemoteSecret: remoteSecret}
	for i := range c.ServiceExports {
		e := &c.ServiceExports[i]
		if ok, _, _ := model.ExportValidity(c, e); ok {
			b.ServiceExports = append(b.ServiceExports, ServiceExport{Name: e.Name, Namespace: e.Namespace, Created: e.Created})
		}
	}
	for i := range c.Services {
		s := &c.Services[i]
		if !Exported(s) || (o.ExportMode == ExportServiceExport && c.ServiceExport(s.Namespace, s.Name) == nil) {
			continue
		}
		ws := Service{Name: s.Name, Namespace: s.Namespace, Hostname: s.Hostname, Labels: s.Labels,
			ExportTo: s.Annotations[AnnotationExportTo], ClusterIP: s.ClusterIP, Type: s.Type}
		for _, p := range s.Ports {
			ws.Ports = append(ws.Ports, ServicePort(p))
		}
		for _, e := range s.Endpoints {
			we := Endpoint{Address: e.Address, Ready: e.Ready, Pod: e.PodName, Labels: e.Labels,
				ServiceAccount: e.ServiceAccount, TLSMode: e.TLSMode, Region: e.Locality.Region,
				Zone: e.Locality.Zone, Subzone: e.Locality.Subzone, Network: e.Network, NodeName: e.NodeName}
			for _, p := range e.Ports {
				we.Ports = append(we.Ports, EndpointPort(p))
			}
			ws.Endpoints = append(ws.Endpoints, we)
		}
		b.Services = append(b.Services, ws)
	}
	for _, g := range c.NetworkGateways {
		b.NetworkGateways = append(b.NetworkGateways, NetworkGateway{Network: g.Network, Address: g.Address, Port: g.Port})
	}
	for _, g := range c.UnreachableGateways {
		b.UnreachableGateways = append(b.UnreachableGateways, ProbedGateway(g))
	}
	if !c.ObservedAt.IsZero() {
		b.ObservedAt = c.ObservedAt.UnixNano()
	}
	return b
}

// EncodeBody returns the compressed canonical JSON of b and its hash (over
// the uncompressed JSON). Equal bodies give equal hashes.
func EncodeBody(b *Body) ([]byte, Hash, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, Hash{}, fmt.Errorf("encode body of cluster %s: %w", b.Cluster, err)
	}
	return CompressBody(raw), sha256.Sum256(raw), nil
}

// DecodeBody decompresses and checks r's body: size within lim.MaxBody, hash
// equal to r.Hash, cluster equal to r.Cluster, and a valid state. It returns
// the remote ClusterState (Generation set to r's) and the remote-secret part
// (checked for form; opening it is package federation's).
func DecodeBody(r *Record, lim Limits) (*model.ClusterState, Secret, error) {
	raw, err := RawBody(r, lim)
	if err != nil {
		return nil, Secret{}, err
	}
	if sha256.Sum256(raw) != r.Hash {
		return nil, Secret{}, fmt.Errorf("%w: cluster %s: body: hash mismatch (record says %s)", ErrCorrupt, r.Cluster, r.Hash.Short())
	}
	return DecodeRaw(r, raw)
}

// DecodeRaw is DecodeBody for a body already decompressed and found equal
// to r.Hash (ApplyDelta's result): the same checks of the content, without
// decompressing and hashing it again.
func DecodeRaw(r *Record, raw []byte) (*model.ClusterState, Secret, error) {
	var b Body
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, Secret{}, fmt.Errorf("%w: cluster %s: body: %v", ErrCorrupt, r.Cluster, err)
	}
	if b.Cluster != r.Cluster {
		return nil, Secret{}, fmt.Errorf("%w: cluster %s: body.cluster is %q", ErrCorrupt, r.Cluster, b.Cluster)
	}
	c, err := b.toState()
	if err == nil {
		err = b.checkSecret(r.Generation)
	}
	if err == nil && b.ObservedAt < 0 {
		err = fmt.Errorf("observedAt: %d is not a time", b.ObservedAt)
	}
	if err != nil {
		return nil, Secret{}, fmt.Errorf("%w: cluster %s: %v", ErrCorrupt, r.Cluster, err)
	}
	c.Generation = r.Generation
	if b.ObservedAt > 0 {
		c.ObservedAt = time.Unix(0, b.ObservedAt) // the owner's clock: package federation corrects it
	}
	return c, Secret{Plain: b.RemoteSecret, SealingKey: b.SealingKey, SealedAt: b.SealedAt, Sealed: b.SealedSecrets, Lease: b.Lease, Deltas: b.Deltas}, nil
}

// checkSecret checks the form of the remote-secret part: bounded sizes, one
// envelope per valid recipient name, sealed at most at generation gen.
func (b *Body) checkSecret(gen uint64) error {
	var errs []error
	if len(b.SealingKey) > MaxSealingKey {
		errs = append(errs, fmt.Errorf("sealingKey: %d bytes, at most %d", len(b.SealingKey), MaxSealingKey))
	}
	if len(b.SealedSecrets) > MaxRecords {
		errs = append(errs, fmt.Errorf("sealedSecrets: %d envelopes, at most %d", len(b.SealedSecrets), MaxRecords))
	}
	if len(b.SealedSecrets) > 0 && (b.SealedAt == 0 || b.SealedAt > gen) {
		errs = append(errs, fmt.Errorf("sealedAt: %d, want 1..%d (the record's generation)", b.SealedAt, gen))
	}
	if b.Lease != nil {
		if h := b.Lease.Holder; h == "" || len(h) > MaxLeaseHolder || strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r > '~' }) {
			errs = append(errs, fmt.Errorf("lease.holder: %q: want 1..%d printable ASCII characters without spaces", h, MaxLeaseHolder))
		}
	}
	seen := map[string]bool{}
	for i, s := range b.SealedSecrets {
		field := fmt.Sprintf("sealedSecrets[%d]", i)
		if err := CheckName(s.Recipient); err != nil {
			errs = append(errs, fmt.Errorf("%s.recipient: %v", field, err))
		} else if seen[s.Recipient] {
			errs = append(errs, fmt.Errorf("%s.recipient: %s appears twice", field, s.Recipient))
		}
		seen[s.Recipient] = true
		if len(s.KeyID) == 0 || len(s.KeyID) > MaxKeyID {
			errs = append(errs, fmt.Errorf("%s.keyID: %d bytes, want 1..%d", field, len(s.KeyID), MaxKeyID))
		}
		if len(s.Sealed) == 0 || len(s.Sealed) > MaxSealed {
			errs = append(errs, fmt.Errorf("%s.sealed: %d bytes, want 1..%d", field, len(s.Sealed), MaxSealed))
		}
	}
	return errors.Join(errs...)
}

func validPort(p uint32) bool { return p > 0 && p <= 65535 }

// toState converts a Body into a normalized, validated remote ClusterState.
func (b *Body) toState() (*model.ClusterState, error) {
	c := &model.ClusterState{ID: b.Cluster, Network: b.Network, TrustDomain: b.TrustDomain, TrustBundle: b.TrustBundle}
	var errs []error
	if len(b.TrustBundle) > 0 {
		if blk, _ := pem.Decode(b.TrustBundle); blk == nil || blk.Type != "CERTIFICATE" {
			errs = append(errs, errors.New("trustBundle: no PEM CERTIFICATE block"))
		}
	}
	for i, s := range b.Services {
		c.Services = append(c.Services, s.toModel(b.Cluster, &errs))
		if s.Hostname == "" {
			errs = append(errs, fmt.Errorf("services[%d].hostname: empty", i))
		}
	}
	seenExports := map[ServiceExport]bool{}
	for i, e := range b.ServiceExports {
		k := ServiceExport{Name: e.Name, Namespace: e.Namespace}
		if e.Name == "" || e.Namespace == "" || seenExports[k] {
			errs = append(errs, fmt.Errorf("serviceExports[%d]: name %q namespace %q: both required, once", i, e.Name, e.Namespace))
			continue
		}
		seenExports[k] = true
		c.ServiceExports = append(c.ServiceExports, model.ServiceExport{
			Meta: model.Meta{Name: e.Name, Namespace: e.Namespace, Source: "federation:" + b.Cluster}, Created: e.Created})
	}
	for i, g := range b.NetworkGateways {
		if g.Address == "" || !validPort(g.Port) {
			errs = append(errs, fmt.Errorf("networkGateways[%d]: address %q port %d: need an address and a port in 1..65535", i, g.Address, g.Port))
		}
		c.NetworkGateways = append(c.NetworkGateways, model.NetworkGateway{Network: g.Network, Cluster: b.Cluster, Address: g.Address, Port: g.Port})
	}
	if len(b.UnreachableGateways) > MaxUnreachable {
		errs = append(errs, fmt.Errorf("unreachableGateways: %d gateways, at most %d", len(b.UnreachableGateways), MaxUnreachable))
	}
	for i, g := range b.UnreachableGateways {
		if err := CheckName(g.Cluster); err != nil {
			errs = append(errs, fmt.Errorf("unreachableGateways[%d].cluster: %v", i, err))
		}
		if g.Address == "" || !validPort(g.Port) {
			errs = append(errs, fmt.Errorf("unreachableGateways[%d]: address %q port %d: need an address and a port in 1..65535", i, g.Address, g.Port))
		}
		c.UnreachableGateways = append(c.UnreachableGateways, model.NetworkGateway(g))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.Normalize()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Service) toModel(cluster string, errs *[]error) model.Service {
	ms := model.Service{Meta: model.Meta{Name: s.Name, Namespace: s.Namespace, Labels: maps.Clone(s.Labels), Source: "federation:" + cluster},
		Hostname: s.Hostname, ClusterIP: s.ClusterIP, Type: s.Type}
	if s.ExportTo != "" {
		ms.Annotations = map[string]string{AnnotationExportTo: s.ExportTo}
	}
	ref := model.RefOf(model.KindService, ms.Meta)
	for i, p := range s.Ports {
		if !validPort(p.Port) {
			*errs = append(*errs, model.Errorf(ref, fmt.Sprintf("ports[%d].port", i), "%d is not in 1..65535", p.Port))
		}
		ms.Ports = append(ms.Ports, model.ServicePort(p))
	}
	for i, e := range s.Endpoints {
		if e.Address == "" {
			*errs = append(*errs, model.Errorf(ref, fmt.Sprintf("endpoints[%d].address", i), "empty"))
		}
		me := model.Endpoint{Address: e.Address, Ready: e.Ready, PodName: e.Pod, Labels: e.Labels,
			ServiceAccount: e.ServiceAccount, TLSMode: e.TLSMode, Network: e.Network, NodeName: e.NodeName,
			Locality: model.Locality{Region: e.Region, Zone: e.Zone, Subzone: e.Subzone}}
		for j, p := range e.Ports {
			if !validPort(p.Port) {
				*errs = append(*errs, model.Errorf(ref, fmt.Sprintf("endpoints[%d].ports[%d].port", i, j), "%d is not in 1..65535", p.Port))
			}
			me.Ports = append(me.Ports, model.EndpointPort(p))
		}
		ms.Endpoints = append(ms.Endpoints, me)
	}
	return ms
}
