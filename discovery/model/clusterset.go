package model

import (
	"cmp"
	"fmt"
	"slices"
)

// The Multi-Cluster Services API (KEP-1645, multicluster.x-k8s.io): a
// ServiceExport in a cluster exports the Service of the same namespace and
// name to the clusterset; every cluster then knows the service as
// <name>.<namespace>.svc.clusterset.local, backed by the endpoints of every
// cluster that exports it (namespace sameness: the same namespace/name is
// the same service everywhere). ClusterSet derives those services, with the
// KEP's conflict resolution, from a MeshState; the translator serves them
// and the Kubernetes side writes them back as ServiceImports and
// ServiceExport conditions.

// ClusterSetDomain is the MCS API's DNS zone of exported services.
const ClusterSetDomain = "clusterset.local"

// Reasons of ServiceExport conditions (the MCS API's names).
const (
	ExportReasonValid              = "Valid"
	ExportReasonNoService          = "NoService"
	ExportReasonInvalidServiceType = "InvalidServiceType"
	ExportReasonNoConflict         = "NoConflict"
	ExportReasonPortConflict       = "PortConflict"
	ExportReasonTypeConflict       = "TypeConflict"
)

// Service import types (ServiceImport spec.type).
const (
	ImportClusterSetIP = "ClusterSetIP"
	ImportHeadless     = "Headless"
)

// ServiceExport is a multicluster.x-k8s.io ServiceExport: the Service of
// the same namespace and name is exported to the clusterset.
type ServiceExport struct {
	Meta
	// Created is the ServiceExport's creationTimestamp (RFC 3339, UTC),
	// which orders exports for the oldest-export rule; empty sorts first.
	Created string `json:"created,omitempty"`
}

// ClusterSetHostname is "<name>.<namespace>.svc.clusterset.local".
func ClusterSetHostname(name, namespace string) string {
	return name + "." + namespace + ".svc." + ClusterSetDomain
}

// ServiceExport returns the cluster's ServiceExport namespace/name, or nil.
func (c *ClusterState) ServiceExport(namespace, name string) *ServiceExport {
	for i := range c.ServiceExports {
		if e := &c.ServiceExports[i]; e.Namespace == namespace && e.Name == name {
			return e
		}
	}
	return nil
}

// ServiceByName returns the cluster's Service namespace/name, or nil.
func (c *ClusterState) ServiceByName(namespace, name string) *Service {
	for i := range c.Services {
		if s := &c.Services[i]; s.Namespace == namespace && s.Name == name {
			return s
		}
	}
	return nil
}

// ExportValidity is the Valid condition of a cluster's ServiceExport: its
// Service must exist and not be of type ExternalName (the MCS API's
// reasons), and must not be hidden by Istio's exportTo annotation "~" (a
// Service visible nowhere is exported nowhere: InvalidServiceType too, the
// message says why).
func ExportValidity(c *ClusterState, e *ServiceExport) (valid bool, reason, message string) {
	s := c.ServiceByName(e.Namespace, e.Name)
	switch {
	case s == nil:
		return false, ExportReasonNoService, fmt.Sprintf("Service %s/%s not found", e.Namespace, e.Name)
	case s.Type == "ExternalName":
		return false, ExportReasonInvalidServiceType, "Service of type ExternalName cannot be exported"
	case s.Annotations["networking.istio.io/exportTo"] == "~":
		return false, ExportReasonInvalidServiceType, "Service annotated networking.istio.io/exportTo=~ is private to its cluster"
	}
	return true, ExportReasonValid, "Service export is valid"
}

// ClusterSetService is one exported service as the clusterset sees it (what
// a ServiceImport says).
type ClusterSetService struct {
	Name      string
	Namespace string
	// Hostname is ClusterSetHostname(Name, Namespace).
	Hostname string
	// Type is ImportClusterSetIP, or ImportHeadless when the oldest export's
	// Service is headless (clusterIP None).
	Type string
	// Ports are the union of the exporting Services' ports by name; where
	// two disagree (number or protocol) the oldest export's wins. Sorted by
	// port number.
	Ports []ServicePort
	// Created is the oldest export's creationTimestamp (orders the
	// ClusterSetIP allocation: see AllocateClusterSetIPs).
	Created string
	// Clusters are the exporting clusters, oldest export first (ties by
	// cluster ID). Each contributes its endpoints, conflicting or not.
	Clusters []string
	// Exports are the exporting clusters' Services, in Clusters' order.
	Exports []*Service
	// Conflicts are the exports whose Service disagrees with the oldest
	// export's (the KEP's oldest-export rule), by cluster.
	Conflicts map[string]ExportConflict
}

