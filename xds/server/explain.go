package server

import (
	"errors"
	"net/http"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// Explain answers q (translate.ExplainWithHistory, with the history set by
// SetHistory) for the node pq names: a connected node as it connected (its
// metadata), any other as PreviewConfigDump would see it. Errors as
// PreviewConfigDump's.
func (s *Server) Explain(pq PreviewQuery, q translate.Query) (*translate.Explanation, error) {
	s.mu.Lock()
	mesh := s.mesh
	var proxy *translate.Proxy
	if p := s.proxies[pq.ID]; p != nil && p.group != nil {
		pp := p.group.node.Proxy
		proxy = &pp
		if id, err := node.ParseID(pq.ID); err == nil {
			proxy.IP = id.IP // the group's template has it cleared
		}
	}
	s.mu.Unlock()
	if mesh == nil {
		return nil, ErrNoConfiguration
	}
	if proxy == nil {
		n, err := s.previewNode(pq, mesh)
		if err != nil {
			return nil, err
		}
		proxy = &n.Proxy
	}
	var hist []model.ClusterProvenance
	if h := s.history.Load(); h != nil {
		hist = (*h)()
	}
	return translate.ExplainWithHistory(mesh, *proxy, s.cfg.Translate, q, hist)
}

// SetHistory gives explain the federation history of the remote clusters
// (federation.Node.History): how each was learned (peer, owner, generation,
// when), and which are withdrawn, hidden or refused, and why. It may be
// called at any time; h is called once per explain, without the server's
// locks held.
func (s *Server) SetHistory(h func() []model.ClusterProvenance) { s.history.Store(&h) }

// serveExplain is /debug/explain?proxy=<id>&host=H (or cluster, endpoint,
// sni), with a preview's query parameters for a node not connected.
func (s *Server) serveExplain(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	if v.Get("proxy") == "" {
		http.Error(w, "missing ?proxy=<node id>; see /debug/proxies", http.StatusBadRequest)
		return
	}
	pq, err := PreviewQueryOf(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	x, err := s.Explain(pq, translate.Query{Host: v.Get("host"), Cluster: v.Get("cluster"), Endpoint: v.Get("endpoint"), SNI: v.Get("sni")})
	var ne *NodeError
	switch {
	case errors.As(err, &ne):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrNoConfiguration):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest) // the query's: translate.Explain validates it
	default:
		writeJSON(w, x)
	}
}
