package node

import (
	"errors"
	"maps"
	"slices"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// Node metadata keys, Istio's names.
const (
	MetaLabels         = "LABELS"
	MetaNamespace      = "NAMESPACE"
	MetaNetwork        = "NETWORK"
	MetaClusterID      = "CLUSTER_ID"
	MetaGenerator      = "GENERATOR"
	MetaServiceAccount = "SERVICE_ACCOUNT"
	MetaRouterMode     = "ROUTER_MODE"
	MetaIstioVersion   = "ISTIO_VERSION"
)

// GeneratorGRPC is the GENERATOR of proxyless gRPC clients. An empty
// GENERATOR means an Envoy proxy.
const GeneratorGRPC = "grpc"

// Router modes (metadata ROUTER_MODE).
const (
	RouterModeStandard = "standard"
	RouterModeSNIDNAT  = "sni-dnat"
)

// Metadata is the node metadata meshgate reads and writes. An empty string
// field is not sent (and reads back empty).
type Metadata struct {
	// Labels (LABELS) are the proxy's pod labels. nil is not sent; an empty
	// non-nil map is sent as an empty struct.
	Labels map[string]string
	// Namespace (NAMESPACE) overrides the namespace of the node id.
	Namespace string
	// Network (NETWORK) is the proxy's network.
	Network string
	// ClusterID (CLUSTER_ID) is the proxy's cluster.
	ClusterID string
	// Generator (GENERATOR) is "" for Envoy or GeneratorGRPC.
	Generator string
	// ServiceAccount (SERVICE_ACCOUNT) is the proxy's service account.
	ServiceAccount string
	// RouterMode (ROUTER_MODE) is "", RouterModeStandard or RouterModeSNIDNAT.
	RouterMode string
	// IstioVersion (ISTIO_VERSION) is the proxy's Istio version, if any.
	IstioVersion string
	// Extra holds every other string-valued key, verbatim. An empty map
	// reads back as nil.
	Extra map[string]string
}

// stringFields maps the string-valued keys to their fields.
func (m *Metadata) stringFields() map[string]*string {
	return map[string]*string{
		MetaNamespace: &m.Namespace, MetaNetwork: &m.Network, MetaClusterID: &m.ClusterID,
		MetaGenerator: &m.Generator, MetaServiceAccount: &m.ServiceAccount,
		MetaRouterMode: &m.RouterMode, MetaIstioVersion: &m.IstioVersion,
	}
}

// known reports whether key is one of the keys with a field of its own.
func known(key string) bool {
	switch key {
	case MetaLabels, MetaNamespace, MetaNetwork, MetaClusterID, MetaGenerator,
		MetaServiceAccount, MetaRouterMode, MetaIstioVersion:
		return true
	}
	return false
}

// Validate checks ROUTER_MODE, the Extra keys (non-empty, none of the keys
// that have a field) and that every key and value is UTF-8 (protobuf strings
// must be).
func (m Metadata) Validate() error {
	var errs []error
	switch m.RouterMode {
	case "", RouterModeStandard, RouterModeSNIDNAT:
	default:
		errs = append(errs, &FieldError{Field: MetaRouterMode, Value: m.RouterMode, Reason: "want " + RouterModeStandard + " or " + RouterModeSNIDNAT})
	}
	for k, f := range m.stringFields() {
		if !utf8.ValidString(*f) {
			errs = append(errs, &FieldError{Field: k, Reason: "not valid UTF-8"})
		}
	}
	for k, v := range m.Labels {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			errs = append(errs, &FieldError{Field: MetaLabels, Reason: "a label is not valid UTF-8"})
			break
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Extra)) {
		switch {
		case !utf8.ValidString(k) || !utf8.ValidString(m.Extra[k]):
			errs = append(errs, &FieldError{Field: "extra metadata", Reason: "not valid UTF-8"})
		case k == "":
			errs = append(errs, &FieldError{Field: "extra metadata", Reason: "empty key"})
		case known(k):
			errs = append(errs, &FieldError{Field: k, Reason: "has a field of its own; not an extra key"})
		}
	}
	return errors.Join(errs...)
}

// Set sets the string-valued key to value: a key with a field sets that
// field, any other goes to Extra. LABELS is not a string: set Labels.
// It is how "--metadata KEY=VALUE" flags map onto Metadata.
func (m *Metadata) Set(key, value string) error {
	if key == MetaLabels {
		return &FieldError{Field: key, Reason: "is a struct of labels, not a string"}
	}
	if key == "" {
		return &FieldError{Field: "extra metadata", Reason: "empty key"}
	}
	if f, ok := m.stringFields()[key]; ok {
		*f = value
		return nil
	}
	if m.Extra == nil {
		m.Extra = map[string]string{}
	}
	m.Extra[key] = value
	return nil
}

