package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"

	"github.com/meshgate/meshgate/discovery/model"
)

// Admin routes, served by AdminHandler on the daemon's admin API (loopback,
// a Unix socket, or TLS with authenticated, allow-listed callers: install
// carries a key in its body); never on the monitoring port. A daemon without
// gossip answers /federation/ with 503 {"error": "federation is not enabled
// on this daemon ..."}, which AdminClient returns as its error.
//
//	GET    /federation/keyring              → KeyringResponse (fingerprints, primary first)
//	POST   /federation/keyring              {"key":"<base64>"}            install a key
//	POST   /federation/keyring/use          {"key":…} or {"fingerprint":…} make it the primary
//	DELETE /federation/keyring?fingerprint=F  (or a {"key":…} body)       remove a key
//	GET    /federation/members              → MembersResponse
//	GET    /federation/history              → HistoryResponse (Node.History: how each remote cluster was learned, withdrawn or refused)
//
// Answers are JSON. Errors are {"error": "..."} with 400 (bad request), 404
// (no such key), 405 (method), 409 (the operation failed, e.g. removing the
// primary) or 503 (insecure mode: no keyring). A change that worked but could
// not be written to the keyring file answers 200 with "warning" set. Keys
// never appear in answers or logs, only fingerprints.
const (
	PathKeyring    = "/federation/keyring"
	PathKeyringUse = "/federation/keyring/use"
	PathMembers    = "/federation/members"
	PathHistory    = "/federation/history"
)

// HistoryResponse answers /federation/history (Node.History).
type HistoryResponse struct {
	Self     string                    `json:"self"`
	Clusters []model.ClusterProvenance `json:"clusters"`
}

// KeyRequest is the body of install, use and remove.
type KeyRequest struct {
	Key         string `json:"key,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// KeyringResponse answers keyring routes.
type KeyringResponse struct {
	Keys    []KeyInfo `json:"keys"`
	Warning string    `json:"warning,omitempty"`
}

// MembersResponse answers /federation/members.
type MembersResponse struct {
	Self    string   `json:"self"`
	Mesh    string   `json:"mesh"`
	Members []Member `json:"members"`
	// Refused are the remote clusters whose gossip this node refuses (not
	// admitted by the operator).
	Refused []RefusedCluster `json:"refused,omitempty"`
}

type errorResponse struct {
	Error string `json:"error"`
}

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{8}$`)

// AdminHandler serves the admin routes above.
func (n *Node) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathKeyring, n.serveKeys)
	mux.HandleFunc("POST "+PathKeyring, func(w http.ResponseWriter, r *http.Request) { n.serveKeyOp(w, r, "install") })
	mux.HandleFunc("POST "+PathKeyringUse, func(w http.ResponseWriter, r *http.Request) { n.serveKeyOp(w, r, "use") })
	mux.HandleFunc("DELETE "+PathKeyring, func(w http.ResponseWriter, r *http.Request) { n.serveKeyOp(w, r, "remove") })
	mux.HandleFunc("GET "+PathMembers, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, MembersResponse{Self: n.name, Mesh: n.cfg.MeshID, Members: n.Members(), Refused: n.Refused()})
	})
	mux.HandleFunc("GET "+PathHistory, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, HistoryResponse{Self: n.name, Clusters: n.History()})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorResponse{Error: err.Error()})
}

func (n *Node) serveKeys(w http.ResponseWriter, _ *http.Request) {
	keys, err := n.Keys()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, KeyringResponse{Keys: keys})
}

func (n *Node) serveKeyOp(w http.ResponseWriter, r *http.Request, op string) {
	if n.keyring == nil {
		writeError(w, http.StatusServiceUnavailable, ErrInsecure)
		return
	}
	var req KeyRequest
	if fp := r.URL.Query().Get("fingerprint"); fp != "" {
		req.Fingerprint = fp
	} else if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("keyring %s: body must be JSON {\"key\":…} or {\"fingerprint\":…}", op))
		return
	}
	key, code, err := n.resolveKey(op, req)
	if err != nil {
		writeError(w, code, err)
		return
	}
	switch op {
	case "install":
		err = n.InstallKey(key)
	case "use":
		err = n.UseKey(key)
	case "remove":
		err = n.RemoveKey(key)
	}
	var resp KeyringResponse
	var perr *PersistError
	switch {
	case errors.As(err, &perr):
		resp.Warning = perr.Error()
	case err != nil:
		writeError(w, http.StatusConflict, err)
		return
	}
	resp.Keys, _ = n.Keys()
	writeJSON(w, http.StatusOK, resp)
}

// resolveKey turns a request into key bytes: install needs the key; use and
// remove take the key or the fingerprint of an installed one.
func (n *Node) resolveKey(op string, req KeyRequest) ([]byte, int, error) {
	switch {
	case req.Key != "" && req.Fingerprint != "":
		return nil, http.StatusBadRequest, fmt.Errorf("keyring %s: give a key or a fingerprint, not both", op)
	case req.Key != "":
		k, err := ParseKey(req.Key)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("keyring %s: %w", op, err)
		}
		return k, 0, nil
	case op == "install":
		return nil, http.StatusBadRequest, errors.New("keyring install: needs the key itself")
	case !fingerprintRE.MatchString(req.Fingerprint):
		return nil, http.StatusBadRequest, fmt.Errorf("keyring %s: needs a key or an 8-hex-digit fingerprint", op)
	}
	k, err := n.KeyByFingerprint(req.Fingerprint)
	if err != nil {
		return nil, http.StatusNotFound, fmt.Errorf("keyring %s: %w", op, err)
	}
	return k, 0, nil
}
