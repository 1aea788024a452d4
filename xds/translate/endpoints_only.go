package translate

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/sni"
)

// EndpointsFor builds only the ClusterLoadAssignments of the given EDS
// clusters (outbound|… and east-west outbound_.… names) for proxy: the fast
// path for endpoint-only changes, when the clusters are known from the last
// full translation. It gives exactly what Translate would for those clusters,
// without building listeners, routes or clusters. Unknown names are skipped.
// Its cost follows the clusters asked for, not the mesh: it indexes only
// their services (see narrowed). Every assignment is validated as
// Translate validates it (Envoy's rules); where Translate would drop one
// and report it, EndpointsFor returns an error naming each (and the
// assignments, valid or not, for the caller to drop or keep its last good
// ones).
func EndpointsFor(mesh *model.MeshState, proxy Proxy, opts Options, clusters []string) ([]*endpointv3.ClusterLoadAssignment, error) {
	ix := BuildIndex(narrowed(mesh, clusters), opts)
	p := ix.completeProxy(proxy)
	b := &builder{ix: ix, proxy: &p, out: &Result{}}
	var out []*endpointv3.ClusterLoadAssignment
	for _, name := range clusters {
		n, sniDNAT, ok := parseClusterRef(name)
		if !ok {
			continue
		}
		svc := ix.service(n.Host, p.Namespace)
		if svc == nil || svc.Entry != nil && !edsResolution(svc.Entry.Resolution) {
			continue
		}
		sp, found := svc.port(n.Port)
		if !found {
			continue
		}
		dr := ix.destinationRule(n.Host, p.Namespace, svc.Namespace, p.Labels)
		var subset *model.Subset
		if n.Subset != "" {
			if subset = findSubset(dr, n.Subset); subset == nil {
				continue
			}
		}
		out = append(out, b.loadAssignment(name, svc, sp, subset, endpointTLSMode(dr, n.Subset, n.Port), effectivePolicy(dr, subset, n.Port), sniDNAT))
	}
	b.out.Endpoints = out
	b.sortOutput()
	var errs []error
	for _, cla := range b.out.Endpoints {
		if err := validateOne(cla); err != nil {
			errs = append(errs, fmt.Errorf("endpoints %q failed Envoy validation: %w", cla.GetClusterName(), err))
		}
	}
	return b.out.Endpoints, errors.Join(errs...)
}

func parseClusterRef(name string) (sni.Name, bool, bool) {
	n, form, err := sni.ParseAny(name)
	if err != nil {
		return sni.Name{}, false, false
	}
	return n, form == sni.FormSNI, true
}

// narrowed is what EndpointsFor needs of mesh to build the endpoints of
// clusters: the Services of their hosts (in every cluster, by binary search;
// for a clusterset host, the Service of its namespace and name),
// every DestinationRule, ServiceEntry and network gateway, and no Gateway or
// VirtualService (routing does not shape endpoints). Every Service stays when
// a ServiceEntry selects workloads (its endpoints come from any Service of
// its namespace), or when a name cannot be read.
func narrowed(mesh *model.MeshState, clusters []string) *model.MeshState {
	hosts := make([]string, 0, len(clusters))
	for _, name := range clusters {
		n, _, ok := parseClusterRef(name)
		if !ok {
			return mesh
		}
		hosts = append(hosts, n.Host)
	}
	for _, se := range mesh.Local().ServiceEntries {
		if se.WorkloadSelector != nil {
			return mesh
		}
	}
	slices.Sort(hosts) // the Services stay sorted by hostname
	hosts = slices.Compact(hosts)
	out := &model.MeshState{MeshID: mesh.MeshID, LocalCluster: mesh.LocalCluster, Clusters: make([]*model.ClusterState, len(mesh.Clusters))}
	for i, c := range mesh.Clusters {
		nc := *c
		nc.Services, nc.Gateways, nc.VirtualServices = nil, nil, nil
		clusterSet := false
		for _, h := range hosts {
			if s := c.Service(h); s != nil {
				nc.Services = append(nc.Services, *s)
			} else if name, ns, ok := clusterSetService(h); ok {
				// a clusterset host: the exported Service of each cluster
				if s := c.ServiceByName(ns, name); s != nil {
					nc.Services = append(nc.Services, *s)
					clusterSet = true
				}
			}
		}
		if clusterSet {
			slices.SortFunc(nc.Services, func(a, b model.Service) int { return strings.Compare(a.Hostname, b.Hostname) })
			nc.Services = slices.CompactFunc(nc.Services, func(a, b model.Service) bool { return a.Hostname == b.Hostname })
		}
		out.Clusters[i] = &nc
	}
	return out
}

// clusterSetService reads "<name>.<namespace>.svc.clusterset.local".
func clusterSetService(host string) (name, namespace string, ok bool) {
	rest, ok := strings.CutSuffix(host, ".svc."+model.ClusterSetDomain)
	if !ok {
		return "", "", false
	}
	name, namespace, ok = strings.Cut(rest, ".")
	return name, namespace, ok && name != "" && namespace != "" && !strings.Contains(namespace, ".")
}
