package daemon

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/xds/server"
)

// identityProvider serves the gateways' SDS identity secrets from meshgate's
// CA: "default" (the gateway's SVID, spiffe://<td>/ns/<ns>/sa/<sa>, renewed
// at half life) and "ROOTCA" (the roots of every trust domain the mesh knows:
// the local CA's and the trust bundles other clusters publish).
type identityProvider struct {
	ca  *identity.CA
	mgr *identity.Manager
	td  spiffeid.TrustDomain
	log *slog.Logger

	mu     sync.Mutex
	bundle *x509bundle.Set
	roots  []byte // PEM of bundle, to detect changes
}

var _ server.SecretProvider = (*identityProvider)(nil)

// newIdentity loads the CA named by the config: an Istio-style cacerts
// directory (intermediate under a shared root), or the CA persisted in
// identity-ca-dir (created on first start), or, with neither, an ephemeral CA
// that lives as long as the process.
func newIdentity(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*identityProvider, error) {
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
	case cfg.IdentityCADir != "":
		var created bool
		if ca, created, err = identity.LoadOrCreateCA(ctx, identity.DirStore{Dir: cfg.IdentityCADir}, identity.CAOptions{TrustDomain: td}); err != nil {
			return nil, fmt.Errorf("identity-ca-dir: %w", err)
		}
		log.Info("identity: CA ready", "dir", cfg.IdentityCADir, "created", created)
	default:
		if ca, err = identity.NewSelfSignedCA(identity.CAOptions{TrustDomain: td}); err != nil {
			return nil, err
		}
		log.Warn("identity: no identity-ca-dir or cacerts set; using an ephemeral CA (SVIDs change on every restart)")
	}
	mgr, err := identity.NewManager(ca, identity.ManagerOptions{TTL: cfg.SVIDTTL.D(), Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	p := &identityProvider{ca: ca, mgr: mgr, td: td, log: log}
	p.setBundles(nil)
	return p, nil
}

// IdentitySecrets implements server.SecretProvider.
func (p *identityProvider) IdentitySecrets(n server.Node) ([]*tlsv3.Secret, error) {
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

// rootsPEM is the local CA's roots, published in the local ClusterState.
func (p *identityProvider) rootsPEM() []byte {
	return identity.RootsPEM(identity.NewBundleSet(p.ca.Bundle()))
}

// setBundles rebuilds ROOTCA from the local CA and the trust bundles of the
// given clusters; it reports whether the roots changed.
func (p *identityProvider) setBundles(clusters []*model.ClusterState) bool {
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

// run renews SVIDs until ctx is done, telling the xDS server about renewals.
func (p *identityProvider) run(ctx context.Context, changed func()) error {
	cancel := p.mgr.Subscribe(func(*x509svid.SVID) { changed() })
	defer cancel()
	return p.mgr.Run(ctx)
}
