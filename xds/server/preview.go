package server

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// ErrNoConfiguration is PreviewConfigDump's error before the first complete
// configuration arrived (Update).
var ErrNoConfiguration = errors.New("no configuration loaded yet")

// PreviewQuery describes a node that has not connected: its id and the
// metadata it would send, named like `meshgate bootstrap`'s flags.
type PreviewQuery struct {
	// ID is the node id, router~<ip>~<pod>.<ns>~<ns>.svc.<domain>.
	ID string
	// Labels (LABELS); nil means the pod labels of the endpoint with the
	// id's IP in its namespace (translate.InferProxyLabels), as the pod's
	// gateway would send them.
	Labels map[string]string
	// Namespace (NAMESPACE, default the id's), Network (NETWORK),
	// ClusterID (CLUSTER_ID, default the server's), Generator (GENERATOR:
	// "" or grpc).
	Namespace, Network, ClusterID, Generator string
	// Flavor is istio (Istio's proxy, as a node announcing ISTIO_VERSION)
	// or envoy (upstream Envoy, the default: what `meshgate bootstrap`
	// starts).
	Flavor string
}

// PreviewQueryOf reads a PreviewQuery from /debug/config_dump's query:
// proxy=<node id>, label=k=v (repeatable), namespace, network, cluster-id,
// generator, flavor.
func PreviewQueryOf(q url.Values) (PreviewQuery, error) {
	pq := PreviewQuery{ID: q.Get("proxy"), Namespace: q.Get("namespace"), Network: q.Get("network"),
		ClusterID: q.Get("cluster-id"), Generator: q.Get("generator"), Flavor: q.Get("flavor")}
	for _, l := range q["label"] {
		for _, kv := range strings.Split(l, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return pq, fmt.Errorf("label %q: want key=value", kv)
			}
			if pq.Labels == nil {
				pq.Labels = map[string]string{}
			}
			pq.Labels[k] = v
		}
	}
	return pq, nil
}

// PreviewConfigDump returns what a node that has not connected would
// receive if it connected now: its configuration translated on demand from
// the current mesh state, neither cached nor published. The versions are
// the content hashes it would be sent, except SDS: identity secrets
// (default, ROOTCA) are issued to a connected node only, so a preview has
// none of them. Errors: a *NodeError for a bad id or metadata,
// ErrNoConfiguration before the first Update, or the translator's error.
func (s *Server) PreviewConfigDump(pq PreviewQuery) (*ConfigDump, error) {
	s.mu.Lock()
	mesh := s.mesh
	s.mu.Unlock()
	if mesh == nil {
		return nil, ErrNoConfiguration
	}
	n, err := s.previewNode(pq, mesh)
	if err != nil {
		return nil, err
	}
	res, err := s.translator(n)(mesh, n.Proxy, s.cfg.Translate)
	if err == nil && res == nil {
		err = errors.New("translator returned no result")
	}
	if err != nil {
		return nil, fmt.Errorf("translating for %s: %w", pq.ID, err)
	}
	// As newGroupBuild, without the identity secrets.
	var byKind [numKinds][]types.Resource
	byKind[kCluster] = asResources(res.Clusters)
	byKind[kListener] = asResources(res.Listeners)
	byKind[kRoute] = asResources(res.Routes)
	byKind[kSecret] = asResources(res.Secrets)
	b, err := newBuild(byKind, change{})
	if err != nil {
		return nil, err
	}
	d := &ConfigDump{
		Proxy: ProxyStatus{ID: pq.ID, Generator: n.Generator, Namespace: n.Namespace, Labels: n.Labels,
			Network: n.Network, ClusterID: n.ClusterID, RouterMode: n.RouterMode},
		Preview:   true,
		Versions:  map[string]string{},
		Listeners: dumpAll(b.resources(kListener)),
		Routes:    dumpAll(b.resources(kRoute)),
		Clusters:  dumpAll(b.resources(kCluster)),
		Endpoints: dumpAll(asResources(res.Endpoints)),
		Secrets:   dumpAll(b.resources(kSecret)),
	}
	for k := range numKinds {
		d.Versions[shortType(kindTypeURL[k])] = b.kinds[k].version
	}
	for _, e := range res.Errors {
		d.ObjectErrors = append(d.ObjectErrors, mesh.Locate(e).Error())
	}
	if selectors, unselected := translate.Unselected(mesh, n.Proxy); unselected {
		w := "no Gateway selects labels " + translate.LabelString(n.Labels) + ": no listeners"
		if len(selectors) > 0 {
			w += " (" + strings.Join(selectors, "; ") + ")"
		}
		d.Warnings = append(d.Warnings, w)
	}
	for _, w := range res.Warnings {
		d.Warnings = append(d.Warnings, w.Error())
	}
	return d, nil
}

// previewNode is the node pq describes, as if it had connected with that
// metadata (labels inferred from its pod in mesh when not given).
func (s *Server) previewNode(pq PreviewQuery, mesh *model.MeshState) (Node, error) {
	id, err := node.ParseID(pq.ID)
	if err != nil {
		return Node{}, &NodeError{Reason: "malformed_node_id", Err: err}
	}
	md := node.Metadata{Labels: pq.Labels, Namespace: pq.Namespace, Network: pq.Network, ClusterID: pq.ClusterID, Generator: pq.Generator}
	switch pq.Flavor {
	case "", string(translate.FlavorEnvoy):
	case string(translate.FlavorIstio):
		md.IstioVersion = "preview"
	default:
		return Node{}, nodeErr("bad_flavor", "flavor %q: want istio or envoy", pq.Flavor)
	}
	if md.Labels == nil {
		clusterID := pq.ClusterID
		if clusterID == "" {
			clusterID = s.cfg.ClusterID
		}
		md.Labels = translate.InferProxyLabels(mesh, clusterID, node.Node{ID: id, Metadata: md}.Namespace(), id.IP)
	}
	en, err := node.Node{ID: id, Metadata: md}.Envoy()
	if err != nil {
		return Node{}, &NodeError{Reason: "malformed_metadata", Err: err}
	}
	return ParseNode(en, s.cfg.ClusterID)
}
