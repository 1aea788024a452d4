package translate

import (
	"maps"

	"github.com/meshgate/meshgate/discovery/model"
)

// InferProxyIP finds the address of a gateway pod in the local cluster: an
// endpoint in namespace whose labels include every proxy label. It lets
// `meshgate translate` resolve targetPorts (listener 8080 for Service port 80)
// without the user naming the pod IP. It returns "" when none matches.
func InferProxyIP(mesh *model.MeshState, namespace string, labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	for _, s := range mesh.Local().Services {
		if s.Namespace != namespace {
			continue
		}
		for _, ep := range s.Endpoints {
			if len(ep.Labels) > 0 && model.LabelsMatch(labels, ep.Labels) {
				return ep.Address
			}
		}
	}
	return ""
}

// InferProxyLabels finds the pod labels of the gateway at ip in namespace
// of cluster (the local cluster when cluster is empty or unknown): the
// labels of an endpoint with that address. It lets the xDS server preview
// the configuration of a node that has not connected yet (so has sent no
// LABELS) from its node id alone. It returns nil when none matches.
func InferProxyLabels(mesh *model.MeshState, cluster, namespace, ip string) map[string]string {
	c := mesh.Cluster(cluster)
	if c == nil {
		c = mesh.Local()
	}
	if c == nil || ip == "" {
		return nil
	}
	for _, s := range c.Services {
		if s.Namespace != namespace {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Address == ip && len(ep.Labels) > 0 {
				return maps.Clone(ep.Labels)
			}
		}
	}
	return nil
}
