package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/xds/sds"
	"github.com/meshgate/meshgate/xds/server/authn"
)

// unixPrefix makes admin-address a Unix socket path.
const unixPrefix = "unix:"

// AdminTokenAudience is the audience a service-account token must carry on
// an authenticated admin API (kubectl create token SA --audience
// meshgate-admin): a token minted for the xDS port (istio-ca) or the API
// server is not accepted here.
const AdminTokenAudience = "meshgate-admin"

// adminAPI is the privileged admin surface: on loopback or a Unix socket
// it is served as is (whoever can reach it is local); with admin-allow it is
// served over TLS and every request needs an authenticated, allowed caller.
type adminAPI struct {
	lis   net.Listener
	tls   *tls.Config          // nil: plain HTTP (loopback, Unix socket)
	auth  *authn.Authenticator // nil: no authentication
	allow []string             // "namespace/serviceaccount"
	log   *slog.Logger
	reqs  *prometheus.CounterVec
}

func newAdminAPI(cfg Config, id *sds.Provider, restCfg *rest.Config, log *slog.Logger, reg prometheus.Registerer) (*adminAPI, error) {
	a := &adminAPI{log: log, allow: cfg.AdminAllow,
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_admin_requests_total",
			Help: "Requests to the admin API by result: local (loopback or Unix socket, no authentication), allowed, unauthenticated (401) or forbidden (403)."},
			[]string{"result"})}
	if err := reg.Register(a.reqs); err != nil {
		return nil, err
	}
	if len(cfg.AdminAllow) > 0 {
		acfg := authn.DefaultConfig(cfg.TrustDomain)
		acfg.ClusterID, acfg.Audiences = cfg.ClusterID, []string{AdminTokenAudience}
		// Its own registry: meshgate_xds_authn_total counts xDS callers;
		// the admin's refusals are in meshgate_admin_requests_total.
		opts := authn.Options{Bundles: id, Logger: log, Registerer: prometheus.NewRegistry()}
		if restCfg != nil {
			kc, err := authnKube(restCfg)
			if err != nil {
				return nil, fmt.Errorf("admin-address: %w", err)
			}
			opts.Kube = kc
		} else {
			log.Info("admin API: no Kubernetes source, so only client certificates (SVIDs) are accepted, no tokens")
		}
		var err error
		if a.auth, err = authn.New(acfg, opts); err != nil {
			return nil, fmt.Errorf("admin-address: %w", err)
		}
		sc, err := servingCert(cfg, id, log)
		if err != nil {
			return nil, fmt.Errorf("admin-address: %w", err)
		}
		a.tls = authn.ServerTLSConfig(sc)
	}
	var err error
	if path, unix := strings.CutPrefix(cfg.AdminAddress, unixPrefix); unix {
		// A socket left by a daemon that did not stop cleanly.
		if st, serr := os.Lstat(path); serr == nil && st.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(path)
		}
		a.lis, err = net.Listen("unix", path)
		if err == nil {
			err = os.Chmod(path, 0o600)
		}
	} else {
		a.lis, err = net.Listen("tcp", cfg.AdminAddress)
	}
	if err != nil {
		if a.lis != nil {
			a.lis.Close()
		}
		return nil, fmt.Errorf("admin-address: %w", err)
	}
	if a.tls != nil {
		a.lis = tls.NewListener(a.lis, a.tls)
	}
	return a, nil
}

// addr is the bound address: HOST:PORT, or unix:PATH.
func (a *adminAPI) addr() string {
	if a.lis.Addr().Network() == "unix" {
		return unixPrefix + a.lis.Addr().String()
	}
	return a.lis.Addr().String()
}

// handler guards h: with authentication, an unproven caller gets 401 and a
// caller outside admin-allow 403 (each counted and logged); every change
// (not GET or HEAD) is logged with its caller.
func (a *adminAPI) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "local"
		if a.auth != nil {
			c, err := a.auth.AuthenticateHTTP(r)
			if err != nil {
				a.reqs.WithLabelValues("unauthenticated").Inc()
				var e *authn.Error
				reason := "unauthenticated"
				if errors.As(err, &e) {
					reason = e.Reason
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="meshgate-admin"`)
				http.Error(w, "unauthenticated ("+reason+"): present a client certificate of the mesh CA or a service-account token for audience "+AdminTokenAudience, http.StatusUnauthorized)
				return
			}
			if !slices.Contains(a.allow, c.Namespace+"/"+c.ServiceAccount) {
				a.reqs.WithLabelValues("forbidden").Inc()
				a.log.Warn("admin API: caller not in admin-allow", "caller", c.String(), "method", r.Method, "path", r.URL.Path, "peer", r.RemoteAddr)
				http.Error(w, "forbidden: "+c.Namespace+"/"+c.ServiceAccount+" is not in admin-allow", http.StatusForbidden)
				return
			}
			a.reqs.WithLabelValues("allowed").Inc()
			who = c.String()
		} else {
			a.reqs.WithLabelValues("local").Inc()
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			a.log.Info("admin API change", "caller", who, "method", r.Method, "path", r.URL.Path, "peer", r.RemoteAddr)
		}
		h.ServeHTTP(w, r)
	})
}

// federationOff answers /federation/ when gossip is off, so that `meshgate
// members|keyring` can say so instead of a bare 404.
func federationOff(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(`{"error":"federation is not enabled on this daemon (no gossip-address)"}` + "\n"))
}
