package dataplane

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/identity/caclient"
	"github.com/meshgate/meshgate/xds/node"
)

// Config configures a Gateway. Start from DefaultConfig.
type Config struct {
	// XDSAddress is the host:port of the control plane's ADS gRPC server,
	// or several, comma-separated (replicas of the daemon where no Service
	// is in front of them): the gateway uses one at a time, and a stream
	// that ends moves at once to the next (XDSAddresses).
	XDSAddress string
	// XDSTLS, when set, secures the ADS connection; nil means plaintext
	// (a control plane on the same host or pod network).
	XDSTLS *tls.Config
	// Identity, when set, makes the gateway prove itself to the daemon's
	// secure port: it obtains its SVID from the CA service (CSR + projected
	// token), renews it at half life, and connects ADS over TLS with that
	// SVID as client certificate (XDSTLS is then unused). Address defaults
	// to XDSAddress, Logger and Registerer to the gateway's.
	Identity *caclient.Config

	// NodeID is the xDS node id, Istio style (package xds/node):
	// router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local.
	NodeID string
	// NodeCluster is node.cluster (Envoy's --service-cluster); optional.
	NodeCluster string
	// Labels are sent as node metadata LABELS (a struct), as Istio proxies do;
	// the control plane selects Gateways by them.
	Labels map[string]string
	// Metadata are node metadata strings: NAMESPACE, NETWORK, CLUSTER_ID, …
	// (node.Metadata.Set; LABELS is Labels). NAMESPACE defaults to the
	// namespace in NodeID.
	Metadata map[string]string

	// AdminAddress serves /metrics, /healthz, /ready and /config_dump;
	// empty disables the admin server.
	AdminAddress string

	// DrainTimeout is how long connections of a removed or changed listener
	// (or filter chain) may live on before they are closed (Envoy's
	// --drain-time-s, default 600s).
	DrainTimeout time.Duration
	// ShutdownTimeout is how long Stop waits for open connections before
	// closing them (default 0: close at once).
	ShutdownTimeout time.Duration
	// ConnectAttempts is the number of upstream connect attempts (each on
	// another endpoint when there is one) when a tcp_proxy does not set
	// max_connect_attempts. Envoy's default is 1; the gateway retries by
	// default (3).
	ConnectAttempts int
	// ReconnectBase and ReconnectMax bound the exponential, jittered backoff
	// between ADS stream attempts: 500ms and 5s, as `meshgate bootstrap`
	// sets for Envoy (Envoy's own default maximum is 30s), so a restarted
	// daemon's new configuration arrives within seconds.
	ReconnectBase time.Duration
	ReconnectMax  time.Duration
	// MaxMessageBytes bounds one xDS response the gateway accepts (gRPC's
	// own default, 4 MiB, refuses the routes of a few thousand services):
	// default 256 MiB, room for 100k routes.
	MaxMessageBytes int
	// NACKBase and NACKMax bound the delay before repeating a NACK of the
	// same version (a control plane that re-sends a rejected version at once
	// would otherwise loop). The first NACK of a version is sent at once.
	NACKBase time.Duration
	NACKMax  time.Duration
	// HandshakeTimeout bounds downstream TLS handshakes of terminating
	// filter chains without transport_socket_connect_timeout (default 15s).
	HandshakeTimeout time.Duration

	// Logger receives the gateway's logs; default slog.Default().
	Logger *slog.Logger
	// Registry receives the gateway's metrics; default a new registry.
	Registry *prometheus.Registry
	// Now is the clock of outlier detection; default time.Now. Tests inject one.
	Now func() time.Time
}

// XDSAddresses lists the addresses of XDSAddress, in order.
func (c *Config) XDSAddresses() []string { return strings.Split(c.XDSAddress, ",") }

