package server

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshgate/meshgate/xds/translate"
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
)

// GeneratorGRPC is the GENERATOR of proxyless gRPC clients. An empty
// GENERATOR means an Envoy proxy.
const GeneratorGRPC = "grpc"

// Router modes (metadata ROUTER_MODE).
const (
	RouterModeStandard = "standard"
	RouterModeSNIDNAT  = "sni-dnat"
)

// Node is a connected xDS client as the server sees it: the translator's Proxy
// plus what chooses the generator and the workload identity.
type Node struct {
	translate.Proxy
	// Generator is "" for Envoy, GeneratorGRPC for proxyless gRPC.
	Generator string
	// ServiceAccount is metadata SERVICE_ACCOUNT (may be empty); identity
	// secrets are issued for it.
	ServiceAccount string
}

// NodeError is why a node was refused. Reason is a short metric label.
type NodeError struct {
	Reason string
	Err    error
}

func (e *NodeError) Error() string { return e.Err.Error() }
func (e *NodeError) Unwrap() error { return e.Err }

func nodeErr(reason string, format string, args ...any) *NodeError {
	return &NodeError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// ParseNode reads an Istio-style node: id "type~ip~pod.ns~ns.svc.domain",
// metadata LABELS (a struct of strings), NAMESPACE (overrides the id's),
// NETWORK, CLUSTER_ID (default defaultCluster), GENERATOR ("" or "grpc"),
// SERVICE_ACCOUNT and ROUTER_MODE ("standard" or "sni-dnat"). Errors are
// *NodeError.
func ParseNode(n *corev3.Node, defaultCluster string) (Node, error) {
	if n == nil || n.GetId() == "" {
		return Node{}, nodeErr("missing_node", "request carries no node id")
	}
	p, err := translate.ParseNodeID(n.GetId())
	if err != nil {
		return Node{}, &NodeError{Reason: "malformed_node_id", Err: err}
	}
	md := n.GetMetadata().GetFields()
	str := func(key string) (string, error) {
		v, ok := md[key]
		if !ok {
			return "", nil
		}
		s, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return "", nodeErr("malformed_metadata", "node %q: metadata %s: want a string", n.GetId(), key)
		}
		return s.StringValue, nil
	}
	out := Node{Proxy: p}
	var errs []error
	get := func(dst *string, key string) {
		v, err := str(key)
		if err != nil {
			errs = append(errs, err)
		} else if v != "" {
			*dst = v
		}
	}
	get(&out.Namespace, MetaNamespace)
	get(&out.Network, MetaNetwork)
	get(&out.ClusterID, MetaClusterID)
	get(&out.Generator, MetaGenerator)
	get(&out.ServiceAccount, MetaServiceAccount)
	get(&out.RouterMode, MetaRouterMode)
	if err := errors.Join(errs...); err != nil {
		return Node{}, &NodeError{Reason: "malformed_metadata", Err: err}
	}
	if out.ClusterID == "" {
		out.ClusterID = defaultCluster
	}
	if out.RouterMode == "" {
		out.RouterMode = RouterModeStandard
	}
	if out.RouterMode != RouterModeStandard && out.RouterMode != RouterModeSNIDNAT {
		return Node{}, nodeErr("malformed_metadata", "node %q: metadata %s: %q is neither %q nor %q", n.GetId(), MetaRouterMode, out.RouterMode, RouterModeStandard, RouterModeSNIDNAT)
	}
	if out.Generator != "" && out.Generator != GeneratorGRPC {
		return Node{}, nodeErr("unsupported_generator", "node %q: metadata %s: unsupported generator %q (want empty or %q)", n.GetId(), MetaGenerator, out.Generator, GeneratorGRPC)
	}
	labels, err := parseLabels(n.GetId(), md[MetaLabels])
	if err != nil {
		return Node{}, err
	}
	out.Labels = labels
	return out, nil
}

func parseLabels(id string, v *structpb.Value) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return nil, nodeErr("malformed_metadata", "node %q: metadata %s: want a struct of strings", id, MetaLabels)
	}
	out := make(map[string]string, len(s.StructValue.GetFields()))
	for k, lv := range s.StructValue.GetFields() {
		sv, ok := lv.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, nodeErr("malformed_metadata", "node %q: metadata %s.%s: want a string", id, MetaLabels, k)
		}
		out[k] = sv.StringValue
	}
	return out, nil
}

// groupKey identifies the nodes that get the same configuration: everything
// the translator reads except the node id and IP, which do not influence a
// gateway's configuration.
func (n Node) groupKey() string {
	var b strings.Builder
	for _, s := range []string{n.Generator, n.Type, n.Namespace, n.ClusterID, n.Network, n.RouterMode, n.ServiceAccount} {
		b.WriteString(s)
		b.WriteByte('|')
	}
	keys := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(n.Labels[k])
		b.WriteByte(',')
	}
	return b.String()
}

// template is the node a group's configuration is translated for.
func (n Node) template() Node {
	t := n
	t.ID, t.IP = "", ""
	return t
}
