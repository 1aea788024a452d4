package server

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
)

// MonitoringMux returns the read-only monitoring endpoints (the port the
// Service and the probes use; it may be exposed):
//
//	/healthz                         the process is up
//	/readyz                          200 once the first complete configuration is built
//	/metrics                         Prometheus metrics of g
//
// Callers may add handlers to the returned mux.
func (s *Server) MonitoringMux(g prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready: waiting for the first complete configuration", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return mux
}

// AdminMux returns the privileged admin endpoints (loopback, a Unix socket,
// or authenticated callers only: they show every proxy's configuration):
//
//	/debug/proxies                   connected proxies, versions sent/acked per type, last NACK
//	/debug/config_dump?proxy=<id>    a proxy's resources (protojson, private keys redacted); for a node
//	                                 not connected, what it would receive (PreviewConfigDump; query
//	                                 label=k=v, namespace, network, cluster-id, generator, flavor)
//	/debug/explain?proxy=<id>&host=H why the proxy has or lacks a host, cluster=NAME, endpoint=IP:PORT or
//	                                 sni=SNI (translate.ExplainWithHistory: with SetHistory, how remote clusters were
//	                                 learned or why they are gone); the preview's parameters for a node not connected
//
// Callers may add handlers to the returned mux.
func (s *Server) AdminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/proxies", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Proxies())
	})
	mux.HandleFunc("GET /debug/config_dump", s.serveConfigDump)
	mux.HandleFunc("GET /debug/explain", s.serveExplain)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ConfigDump is what /debug/config_dump returns for one proxy.
type ConfigDump struct {
	Proxy ProxyStatus `json:"proxy"`
	// Preview says the node is not connected: this is what it would
	// receive (PreviewConfigDump), without identity secrets.
	Preview bool `json:"preview,omitempty"`
	// Versions are the versions published to the proxy, by type.
	Versions map[string]string `json:"versions"`
	// Pending are the versions waiting for the second step of a staged
	// (make-before-break) update.
	Pending      map[string]string `json:"pending,omitempty"`
	ObjectErrors []string          `json:"objectErrors,omitempty"`
	LastError    string            `json:"lastTranslateError,omitempty"`
	Warnings     []string          `json:"warnings,omitempty"` // of a preview's translation
	Listeners    []json.RawMessage `json:"listeners"`
	Routes       []json.RawMessage `json:"routes"`
	Clusters     []json.RawMessage `json:"clusters"`
	Endpoints    []json.RawMessage `json:"endpoints"`
	Secrets      []json.RawMessage `json:"secrets"`
}

// ConfigDumpOf returns the configuration published to a connected proxy,
// with secret material redacted.
func (s *Server) ConfigDumpOf(id string) (*ConfigDump, bool) {
	st, ok := s.Proxy(id)
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	p := s.proxies[id]
	s.mu.Unlock()
	if p == nil {
		return nil, false
	}
	g := p.group
	g.mu.Lock()
	pub, pending := p.published, p.pending
	objErrs, lastErr := slices.Clone(g.objErrs), g.lastErr
	g.mu.Unlock()
	d := &ConfigDump{Proxy: st, Versions: map[string]string{}, ObjectErrors: objErrs, LastError: lastErr}
	if pub != nil {
		for k := range numKinds {
			d.Versions[shortType(kindTypeURL[k])] = pub.kinds[k].version
		}
		d.Listeners = dumpAll(pub.resources(kListener))
		d.Routes = dumpAll(pub.resources(kRoute))
		d.Clusters = dumpAll(pub.resources(kCluster))
		d.Secrets = dumpAll(pub.resources(kSecret))
	}
	if pending != nil {
		d.Pending = map[string]string{}
		for k := range numKinds {
			d.Pending[shortType(kindTypeURL[k])] = pending.kinds[k].version
		}
	}
	eps := g.endpoints()
	names := slices.Sorted(maps.Keys(eps))
	list := make([]types.Resource, len(names))
	for i, n := range names {
		list[i] = eps[n]
	}
	d.Endpoints = dumpAll(list)
	return d, true
}

func dumpAll(rs []types.Resource) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(rs))
	for _, r := range rs {
		b, err := protojson.Marshal(Redact(r))
		if err != nil {
			b, _ = json.Marshal(map[string]string{"error": err.Error()})
		}
		out = append(out, b)
	}
	return out
}

func (s *Server) serveConfigDump(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("proxy")
	if id == "" {
		http.Error(w, "missing ?proxy=<node id>; see /debug/proxies", http.StatusBadRequest)
		return
	}
	if d, ok := s.ConfigDumpOf(id); ok {
		writeJSON(w, d)
		return
	}
	pq, err := PreviewQueryOf(r.URL.Query())
	if err != nil {
		http.Error(w, "proxy "+id+" is not connected; previewing it: "+err.Error(), http.StatusBadRequest)
		return
	}
	d, err := s.PreviewConfigDump(pq)
	var ne *NodeError
	switch {
	case errors.As(err, &ne):
		http.Error(w, "proxy "+id+" is not connected; previewing it: "+err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrNoConfiguration):
		http.Error(w, "proxy "+id+" is not connected; previewing it: "+err.Error(), http.StatusServiceUnavailable)
	case err != nil:
		http.Error(w, "proxy "+id+" is not connected; previewing it: "+err.Error(), http.StatusInternalServerError)
	default:
		writeJSON(w, d)
	}
}
