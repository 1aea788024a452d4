package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/xds/sds"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/server/authn"
	"github.com/meshgate/meshgate/xds/server/caservice"
)

// DefaultSecureXDSAddress is the secure xDS port in-cluster (Istio's 15012).
const DefaultSecureXDSAddress = "0.0.0.0:15012"

// The secure port's Kubernetes client rate limit (TokenReviews, pod GETs).
const (
	authnQPS   = 80
	authnBurst = 160
)

// secureXDSOff turns the secure port off (secure-xds-address).
const secureXDSOff = "off"

// secureAddress is where the secure xDS port listens ("" for none): the
// configured address, or DefaultSecureXDSAddress in-cluster.
func (c Config) secureAddress() string {
	switch {
	case c.SecureXDSAddress == secureXDSOff:
		return ""
	case c.SecureXDSAddress != "":
		return c.SecureXDSAddress
	case c.InCluster:
		return DefaultSecureXDSAddress
	}
	return ""
}

// xdsDNSNames are the serving certificate's DNS names: configured, or the
// daemon's Service (meshgate.<namespace>.svc[.<domain-suffix>]).
func (c Config) xdsDNSNames() []string {
	if len(c.XDSDNSNames) > 0 {
		return c.XDSDNSNames
	}
	return []string{"meshgate." + c.Namespace + ".svc", "meshgate." + c.Namespace + ".svc." + c.DomainSuffix}
}

// isLoopback reports whether a listen address binds only loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authnKube is the Kubernetes client of an authenticator (TokenReviews, pod
// GETs), with its own rate limit: client-go's default (5 QPS) would admit
// five new gateways a second after a restart; istiod uses 80/160.
func authnKube(restCfg *rest.Config) (kubernetes.Interface, error) {
	restCfg = rest.CopyConfig(restCfg)
	restCfg.QPS, restCfg.Burst = authnQPS, authnBurst
	kc, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("Kubernetes client: %w", err)
	}
	return kc, nil
}

// servingCert is the daemon's TLS certificate (secure xDS port, exposed
// admin API): meshgate's own SVID from its CA with the Service's DNS names,
// renewed at half life.
func servingCert(cfg Config, id *sds.Provider, log *slog.Logger) (*authn.ServingCert, error) {
	self, err := spiffeid.FromSegments(id.TrustDomain(), "ns", cfg.Namespace, "sa", "meshgate")
	if err != nil {
		return nil, fmt.Errorf("serving identity: %w", err)
	}
	return authn.NewServingCert(id.CA(), self, cfg.xdsDNSNames(), cfg.SVIDTTL.D(), nil, log)
}

// securePort is the secure xDS port: gRPC over TLS with a certificate from
// meshgate's CA, every caller authenticated (an SVID, or a service-account
// token through TokenReview when the daemon has a Kubernetes client),
// serving ADS and Istio's CA service.
type securePort struct {
	lis net.Listener
	gs  *grpc.Server
}

func newSecurePort(cfg Config, id *sds.Provider, restCfg *rest.Config, xds *server.Server, log *slog.Logger, reg prometheus.Registerer) (*securePort, error) {
	acfg := authn.DefaultConfig(cfg.TrustDomain)
	acfg.ClusterID = cfg.ClusterID
	if len(cfg.TokenAudiences) > 0 {
		acfg.Audiences = cfg.TokenAudiences
	}
	opts := authn.Options{Bundles: id, Logger: log, Registerer: reg}
	if restCfg != nil {
		kc, err := authnKube(restCfg)
		if err != nil {
			return nil, fmt.Errorf("secure-xds-address: %w", err)
		}
		opts.Kube = kc
	} else {
		log.Info("secure xDS: no Kubernetes source, so only client certificates (SVIDs) are accepted, no tokens")
	}
	a, err := authn.New(acfg, opts)
	if err != nil {
		return nil, err
	}
	sc, err := servingCert(cfg, id, log)
	if err != nil {
		return nil, err
	}
	ca, err := caservice.New(id.CA(), caservice.Config{DefaultTTL: cfg.SVIDTTL.D(), MaxTTL: max(cfg.SVIDTTL.D(), 24*time.Hour)},
		caservice.Options{Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer(a.ServerOptions(authn.ServerTLSConfig(sc))...)
	xds.Register(gs)
	ca.Register(gs)
	lis, err := net.Listen("tcp", cfg.secureAddress())
	if err != nil {
		return nil, fmt.Errorf("secure-xds-address: %w", err)
	}
	return &securePort{lis: lis, gs: gs}, nil
}

func (p *securePort) addr() string { return p.lis.Addr().String() }

// serve blocks until stop.
func (p *securePort) serve() error { return p.gs.Serve(p.lis) }

// stop ends the server once its xDS streams have ended (the xDS server's
// Run has returned), waiting for CA calls until ctx is done.
func (p *securePort) stop(ctx context.Context) {
	done := make(chan struct{})
	go func() { p.gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.gs.Stop()
	}
}
