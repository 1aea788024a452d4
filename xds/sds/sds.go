package sds

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/xds/server"
)

// Config selects the CA and the SVIDs' lifetime.
type Config struct {
	// TrustDomain is the SPIFFE trust domain. Required.
	TrustDomain string
	// CACerts is an Istio-style cacerts directory (ca-cert.pem, ca-key.pem,
	// root-cert.pem, cert-chain.pem) to use as the CA: an intermediate under
	// a shared root.
	CACerts string
	// CADir persists meshgate's own CA (created on first start). With
	// neither CACerts nor CADir the CA is ephemeral: it lives as long as the
	// process.
	CADir string
	// SVIDTTL is the lifetime of gateway SVIDs (renewed at half); 0 means
	// identity.DefaultSVIDTTL.
	SVIDTTL time.Duration
}

// Options are the Provider's collaborators.
type Options struct {
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Registerer, when set, receives the SVID manager's metrics.
	Registerer prometheus.Registerer
}

// Provider serves the identity secrets "default" and "ROOTCA". It is safe
// for concurrent use.
type Provider struct {
	ca  *identity.CA
	mgr *identity.Manager
	td  spiffeid.TrustDomain
	log *slog.Logger

	mu     sync.Mutex
	bundle *x509bundle.Set
	roots  []byte // PEM of bundle, to detect changes
}

var _ server.SecretProvider = (*Provider)(nil)

// New loads the CA named by cfg: the cacerts directory, or the CA
// persisted in CADir (created on first start), or, with neither, an
// ephemeral CA.
func New(ctx context.Context, cfg Config, opts Options) (*Provider, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	td, err := spiffeid.TrustDomainFromString(cfg.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("trust-domain: %w", err)
	}
	var ca *identity.CA
	switch {
	case cfg.CACerts != "":
		m, err := identity.DirStore{Dir: cfg.CACerts}.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("cacerts: %w", err)
		}
		if ca, err = identity.ParseCA(m, td, nil); err != nil {
			return nil, fmt.Errorf("cacerts %s: %w", cfg.CACerts, err)
		}
		log.Info("identity: using the plugged-in CA", "cacerts", cfg.CACerts)
	case cfg.CADir != "":
		var created bool
		if ca, created, err = identity.LoadOrCreateCA(ctx, identity.DirStore{Dir: cfg.CADir}, identity.CAConfig{TrustDomain: td}, identity.CAOptions{}); err != nil {
			return nil, fmt.Errorf("ca-dir: %w", err)
		}
		log.Info("identity: CA ready", "dir", cfg.CADir, "created", created)
	default:
		if ca, err = identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{}); err != nil {
			return nil, err
		}
		log.Warn("identity: no ca-dir or cacerts set; using an ephemeral CA (SVIDs change on every restart)")
	}
	mgr, err := identity.NewManager(ca, identity.ManagerConfig{TTL: cfg.SVIDTTL}, identity.ManagerOptions{Logger: log, Registerer: opts.Registerer})
	if err != nil {
		return nil, err
	}
	p := &Provider{ca: ca, mgr: mgr, td: td, log: log}
	p.SetBundles(nil)
	return p, nil
}

// IdentitySecrets implements server.SecretProvider.
func (p *Provider) IdentitySecrets(n server.Node) ([]*tlsv3.Secret, error) {
	sa := n.ServiceAccount
	if sa == "" {
		sa = "default"
	}
	id, err := identity.NewWorkloadID(p.td.Name(), n.Namespace, sa)
	if err != nil {
		return nil, err
	}
	svid, err := p.mgr.Get(id)
	if err != nil {
		return nil, err
	}
	cert, err := identity.CertificateSecret(svid)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	set := p.bundle
	p.mu.Unlock()
	roots, err := identity.RootCASecret(set)
	if err != nil {
		return nil, err
	}
	return []*tlsv3.Secret{cert, roots}, nil
}

// CA is the local CA (federation certifies its record-signing key with it).
func (p *Provider) CA() *identity.CA { return p.ca }

// TrustDomain is the local trust domain.
func (p *Provider) TrustDomain() spiffeid.TrustDomain { return p.td }

// GetX509BundleForTrustDomain makes the provider an x509bundle.Source (the
// secure xDS port's): client certificates verify against the bundles the
// mesh knows now (they change with federation).
func (p *Provider) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	p.mu.Lock()
	set := p.bundle
	p.mu.Unlock()
	return set.GetX509BundleForTrustDomain(td)
}

var _ x509bundle.Source = (*Provider)(nil)

// RootsPEM is the local CA's roots, which the daemon publishes in the local
// ClusterState (federation carries them to the other clusters).
func (p *Provider) RootsPEM() []byte {
	return identity.RootsPEM(identity.NewBundleSet(p.ca.Bundle()))
}

// SetBundles rebuilds ROOTCA from the local CA and the trust bundles of the
// given clusters; it reports whether the roots changed.
func (p *Provider) SetBundles(clusters []*model.ClusterState) bool {
	set := identity.NewBundleSet(p.ca.Bundle())
	for _, c := range clusters {
		if len(c.TrustBundle) == 0 || c.TrustDomain == "" {
			continue
		}
		td, err := spiffeid.TrustDomainFromString(c.TrustDomain)
		if err != nil {
			p.log.Warn("identity: cluster has a bad trust domain; its bundle is ignored", "cluster", c.ID, "err", err)
			continue
		}
		b, err := identity.ParseBundlePEM(td, c.TrustBundle)
		if err != nil {
			p.log.Warn("identity: cluster trust bundle ignored", "cluster", c.ID, "err", err)
			continue
		}
		identity.AddBundle(set, b)
	}
	roots := identity.RootsPEM(set)
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := !bytes.Equal(roots, p.roots)
	p.bundle, p.roots = set, roots
	return changed
}

// Run renews SVIDs until ctx is done (nil), calling changed after every
// renewal (so the xDS server rebuilds SDS).
func (p *Provider) Run(ctx context.Context, changed func()) error {
	cancel := p.mgr.Subscribe(func(*x509svid.SVID) { changed() })
	defer cancel()
	return p.mgr.Run(ctx)
}
