package ui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"time"
)

//go:embed assets
var assets embed.FS

// State is what the page draws. The daemon fills it; every field is safe
// to show to whoever may use the admin API.
type State struct {
	Self        Self           `json:"self"`
	Networks    []Network      `json:"networks"`
	Members     []Member       `json:"members"`
	Gateways    []Gateway      `json:"gateways"`
	Convergence []Histogram    `json:"convergence"`
	Rejections  []Rejection    `json:"rejections"`
	Notes       []string       `json:"notes,omitempty"`
	Extra       map[string]any `json:"extra,omitempty"`
	Now         time.Time      `json:"now"`
}

// Self is the daemon serving the page.
type Self struct {
	Cluster   string    `json:"cluster"`
	Network   string    `json:"network,omitempty"`
	Mesh      string    `json:"mesh,omitempty"`
	Version   string    `json:"version,omitempty"`
	Ready     bool      `json:"ready"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	// Federation says whether gossip is on (else Members is empty).
	Federation bool `json:"federation"`
}

// Network is one network of the mesh and what is in it.
type Network struct {
	Name string `json:"name"`
	// Gateways are its east-west gateway addresses (host:port), by which
	// other networks reach its endpoints.
	Gateways []string  `json:"gateways"`
	Clusters []Cluster `json:"clusters"`
}

// Cluster is one cluster as this daemon holds it.
type Cluster struct {
	ID         string `json:"id"`
	Local      bool   `json:"local"`
	Generation uint64 `json:"generation"`
	// Published is when the generation was made (generations are unix
	// nanoseconds of their publication, or later), zero when unknown.
	Published time.Time `json:"published,omitzero"`
	Services  int       `json:"services"`
	Endpoints int       `json:"endpoints"`
	// State is "local", "alive" (a live member publishes it), "no daemon"
	// (held, its daemons dead: fail-static) or "" when unknown.
	State string `json:"state"`
}

// Member is one daemon of the mesh (a gossip member).
type Member struct {
	Name       string    `json:"name"`
	Address    string    `json:"address"`
	Cluster    string    `json:"cluster"`
	State      string    `json:"state"`
	Generation uint64    `json:"generation"`
	Published  time.Time `json:"published,omitzero"` // as Cluster.Published
	Local      bool      `json:"local"`
	StateSince time.Time `json:"stateSince,omitzero"`
	LastSeen   time.Time `json:"lastSeen,omitzero"`
}

// Gateway is one proxy connected to this daemon.
type Gateway struct {
	ID          string    `json:"id"`
	Network     string    `json:"network,omitempty"`
	Cluster     string    `json:"cluster"`
	ConnectedAt time.Time `json:"connectedAt,omitzero"`
	Types       []XDSType `json:"types"`
}

// XDSType is the state of one xDS type of a gateway.
type XDSType struct {
	Type     string `json:"type"`
	Sent     string `json:"sent"`
	Acked    string `json:"acked"`
	NACKs    int    `json:"nacks"`
	LastNACK string `json:"lastNack,omitempty"`
	InSync   bool   `json:"inSync"`
}

// Histogram is a latency histogram: cumulative counts per upper bound (s).
type Histogram struct {
	Name    string    `json:"name"`
	Label   string    `json:"label"`
	Count   uint64    `json:"count"`
	Sum     float64   `json:"sum"`
	Bounds  []float64 `json:"bounds"`
	Buckets []uint64  `json:"buckets"`
}

// Rejection is one rejected input object.
type Rejection struct {
	Object string    `json:"object"`
	File   string    `json:"file,omitempty"`
	Field  string    `json:"field,omitempty"`
	Error  string    `json:"error"`
	Since  time.Time `json:"since,omitzero"`
}

// Handler serves the page and its state under /ui; state is called for
// every GET /ui/state.
func Handler(state func() State) http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(assets, "assets")
	files := http.FileServer(http.FS(sub))
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile("assets/index.html")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		secure(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui", http.StatusFound)
	})
	mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		files.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /ui/state", func(w http.ResponseWriter, _ *http.Request) {
		st := state()
		if st.Now.IsZero() {
			st.Now = time.Now()
		}
		secure(w)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(st)
	})
	return mux
}

// secure sets headers that keep the page to itself: no framing, no
// resource from anywhere else, no sniffing.
func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