// ExportConflict is why one cluster's export disagrees with the clusterset.
type ExportConflict struct {
	Reason  string // ExportReasonPortConflict or ExportReasonTypeConflict
	Message string
}

// ClusterSet derives the clusterset's services from m: every valid
// ServiceExport of every cluster, grouped by namespace/name, sorted by
// hostname. Pure and deterministic.
func ClusterSet(m *MeshState) []ClusterSetService {
	type export struct {
		cluster, created string
		svc              *Service
	}
	byKey := map[string][]export{}
	for _, c := range m.Clusters {
		for i := range c.ServiceExports {
			e := &c.ServiceExports[i]
			if ok, _, _ := ExportValidity(c, e); !ok {
				continue
			}
			k := e.Namespace + "/" + e.Name
			byKey[k] = append(byKey[k], export{cluster: c.ID, created: e.Created, svc: c.ServiceByName(e.Namespace, e.Name)})
		}
	}
	out := make([]ClusterSetService, 0, len(byKey))
	for _, exps := range byKey {
		slices.SortFunc(exps, func(a, b export) int {
			return cmp.Or(cmp.Compare(a.created, b.created), cmp.Compare(a.cluster, b.cluster))
		})
		first := exps[0].svc
		cs := ClusterSetService{Name: first.Name, Namespace: first.Namespace, Hostname: ClusterSetHostname(first.Name, first.Namespace),
			Type: importType(first), Created: exps[0].created}
		for _, x := range exps {
			cs.Clusters = append(cs.Clusters, x.cluster)
			cs.Exports = append(cs.Exports, x.svc)
			if conflict, ok := mergeExport(&cs, x.svc); ok {
				if cs.Conflicts == nil {
					cs.Conflicts = map[string]ExportConflict{}
				}
				cs.Conflicts[x.cluster] = conflict
			}
		}
		slices.SortFunc(cs.Ports, func(a, b ServicePort) int { return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Name, b.Name)) })
		out = append(out, cs)
	}
	slices.SortFunc(out, func(a, b ClusterSetService) int { return cmp.Compare(a.Hostname, b.Hostname) })
	return out
}

func importType(s *Service) string {
	if s.ClusterIP == "None" {
		return ImportHeadless
	}
	return ImportClusterSetIP
}

// mergeExport adds s's ports to cs (the exports come oldest first) and
// reports how s conflicts with what older exports set.
func mergeExport(cs *ClusterSetService, s *Service) (ExportConflict, bool) {
	if t := importType(s); t != cs.Type {
		return ExportConflict{Reason: ExportReasonTypeConflict,
			Message: fmt.Sprintf("Service type %s conflicts with the clusterset's %s (oldest export wins)", t, cs.Type)}, true
	}
	var conflicts []string
	for _, p := range s.Ports {
		i := slices.IndexFunc(cs.Ports, func(q ServicePort) bool { return q.Name == p.Name || q.Port == p.Port })
		if i < 0 {
			cs.Ports = append(cs.Ports, p)
			continue
		}
		q := cs.Ports[i]
		if q.Name != p.Name || q.Port != p.Port || protocolOf(q) != protocolOf(p) || q.AppProtocol != p.AppProtocol {
			conflicts = append(conflicts, fmt.Sprintf("port %q %d/%s conflicts with %q %d/%s", p.Name, p.Port, protocolOf(p), q.Name, q.Port, protocolOf(q)))
		}
	}
	if len(conflicts) == 0 {
		return ExportConflict{}, false
	}
	msg := conflicts[0]
	if len(conflicts) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(conflicts)-1)
	}
	return ExportConflict{Reason: ExportReasonPortConflict, Message: msg + " (oldest export wins)"}, true
}

func protocolOf(p ServicePort) string {
	if p.Protocol == "" {
		return "TCP"
	}
	return p.Protocol
}

// WithGossipedExports returns m in which every cluster but the local one
// that carries no ServiceExports takes those of the state of the same
// cluster in gossiped: a remote cluster watched through its API server
// that gave no ServiceExports (no MCS CRDs there, or a remote secret whose
// reader may not list them) keeps its services from the watch and its
// exports from its own daemon's gossip. m is not modified; it is returned itself when nothing
// is adopted.
func WithGossipedExports(m *MeshState, gossiped []*ClusterState) *MeshState {
	if m == nil {
		return nil
	}
	out := m
	for _, g := range gossiped {
		if g == nil || len(g.ServiceExports) == 0 || g.ID == m.LocalCluster {
			continue
		}
		c := out.Cluster(g.ID)
		if c == nil || len(c.ServiceExports) > 0 || c == g {
			continue
		}
		cc := *c
		cc.ServiceExports = g.ServiceExports
		out = out.WithCluster(&cc)
	}
	if out != m {
		out.Unreachable = m.Unreachable
	}
	return out
}