// DefaultConfig returns the defaults; XDSAddress and NodeID must still be set.
func DefaultConfig() Config {
	return Config{
		DrainTimeout:     10 * time.Minute,
		ConnectAttempts:  3,
		ReconnectBase:    500 * time.Millisecond,
		ReconnectMax:     5 * time.Second,
		MaxMessageBytes:  256 << 20,
		NACKBase:         time.Second,
		NACKMax:          10 * time.Second,
		HandshakeTimeout: 15 * time.Second,
	}
}

// Validate checks the config and fills unset defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.XDSAddress == "" {
		errs = append(errs, errors.New("xds address is empty"))
	} else {
		seen := map[string]bool{}
		for _, a := range strings.Split(c.XDSAddress, ",") {
			if _, _, err := net.SplitHostPort(a); err != nil {
				errs = append(errs, fmt.Errorf("xds address %q: %v", a, err))
			} else if seen[a] {
				errs = append(errs, fmt.Errorf("xds address %q: listed twice", a))
			}
			seen[a] = true
		}
	}
	if c.Identity != nil {
		if c.Identity.Address == "" {
			c.Identity.Address = c.XDSAddress
		}
		if len(c.Identity.Roots) == 0 {
			errs = append(errs, errors.New("identity: the mesh root (--ca-root) is required to verify the daemon"))
		}
		if c.Identity.TokenFile == "" {
			errs = append(errs, errors.New("identity: a service-account token file (--token-file) is required"))
		}
	}
	if c.NodeID == "" {
		errs = append(errs, errors.New("node id is empty"))
	} else if _, err := c.node(); err != nil {
		errs = append(errs, err)
	}
	if c.AdminAddress != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddress); err != nil {
			errs = append(errs, fmt.Errorf("admin address %q: %v", c.AdminAddress, err))
		}
	}
	def := DefaultConfig()
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"drain timeout", &c.DrainTimeout, def.DrainTimeout}, {"reconnect base", &c.ReconnectBase, def.ReconnectBase},
		{"reconnect max", &c.ReconnectMax, def.ReconnectMax}, {"nack base", &c.NACKBase, def.NACKBase},
		{"nack max", &c.NACKMax, def.NACKMax}, {"handshake timeout", &c.HandshakeTimeout, def.HandshakeTimeout},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s %v is negative", d.name, *d.v))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %v is negative", c.ShutdownTimeout))
	}
	if c.ConnectAttempts <= 0 {
		c.ConnectAttempts = def.ConnectAttempts
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = def.MaxMessageBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Identity != nil {
		if c.Identity.Logger == nil {
			c.Identity.Logger = c.Logger.With("component", "caclient")
		}
		if c.Identity.Registerer == nil {
			c.Identity.Registerer = c.Registry
		}
	}
	return errors.Join(errs...)
}

// node builds the xDS node: id, cluster and Istio-style metadata (package
// xds/node). LABELS is always sent, NAMESPACE defaults to the id's.
func (c *Config) node() (*corev3.Node, error) {
	id, err := node.ParseID(c.NodeID)
	if err != nil {
		return nil, err
	}
	md := node.Metadata{Labels: map[string]string{}}
	for _, k := range slices.Sorted(maps.Keys(c.Metadata)) {
		if err := md.Set(k, c.Metadata[k]); err != nil {
			return nil, fmt.Errorf("node metadata: %w", err)
		}
	}
	maps.Copy(md.Labels, c.Labels)
	if md.Namespace == "" {
		md.Namespace = id.Namespace
	}
	n, err := node.Node{ID: id, Metadata: md}.Envoy()
	if err != nil {
		return nil, err
	}
	n.Cluster = c.NodeCluster
	n.UserAgentName = "meshgate-gateway"
	n.UserAgentVersionType = &corev3.Node_UserAgentVersion{UserAgentVersion: "dev"}
	return n, nil
}

// XDSClientTLS builds the TLS settings of the ADS connection from PEM
// files: the CA that signs the control plane's certificate, and optionally
// a client certificate and key (mTLS). serverName overrides the name checked
// in the control plane's certificate (default: the host of XDSAddress).
func XDSClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("xds CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("xds CA %s: no PEM certificate found", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("xds client certificate and key must be given together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("xds client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
