package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/identity/caclient"
)

// Config configures the agent.
type Config struct {
	// CA is how the agent reaches the daemon's CA (address, server name,
	// mesh roots, token file).
	CA caclient.Config
	// Socket is the Unix socket path of the SDS server (Istio's
	// /etc/istio/proxy/XDS is the pilot-agent's; meshgate uses
	// /var/run/meshgate/sds.sock by default in deploy/).
	Socket string
	// Logger (default slog.Default()); Registerer (default none).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Agent serves the pod's SVID and the mesh root to Envoy.
type Agent struct {
	cfg   Config
	ca    *caclient.Client
	cache *cache.LinearCache
	log   *slog.Logger
}

// New validates cfg and builds the agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.Socket == "" {
		return nil, errors.New("agent: Socket: required (the SDS socket Envoy's bootstrap names)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CA.Logger == nil {
		cfg.CA.Logger = cfg.Logger.With("component", "caclient")
	}
	if cfg.CA.Registerer == nil {
		cfg.CA.Registerer = cfg.Registerer
	}
	if cfg.CA.TokenFile == "" {
		return nil, errors.New("agent: CA.TokenFile: required (the projected service-account token, audience istio-ca)")
	}
	ca, err := caclient.New(cfg.CA)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &Agent{cfg: cfg, ca: ca, log: cfg.Logger,
		cache: cache.NewLinearCache(resource.SecretType, cache.WithLogger(cpLog{cfg.Logger}))}, nil
}

// Current is the SVID served now (nil before the first).
func (a *Agent) Current() *x509svid.SVID { return a.ca.Current() }

// Run serves SDS on the socket and keeps the SVID fresh until ctx ends. It
// returns nil then, or the error that kept it from serving.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.Remove(a.cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("agent: stale socket %s: %w", a.cfg.Socket, err)
	}
	lis, err := net.Listen("unix", a.cfg.Socket)
	if err != nil {
		return fmt.Errorf("agent: SDS socket: %w", err)
	}
	if err := os.Chmod(a.cfg.Socket, 0o600); err != nil {
		lis.Close()
		return fmt.Errorf("agent: SDS socket: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.ca.Subscribe(func(s *x509svid.SVID) {
		if err := a.publish(s); err != nil {
			a.log.Error("agent: cannot serve the SVID to Envoy", "err", err)
		}
	})
	gs := grpc.NewServer()
	secretv3.RegisterSecretDiscoveryServiceServer(gs, serverv3.NewServer(ctx, a.cache, nil))
	caDone := make(chan struct{})
	go func() { defer close(caDone); _ = a.ca.Run(ctx) }()
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	a.log.Info("agent: serving SDS (default, ROOTCA) to Envoy", "socket", a.cfg.Socket, "ca", a.cfg.CA.Address)
	select {
	case <-ctx.Done():
		err = nil
	case err = <-served:
		err = fmt.Errorf("agent: SDS server: %w", err)
	}
	cancel()
	gs.Stop()
	<-caDone
	return err
}

// publish replaces default and ROOTCA (the configured mesh roots, which
// the issued chain was verified against).
func (a *Agent) publish(s *x509svid.SVID) error {
	def, err := identity.CertificateSecret(s)
	if err != nil {
		return err
	}
	b := x509bundle.FromX509Authorities(s.ID.TrustDomain(), a.cfg.CA.Roots)
	root, err := identity.RootCASecret(x509bundle.NewSet(b))
	if err != nil {
		return err
	}
	if err := a.cache.UpdateResources(map[string]types.Resource{identity.SecretDefault: def, identity.SecretRootCA: root}, nil); err != nil {
		return err
	}
	a.log.Info("agent: SVID handed to Envoy", identity.SVIDAttr("svid", s))
	return nil
}

// cpLog passes go-control-plane's warnings and errors to slog and drops
// its debug and info chatter.
type cpLog struct{ l *slog.Logger }

func (cpLog) Debugf(string, ...any)          {}
func (cpLog) Infof(string, ...any)           {}
func (c cpLog) Warnf(f string, args ...any)  { c.l.Warn("sds: " + fmt.Sprintf(f, args...)) }
func (c cpLog) Errorf(f string, args ...any) { c.l.Error("sds: " + fmt.Sprintf(f, args...)) }
