package translate

import (
	"slices"
	"strings"

	"github.com/meshgate/meshgate/discovery/model"
)

// Unselected says whether no Gateway of the mesh's local cluster selects p
// (so it gets no listeners) and, if so, what each Gateway selects
// ("ns/name selects k=v", sorted). The proxy is valid either way, as istiod
// would serve it; this is for people (translate, a config_dump preview).
func Unselected(mesh *model.MeshState, p Proxy) (selectors []string, unselected bool) {
	if local := mesh.Local(); local != nil {
		for _, g := range local.Gateways {
			if model.LabelsMatch(g.Selector, p.Labels) {
				return nil, false
			}
			selectors = append(selectors, g.Namespace+"/"+g.Name+" selects "+LabelString(g.Selector))
		}
	}
	slices.Sort(selectors)
	return selectors, true
}

// LabelString is labels as k=v,k=v, sorted by key.
func LabelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return strings.Join(keys, ",")
}