// Struct returns the metadata as Envoy sends it. It fails when Validate does.
func (m Metadata) Struct() (*structpb.Struct, error) {
	if err := m.Validate(); err != nil {
		return nil, &ParseError{What: WhatMetadata, Err: err}
	}
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(m.Extra)+8)}
	for k, v := range m.Extra {
		s.Fields[k] = structpb.NewStringValue(v)
	}
	for k, f := range m.stringFields() {
		if *f != "" {
			s.Fields[k] = structpb.NewStringValue(*f)
		}
	}
	if m.Labels != nil {
		ls := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(m.Labels))}
		for k, v := range m.Labels {
			ls.Fields[k] = structpb.NewStringValue(v)
		}
		s.Fields[MetaLabels] = structpb.NewStructValue(ls)
	}
	return s, nil
}

// ParseMetadata reads node metadata: each known key must hold a string
// (LABELS a struct of strings); other string keys go to Extra and keys of
// other kinds (Istio sends structs such as PROXY_CONFIG) are ignored. It
// returns a *ParseError listing every bad key. A nil s is empty metadata.
func ParseMetadata(s *structpb.Struct) (Metadata, error) {
	var m Metadata
	var errs []error
	fields := m.stringFields()
	for _, k := range slices.Sorted(maps.Keys(s.GetFields())) {
		v := s.GetFields()[k]
		str, isStr := v.GetKind().(*structpb.Value_StringValue)
		switch f, ok := fields[k]; {
		case k == MetaLabels:
			labels, err := parseLabels(v)
			if err != nil {
				errs = append(errs, err)
			}
			m.Labels = labels
		case ok && isStr:
			*f = str.StringValue
		case ok:
			errs = append(errs, &FieldError{Field: k, Reason: "want a string"})
		case isStr:
			if m.Extra == nil {
				m.Extra = map[string]string{}
			}
			m.Extra[k] = str.StringValue
		}
	}
	if err := m.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Metadata{}, &ParseError{What: WhatMetadata, Err: err}
	}
	return m, nil
}

func parseLabels(v *structpb.Value) (map[string]string, error) {
	s, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return nil, &FieldError{Field: MetaLabels, Reason: "want a struct of strings"}
	}
	out := make(map[string]string, len(s.StructValue.GetFields()))
	for _, k := range slices.Sorted(maps.Keys(s.StructValue.GetFields())) {
		sv, ok := s.StructValue.GetFields()[k].GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, &FieldError{Field: MetaLabels + "." + k, Reason: "want a string"}
		}
		out[k] = sv.StringValue
	}
	return out, nil
}

// Node is a proxy's identity: its id and metadata.
type Node struct {
	ID       ID
	Metadata Metadata
}

// Namespace is metadata NAMESPACE when set, else the id's namespace (istiod
// reads the same way).
func (n Node) Namespace() string {
	if n.Metadata.Namespace != "" {
		return n.Metadata.Namespace
	}
	return n.ID.Namespace
}

// Envoy returns the node as Envoy sends it: id and metadata; the caller may
// set the other fields (cluster, user agent). It fails when the id or the
// metadata do not validate.
func (n Node) Envoy() (*corev3.Node, error) {
	if err := n.ID.Validate(); err != nil {
		return nil, &ParseError{What: WhatID, Input: shorten(n.ID.String()), Err: err}
	}
	md, err := n.Metadata.Struct()
	if err != nil {
		return nil, err
	}
	return &corev3.Node{Id: n.ID.String(), Metadata: md}, nil
}

// FromEnvoy reads a node as a proxy sent it. Errors are *ParseError; What
// says whether the id or the metadata is wrong.
func FromEnvoy(n *corev3.Node) (Node, error) {
	if n.GetId() == "" {
		return Node{}, &ParseError{What: WhatID, Err: &FieldError{Field: "id", Reason: "the node carries no id"}}
	}
	id, err := ParseID(n.GetId())
	if err != nil {
		return Node{}, err
	}
	md, err := ParseMetadata(n.GetMetadata())
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			pe.Input = shorten(n.GetId())
		}
		return Node{}, err
	}
	return Node{ID: id, Metadata: md}, nil
}
