package translate

import (
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/sni"
)

// EndpointsFor builds only the ClusterLoadAssignments of the given EDS
// clusters (outbound|… and east-west outbound_.… names) for proxy: the fast
// path for endpoint-only changes, when the clusters are known from the last
// full translation. It gives exactly what Translate would for those clusters,
// without building listeners, routes or clusters. Unknown names are skipped.
func EndpointsFor(mesh *model.MeshState, proxy Proxy, opts Options, clusters []string) []*endpointv3.ClusterLoadAssignment {
	ix := BuildIndex(mesh, opts)
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
	return b.out.Endpoints
}

func parseClusterRef(name string) (sni.Name, bool, bool) {
	if n, err := sni.Parse(name); err == nil {
		return n, true, true
	}
	if n, err := sni.ParseClusterName(name); err == nil {
		return n, false, true
	}
	return sni.Name{}, false, false
}
