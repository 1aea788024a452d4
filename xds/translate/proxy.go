package translate

import (
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
