package workload

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/sni"
)

// Identity is a workload's SVID and the trust bundle it verifies peers
// with, as `meshgate cert issue` writes them (cert-chain.pem, key.pem,
// root-cert.pem).
type Identity struct {
	SVID   *x509svid.SVID
	Bundle *x509bundle.Bundle
}

// LoadIdentity reads the files `meshgate cert issue --out dir` wrote.
func LoadIdentity(dir string) (*Identity, error) {
	svid, err := x509svid.Load(filepath.Join(dir, identity.SVIDFileCertChain), filepath.Join(dir, identity.SVIDFileKey))
	if err != nil {
		return nil, fmt.Errorf("load SVID from %s: %w", dir, err)
	}
	b, err := x509bundle.Load(svid.ID.TrustDomain(), filepath.Join(dir, identity.SVIDFileRoots))
	if err != nil {
		return nil, fmt.Errorf("load trust bundle from %s: %w", dir, err)
	}
	return &Identity{SVID: svid, Bundle: b}, nil
}

// ID is the workload's SPIFFE ID.
func (i *Identity) ID() spiffeid.ID { return i.SVID.ID }

// ServerTLS is the mesh mTLS server side: it presents the SVID, requires a
// client SVID of the bundle's trust domain that allow accepts, and speaks
// the mesh ALPN protocols.
func (i *Identity) ServerTLS(allow tlsconfig.Authorizer) *tls.Config {
	cfg := tlsconfig.MTLSServerConfig(i.SVID, i.Bundle, allow)
	cfg.NextProtos = sni.MeshMTLSUpstreamALPN()
	return cfg
}

// ClientTLS is the mesh mTLS client side for one target: SNI serverName,
// the mesh ALPN protocols, and the server must prove it is want.
func (i *Identity) ClientTLS(serverName string, want spiffeid.ID) *tls.Config {
	cfg := tlsconfig.MTLSClientConfig(i.SVID, i.Bundle, tlsconfig.AuthorizeID(want))
	cfg.ServerName = serverName
	cfg.NextProtos = sni.MeshMTLSUpstreamALPN()
	return cfg
}

// XDSClientTLS connects to the daemon's secure xDS port (15012) with this
// SVID as client certificate, the daemon's certificate verified against the
// bundle for serverName (a DNS name, e.g. meshgate.istio-system.svc).
func (i *Identity) XDSClientTLS(serverName string) *tls.Config {
	pool := x509.NewCertPool()
	for _, r := range i.Bundle.X509Authorities() {
		pool.AddCert(r)
	}
	cert := tls.Certificate{PrivateKey: i.SVID.PrivateKey, Leaf: i.SVID.Certificates[0]}
	for _, c := range i.SVID.Certificates {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}
