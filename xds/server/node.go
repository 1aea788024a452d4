package server

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// Node is a connected xDS client as the server sees it: the translator's Proxy
// plus what chooses the generator and the workload identity.
type Node struct {
	translate.Proxy
	// Generator is "" for Envoy, node.GeneratorGRPC for proxyless gRPC.
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

// ParseNode reads an Istio-style node (see package xds/node for the id and
// the metadata keys): metadata NAMESPACE overrides the id's, CLUSTER_ID
// defaults to defaultCluster and ROUTER_MODE to "standard"; GENERATOR must be
// "" or "grpc". Errors are *NodeError.
func ParseNode(n *corev3.Node, defaultCluster string) (Node, error) {
	if n.GetId() == "" {
		return Node{}, nodeErr("missing_node", "request carries no node id")
	}
	nd, err := node.FromEnvoy(n)
	if err != nil {
		reason := "malformed_metadata"
		if pe := (*node.ParseError)(nil); errors.As(err, &pe) && pe.What == node.WhatID {
			reason = "malformed_node_id"
		}
		return Node{}, &NodeError{Reason: reason, Err: err}
	}
	md := nd.Metadata
	out := Node{
		Proxy: translate.Proxy{
			ID: n.GetId(), Type: nd.ID.Type, IP: nd.ID.IP, Namespace: nd.Namespace(), Labels: md.Labels,
			Network: md.Network, ClusterID: md.ClusterID, RouterMode: md.RouterMode,
			Flavor:   flavorOf(md),
			Locality: model.Locality{Region: n.GetLocality().GetRegion(), Zone: n.GetLocality().GetZone(), Subzone: n.GetLocality().GetSubZone()},
		},
		Generator: md.Generator, ServiceAccount: md.ServiceAccount,
	}
	if out.ClusterID == "" {
		out.ClusterID = defaultCluster
	}
	if out.RouterMode == "" {
		out.RouterMode = node.RouterModeStandard
	}
	if out.Generator != "" && out.Generator != node.GeneratorGRPC {
		return Node{}, nodeErr("unsupported_generator", "node %q: metadata %s: unsupported generator %q (want empty or %q)", n.GetId(), node.MetaGenerator, out.Generator, node.GeneratorGRPC)
	}
	return out, nil
}

// flavorOf: Istio's proxy announces ISTIO_VERSION (istio-proxy, pilot-agent)
// and gets Istio's filters; any other node is taken for upstream Envoy.
func flavorOf(md node.Metadata) translate.Flavor {
	if md.IstioVersion != "" {
		return translate.FlavorIstio
	}
	return translate.FlavorEnvoy
}

// groupKey identifies the nodes that get the same configuration: everything
// the translator reads except the node id and IP, which do not influence a
// gateway's configuration.
func (n Node) groupKey() string {
	var b strings.Builder
	for _, s := range []string{n.Generator, n.Type, n.Namespace, n.ClusterID, n.Network, n.RouterMode, n.ServiceAccount, string(n.Flavor),
		n.Locality.Region, n.Locality.Zone, n.Locality.Subzone} {
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
