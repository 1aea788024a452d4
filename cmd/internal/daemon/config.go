package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/gwhealth"
	"github.com/meshgate/meshgate/identity"
)

// Config is the configuration of `meshgate run`. The config file (YAML) uses
// the same names as the flags; flags override the file, the file overrides
// DefaultConfig.
type Config struct {
	// ConfigDir is the directory of Kubernetes and Istio YAML the file source
	// reads and watches. Exactly one of ConfigDir, Kubeconfig and InCluster.
	ConfigDir string `json:"config-dir,omitempty"`
	// Kubeconfig (a file) or InCluster (the pod's service account) selects
	// the Kubernetes source: the local API server, and the remote clusters
	// of the remote secrets in Namespace.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	InCluster  bool   `json:"in-cluster,omitempty"`
	// Namespace is the daemon's namespace: its remote secrets, and the
	// system namespace whose topology.istio.io/network label gives a
	// cluster's network when Network is empty.
	Namespace string `json:"namespace,omitempty"`
	// CredentialNamespaces are where credentialName Secrets are read (the
	// gateways' namespaces); default: Namespace.
	CredentialNamespaces []string `json:"credential-namespaces,omitempty"`
	// RemoteSecretServer is this cluster's API server URL as other clusters
	// reach it; when set (Kubernetes mode with gossip), the daemon mints its
	// own remote secret (reader token, RemoteSecretTTL, renewed at half life)
	// and gossips it, so N clusters need N−1 joins.
	RemoteSecretServer string   `json:"remote-secret-server,omitempty"`
	RemoteSecretTTL    Duration `json:"remote-secret-ttl,omitempty"`
	// AllowInsecureRemote admits remote secrets with an http:// server,
	// insecure-skip-tls-verify, a proxy-url or no CA data for an https
	// server (development only; each admission is logged as a warning and
	// counted in meshgate_remote_secret_insecure_admitted_total).
	AllowInsecureRemote bool `json:"allow-insecure-remote,omitempty"`
	// RemoteSyncTimeout bounds how long readiness waits for a remote
	// cluster's initial sync.
	RemoteSyncTimeout Duration `json:"remote-sync-timeout,omitempty"`
	// XDSAddress is the plaintext, unauthenticated ADS (gRPC) port: it must
	// bind loopback unless InsecureXDS is set.
	XDSAddress string `json:"xds-address,omitempty"`
	// InsecureXDS allows a non-loopback XDSAddress (development only; a
	// warning is logged at every start): any client that reaches it can
	// claim any identity.
	InsecureXDS bool `json:"insecure-xds,omitempty"`
	// SecureXDSAddress is the secure xDS port: TLS, every caller proven by
	// an SVID or a service-account token (TokenReview), serving ADS and
	// Istio's CA service. Empty means DefaultSecureXDSAddress in-cluster
	// and none otherwise; "off" turns it off (refused in-cluster).
	SecureXDSAddress string `json:"secure-xds-address,omitempty"`
	// XDSDNSNames are the secure port's certificate DNS names (default
	// meshgate.<namespace>.svc and meshgate.<namespace>.svc.<domain-suffix>).
	XDSDNSNames []string `json:"xds-dns-names,omitempty"`
	// TokenAudiences are the audiences a service-account token must carry
	// on the secure port (default istio-ca, as Istio).
	TokenAudiences []string `json:"token-audiences,omitempty"`
	// MonitoringAddress serves /metrics, /healthz and /readyz only
	// (read-only; what the Service and the probes use; may be exposed).
	MonitoringAddress string `json:"monitoring-address,omitempty"`
	// AdminAddress is the privileged admin API: gossip keyring changes,
	// members, /debug/ (config_dump, proxies, clusters). HOST:PORT on
	// loopback, or "unix:PATH" (a Unix socket). A non-loopback address is
	// refused unless AdminAllow is set: the API is then served over TLS
	// (meshgate's CA) and every request needs a caller in AdminAllow.
	AdminAddress string `json:"admin-address,omitempty"`
	// AdminAllow are the service accounts ("namespace/name") allowed on an
	// authenticated admin API: a client certificate (an SVID of the mesh
	// CA) or a service-account token for the audience AdminTokenAudience
	// (checked with TokenReview). Setting it turns authentication on.
	AdminAllow []string `json:"admin-allow,omitempty"`
	// ClusterID names the local cluster (and is the CLUSTER_ID of nodes that
	// send none); Network is its network.
	ClusterID string `json:"cluster-id,omitempty"`
	Network   string `json:"network,omitempty"`
	// TrustDomain is the SPIFFE trust domain; DomainSuffix the cluster DNS domain.
	TrustDomain  string `json:"trust-domain,omitempty"`
	DomainSuffix string `json:"domain-suffix,omitempty"`
	// LogLevel is debug, info, warn or error; LogFormat text or json.
	LogLevel  string `json:"log-level,omitempty"`
	LogFormat string `json:"log-format,omitempty"`
	// DebounceHoldoff is the quiet time after a change before a rebuild;
	// DebounceMaxDelay caps the wait from the first change of a burst.
	DebounceHoldoff  Duration `json:"debounce-holdoff,omitempty"`
	DebounceMaxDelay Duration `json:"debounce-max-delay,omitempty"`
	// ShutdownTimeout bounds the graceful stop after SIGTERM/SIGINT.
	ShutdownTimeout Duration `json:"shutdown-timeout,omitempty"`

	// IdentityCADir (ca-dir) persists meshgate's CA (created on first start); CACerts
	// plugs in an Istio-style cacerts directory instead (ca-cert.pem,
	// ca-key.pem, root-cert.pem, cert-chain.pem). With neither, the CA is
	// ephemeral. SVIDTTL is the lifetime of gateway SVIDs (renewed at half).
	IdentityCADir string   `json:"ca-dir,omitempty"`
	CACerts       string   `json:"cacerts,omitempty"`
	SVIDTTL       Duration `json:"svid-ttl,omitempty"`

	// GatewayProbeInterval is how often each east-west gateway of another
	// network is probed (package gwhealth): endpoints behind a gateway that
	// stops answering are withdrawn from here within seconds (unless nothing
	// else is left), and a dead peer whose gateway still answers keeps its
	// endpoints past the fail-static window. 0 turns probing off.
	GatewayProbeInterval Duration `json:"gateway-probe-interval,omitempty"`

	// Istio's protocol feature flags (PILOT_ENABLE_MYSQL_FILTER,
	// PILOT_ENABLE_REDIS_FILTER, PILOT_ENABLE_QUIC_LISTENERS).
	EnableMySQLFilter   bool `json:"enable-mysql-filter,omitempty"`
	EnableRedisFilter   bool `json:"enable-redis-filter,omitempty"`
	EnableQUICListeners bool `json:"enable-quic-listeners,omitempty"`
	// DefaultServiceExportTo is MeshConfig.defaultServiceExportTo: where
	// Services and ServiceEntries without exportTo are visible (default *).
	DefaultServiceExportTo []string `json:"default-service-export-to,omitempty"`
	// ExportMode says which Services federation carries to other clusters:
	// "all" (every Service not of type ExternalName and not annotated
	// networking.istio.io/exportTo "~"), or "serviceexport" (of those, only
	// the ones a Multi-Cluster Services API ServiceExport names). Default all.
	ExportMode string `json:"export-mode,omitempty"`
	// MulticlusterServices (Kubernetes mode) reads the local cluster's
	// ServiceExports and writes ServiceImports and ServiceExport conditions
	// (package discovery/mcs; needs deploy/mcs: the CRDs and RBAC).
	MulticlusterServices bool `json:"multicluster-services,omitempty"`
	// ClusterSetIPCIDR (with MulticlusterServices) is the prefix the
	// ClusterSetIP ServiceImports take their VIP (spec.ips) from, the same
	// address in every cluster given the same prefix
	// (model.AllocateClusterSetIPs). Empty: no VIP.
	ClusterSetIPCIDR string `json:"clusterset-ip-cidr,omitempty"`

	// Gossip configures federation with the other clusters' daemons; off
	// while gossip-address is empty.
	GossipConfig
}

// GossipConfig is federation (memberlist gossip) between the daemons of a mesh.
type GossipConfig struct {
	// BindAddress is HOST:PORT for gossip (UDP and TCP); empty turns federation off.
	BindAddress string `json:"gossip-address,omitempty"`
	// AdvertiseAddress is the HOST:PORT other daemons reach this one at.
	AdvertiseAddress string `json:"gossip-advertise,omitempty"`
	// Join are seed daemons' gossip addresses.
	Join []string `json:"join,omitempty"`
	// KeyringFile holds the base64 AES-256 gossip keys (`meshgate keyring generate`).
	KeyringFile string `json:"gossip-key-file,omitempty"`
	// Insecure allows unencrypted gossip (development only).
	Insecure bool `json:"insecure-gossip,omitempty"`
	// MeshID names the mesh; daemons of other meshes are refused.
	MeshID string `json:"mesh-id,omitempty"`
	// FailStaticWindow keeps a dead peer's endpoints this long before they are withdrawn.
	FailStaticWindow Duration `json:"fail-static-window,omitempty"`
	// SyncTimeout bounds how long a starting daemon waits to learn the mesh
	// (every live peer's cluster) before it serves its gateways without it.
	SyncTimeout Duration `json:"gossip-sync-timeout,omitempty"`
	// TrustPins are operator pins, CLUSTER=PATH (a PEM trust bundle): that
	// cluster's gossiped records must be signed under it, from the first
	// one on (remote secrets carrying meshgate.io/trust-bundle pin too).
	TrustPins []string `json:"trust-pin,omitempty"`
	// TrustPinsFile persists the pinned trust bundles of the remote
	// clusters, so that a restart keeps them instead of pinning again at
	// first contact. Empty: pins live in memory (a warning at start).
	TrustPinsFile string `json:"trust-pins-file,omitempty"`
	// AdmitClusters are remote cluster ids whose gossip this daemon
	// accepts besides the clusters the operator pinned (trust-pin, a
	// remote secret's meshgate.io/trust-bundle); any other cluster's
	// records are refused and nothing is sealed for it.
	AdmitClusters []string `json:"admit-cluster,omitempty"`
	// AdmitAnyCluster admits every cluster at first contact (labs only:
	// a holder of the gossip key can then add a cluster and read every
	// cluster's remote secret).
	AdmitAnyCluster bool `json:"admit-any-cluster,omitempty"`
	// NameFile keeps the daemon's gossip node name (CLUSTER-SUFFIX) across
	// restarts, so a restarted daemon replaces its old self in the mesh at
	// once; one file per replica. Empty: a new name at every start.
	NameFile string `json:"gossip-name-file,omitempty"`
	// LeaderElect runs this daemon as one of several replicas of its
	// cluster: they elect, through the Lease LeaseName in the daemon's
	// namespace, the one that publishes the cluster to gossip and renews
	// its remote secret (every replica serves xDS and consumes the mesh).
	// Needs the Kubernetes source.
	LeaderElect bool `json:"leader-elect,omitempty"`
	// LeaseName names the Lease (default "meshgate-leader").
	LeaseName string `json:"leader-elect-lease,omitempty"`
	// LeaseDuration is the longest a killed leader stays unreplaced
	// (default 15s; it renews every LeaseDuration/7.5 and gives up after
	// 2/3 of it).
	LeaseDuration Duration `json:"leader-elect-lease-duration,omitempty"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		XDSAddress:           "127.0.0.1:15010", // Istio's plaintext xDS port
		MonitoringAddress:    "127.0.0.1:15014", // Istio's control-plane monitoring port
		AdminAddress:         "127.0.0.1:9901",  // what `meshgate members|keyring --admin` default to
		ClusterID:            model.DefaultClusterID,
		TrustDomain:          model.DefaultTrustDomain,
		DomainSuffix:         model.DefaultDomainSuffix,
		LogLevel:             "info",
		LogFormat:            "text",
		DebounceHoldoff:      Duration(100 * time.Millisecond), // Istio's PILOT_DEBOUNCE_AFTER
		DebounceMaxDelay:     Duration(time.Second),            // shorter than Istio's 10s: gateways only
		ShutdownTimeout:      Duration(10 * time.Second),
		Namespace:            model.IstioSystemNamespace,
		RemoteSyncTimeout:    Duration(30 * time.Second), // Istio's PILOT_REMOTE_CLUSTER_TIMEOUT
		RemoteSecretTTL:      Duration(24 * time.Hour),
		SVIDTTL:              Duration(24 * time.Hour),
		GatewayProbeInterval: Duration(gwhealth.DefaultConfig().Interval),
		ExportMode:           wire.ExportAll,
		GossipConfig: GossipConfig{MeshID: "mesh1", FailStaticWindow: Duration(5 * time.Minute), SyncTimeout: Duration(15 * time.Second),
			LeaseName: "meshgate-leader", LeaseDuration: Duration(15 * time.Second)},
	}
}

// Validate checks every field and reports all problems, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	sources := 0
	for _, set := range []bool{c.ConfigDir != "", c.Kubeconfig != "", c.InCluster} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		bad("config-dir", "a source is required: config-dir, kubeconfig or in-cluster")
	case sources > 1:
		bad("config-dir", "set one of config-dir, kubeconfig and in-cluster")
	case c.ConfigDir != "":
		if st, err := os.Stat(c.ConfigDir); err != nil {
			bad("config-dir", "%v", err)
		} else if !st.IsDir() {
			bad("config-dir", "%s is not a directory", c.ConfigDir)
		}
	}
	for _, a := range []struct{ field, addr string }{{"xds-address", c.XDSAddress}, {"monitoring-address", c.MonitoringAddress}} {
		if err := checkAddress(a.addr); err != nil {
			bad(a.field, "%v", err)
		}
	}
	if path, unix := strings.CutPrefix(c.AdminAddress, unixPrefix); unix {
		if path == "" {
			bad("admin-address", "%q: want unix:PATH", c.AdminAddress)
		}
		if len(c.AdminAllow) > 0 {
			bad("admin-allow", "needs a TCP admin-address (a Unix socket is guarded by its file permissions)")
		}
	} else if err := checkAddress(c.AdminAddress); err != nil {
		bad("admin-address", "%v", err)
	} else if !isLoopback(c.AdminAddress) && len(c.AdminAllow) == 0 {
		bad("admin-address", "%s is not a loopback address: the admin API installs gossip keys and shows every proxy's configuration; "+
			"keep it on loopback or unix:PATH, or set admin-allow (namespace/serviceaccount,...) to require authenticated callers", c.AdminAddress)
	}
	for i, e := range c.AdminAllow {
		if ns, sa, ok := strings.Cut(e, "/"); !ok || ns == "" || sa == "" || strings.ContainsAny(sa, "/ ") {
			bad("admin-allow", "entry %d %q: want namespace/serviceaccount", i, e)
		}
	}
	addrs := map[string]string{}
	for _, a := range []struct{ field, addr string }{{"xds-address", c.XDSAddress}, {"monitoring-address", c.MonitoringAddress},
		{"admin-address", c.AdminAddress}, {"secure-xds-address", c.secureAddress()}} {
		if a.addr == "" || strings.HasSuffix(a.addr, ":0") {
			continue
		}
		if other, dup := addrs[a.addr]; dup {
			bad(a.field, "same as %s %s", other, a.addr)
		}
		addrs[a.addr] = a.field
	}
	if checkAddress(c.XDSAddress) == nil && !isLoopback(c.XDSAddress) && !c.InsecureXDS {
		bad("xds-address", "%s is not a loopback address: plaintext xDS lets any client claim any identity; use the secure port (secure-xds-address), or set insecure-xds for development", c.XDSAddress)
	}
	switch sa := c.secureAddress(); {
	case c.InCluster && sa == "":
		bad("secure-xds-address", "in-cluster mode needs the secure xDS port (default %s); it cannot be off", DefaultSecureXDSAddress)
	case sa != "":
		if err := checkAddress(sa); err != nil {
			bad("secure-xds-address", "%v", err)
		}
	}
	for i, n := range c.XDSDNSNames {
		if err := identity.ValidateDNSName(n); err != nil {
			bad("xds-dns-names", "entry %d: %v", i, err)
		}
	}
	for i, a := range c.TokenAudiences {
		if a == "" {
			bad("token-audiences", "entry %d is empty", i)
		}
	}
	if c.ClusterID == "" {
		bad("cluster-id", "required")
	}
	if c.Kubeconfig != "" || c.InCluster {
		if c.Namespace == "" {
			bad("namespace", "required with the Kubernetes source")
		}
		if c.RemoteSyncTimeout <= 0 {
			bad("remote-sync-timeout", "must be positive")
		}
		for i, ns := range c.CredentialNamespaces {
			if ns == "" {
				bad("credential-namespaces", "entry %d is empty", i)
			}
		}
	}
	if c.TrustDomain == "" || strings.ContainsAny(c.TrustDomain, "/: ") || strings.ToLower(c.TrustDomain) != c.TrustDomain {
		bad("trust-domain", "%q is not a SPIFFE trust domain (lower case, no scheme, path or port)", c.TrustDomain)
	}
	if c.DomainSuffix == "" || strings.HasPrefix(c.DomainSuffix, ".") {
		bad("domain-suffix", "%q is not a DNS domain", c.DomainSuffix)
	}
	if _, err := c.level(); err != nil {
		bad("log-level", "%v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log-format", "%q: want text or json", c.LogFormat)
	}
	if c.DebounceHoldoff <= 0 {
		bad("debounce-holdoff", "must be positive")
	}
	if c.DebounceMaxDelay < c.DebounceHoldoff {
		bad("debounce-max-delay", "%v is shorter than debounce-holdoff %v", c.DebounceMaxDelay, c.DebounceHoldoff)
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "must be positive")
	}
	if c.GatewayProbeInterval < 0 {
		bad("gateway-probe-interval", "must not be negative (0 turns probing off)")
	}
	if c.SVIDTTL < Duration(2*time.Minute) {
		bad("svid-ttl", "%v is too short (at least 2m)", c.SVIDTTL)
	}
	if g := c.GossipConfig; g.BindAddress != "" {
		if err := checkAddress(g.BindAddress); err != nil {
			bad("gossip-address", "%v", err)
		}
		if g.KeyringFile == "" && !g.Insecure {
			bad("gossip-key-file", "required: gossip is always encrypted (make a key with `meshgate keyring generate`; --insecure-gossip only for development)")
		}
		if g.MeshID == "" {
			bad("mesh-id", "required with gossip")
		}
		if g.FailStaticWindow < 0 {
			bad("fail-static-window", "must not be negative")
		}
		if g.SyncTimeout < 0 {
			bad("gossip-sync-timeout", "must not be negative")
		}
		if g.LeaderElect && c.Kubeconfig == "" && !c.InCluster {
			bad("leader-elect", "needs the Kubernetes source (kubeconfig or in-cluster): the lease is a Kubernetes Lease")
		}
		if g.LeaderElect && c.CACerts == "" && c.IdentityCADir == "" {
			bad("leader-elect", "needs the CA every replica shares (cacerts, the cacerts Secret; or ca-dir): with a CA per replica, peers that pinned one refuse the others' records")
		}
		if g.LeaseDuration != 0 && g.LeaseDuration < Duration(3*time.Second) {
			bad("leader-elect-lease-duration", "%v: want at least 3s", g.LeaseDuration)
		}
		seen := map[string]bool{}
		for i, p := range g.TrustPins {
			cluster, path, ok := strings.Cut(p, "=")
			switch {
			case !ok || cluster == "" || path == "":
				bad("trust-pin", "entry %d %q: want CLUSTER=PATH (a PEM trust bundle)", i, p)
			case seen[cluster]:
				bad("trust-pin", "entry %d: cluster %s is pinned twice", i, cluster)
			case cluster == c.ClusterID:
				bad("trust-pin", "entry %d: %s is the local cluster", i, cluster)
			}
			seen[cluster] = true
		}
		for i, id := range g.AdmitClusters {
			switch {
			case id == "":
				bad("admit-cluster", "entry %d is empty", i)
			case id == c.ClusterID:
				bad("admit-cluster", "entry %d: %s is the local cluster", i, id)
			case slices.Contains(g.AdmitClusters[:i], id):
				bad("admit-cluster", "entry %d: %s is listed twice", i, id)
			}
		}
	}
	if c.RemoteSecretServer != "" {
		if c.Kubeconfig == "" && !c.InCluster {
			bad("remote-secret-server", "needs the Kubernetes source (kubeconfig or in-cluster)")
		}
		if !strings.HasPrefix(c.RemoteSecretServer, "https://") {
			bad("remote-secret-server", "%q: want an https:// URL", c.RemoteSecretServer)
		}
		if c.RemoteSecretTTL < Duration(10*time.Minute) {
			bad("remote-secret-ttl", "%v: the TokenRequest API needs at least 10m", c.RemoteSecretTTL)
		}
	}
	if c.IdentityCADir != "" && c.CACerts != "" {
		bad("cacerts", "set either cacerts or ca-dir, not both")
	}
	if err := convert.ValidateDefaultExportTo(c.DefaultServiceExportTo); err != nil {
		bad("default-service-export-to", "%v", err)
	}
	kubeMode := c.Kubeconfig != "" || c.InCluster
	switch c.ExportMode {
	case "", wire.ExportAll:
	case wire.ExportServiceExport:
		if kubeMode && !c.MulticlusterServices {
			bad("export-mode", "serviceexport needs multicluster-services (the ServiceExports are read with it)")
		}
	default:
		bad("export-mode", "%q: want %s or %s", c.ExportMode, wire.ExportAll, wire.ExportServiceExport)
	}
	if c.ClusterSetIPCIDR != "" {
		if !c.MulticlusterServices {
			bad("clusterset-ip-cidr", "needs multicluster-services (the ServiceImports are written with it)")
		}
		if p, err := netip.ParsePrefix(c.ClusterSetIPCIDR); err != nil {
			bad("clusterset-ip-cidr", "%v", err)
		} else if p != p.Masked() {
			bad("clusterset-ip-cidr", "%q has host bits set (want %s)", c.ClusterSetIPCIDR, p.Masked())
		}
	}
	if c.MulticlusterServices && !kubeMode {
		bad("multicluster-services", "needs the Kubernetes source (kubeconfig or in-cluster); the file source reads ServiceExports always")
	}
	return errors.Join(errs...)
}

func checkAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: bad port", a)
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: bad host", a)
	}
	return nil
}

func (c Config) level() (slog.Level, error) { return cliflag.ParseLevel(c.LogLevel) }

// Duration is a time.Duration written "100ms", "2s" in files and flags.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// D is d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Set implements pflag.Value.
func (d *Duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Type implements pflag.Value.
func (d *Duration) Type() string { return "duration" }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"100ms\", got %s", b)
	}
	return d.Set(s)
}

// BindFlags registers one flag per configurable field of c (named like the
// config file keys), with c's values as defaults; the settings other
// commands share (xds-address, namespace, cluster-id, ca-dir, log-level...)
// through cliflag, under the same names.
func BindFlags(fs *pflag.FlagSet, c *Config) {
	fs.StringVar(&c.ConfigDir, "config-dir", c.ConfigDir, "directory of Kubernetes/Istio YAML to serve (watched)")
	cliflag.String(fs, &c.Kubeconfig, cliflag.Kubeconfig, c.Kubeconfig, "watch the Kubernetes API server of this kubeconfig (and the remote clusters of its remote secrets)")
	fs.BoolVar(&c.InCluster, "in-cluster", c.InCluster, "watch the Kubernetes API server of the cluster the daemon runs in (service account)")
	cliflag.String(fs, &c.Namespace, cliflag.Namespace, c.Namespace, "the daemon's namespace (remote secrets; network label of the system namespace)")
	fs.StringSliceVar(&c.CredentialNamespaces, "credential-namespaces", c.CredentialNamespaces, "namespaces of the gateways' credentialName Secrets (default: --namespace)")
	fs.BoolVar(&c.AllowInsecureRemote, "allow-insecure-remote", c.AllowInsecureRemote, "accept remote secrets with an http:// server, insecure-skip-tls-verify, proxy-url or no CA data (development only; warned)")
	fs.Var(&c.RemoteSyncTimeout, "remote-sync-timeout", "how long readiness waits for a remote cluster's initial sync")
	cliflag.String(fs, &c.XDSAddress, cliflag.XDSAddress, c.XDSAddress, "plaintext, unauthenticated xDS (ADS over gRPC) listen address; loopback only unless --insecure-xds")
	fs.BoolVar(&c.InsecureXDS, "insecure-xds", c.InsecureXDS, "allow a non-loopback plaintext --xds-address (development only: any client can claim any identity)")
	fs.StringVar(&c.SecureXDSAddress, "secure-xds-address", c.SecureXDSAddress, "secure xDS and CA listen address (TLS; callers prove an SVID or a service-account token); default "+DefaultSecureXDSAddress+" with --in-cluster, none otherwise; \"off\" turns it off")
	fs.StringSliceVar(&c.XDSDNSNames, "xds-dns-names", c.XDSDNSNames, "DNS names of the secure port's certificate (default meshgate.<namespace>.svc and meshgate.<namespace>.svc.<domain-suffix>)")
	fs.StringSliceVar(&c.TokenAudiences, "token-audiences", c.TokenAudiences, "audiences a service-account token must carry on the secure port (default istio-ca)")
	fs.StringVar(&c.MonitoringAddress, "monitoring-address", c.MonitoringAddress, "read-only monitoring HTTP listen address (/metrics, /healthz, /readyz)")
	cliflag.String(fs, &c.AdminAddress, cliflag.AdminAddress, c.AdminAddress, "admin API listen address (gossip keyring, members, /debug/): loopback HOST:PORT or unix:PATH; off loopback only with --admin-allow")
	fs.StringSliceVar(&c.AdminAllow, "admin-allow", c.AdminAllow, "service accounts (namespace/name,...) allowed on the admin API; turns on TLS and authentication (client SVID or token for audience "+AdminTokenAudience+")")
	cliflag.String(fs, &c.ClusterID, cliflag.ClusterID, c.ClusterID, "id of the local cluster")
	cliflag.String(fs, &c.Network, cliflag.Network, c.Network, "network of the local cluster")
	cliflag.String(fs, &c.TrustDomain, cliflag.TrustDomain, c.TrustDomain, "SPIFFE trust domain")
	cliflag.String(fs, &c.DomainSuffix, cliflag.DomainSuffix, c.DomainSuffix, "cluster DNS domain")
	cliflag.Log(fs, &c.LogLevel, &c.LogFormat)
	fs.Var(&c.DebounceHoldoff, "debounce-holdoff", "quiet time after a change before rebuilding")
	fs.Var(&c.DebounceMaxDelay, "debounce-max-delay", "longest wait from the first change of a burst")
	fs.Var(&c.ShutdownTimeout, "shutdown-timeout", "bound on the graceful stop")
	cliflag.String(fs, &c.IdentityCADir, cliflag.CADir, c.IdentityCADir, "directory persisting meshgate's CA (created on first start)")
	cliflag.Alias(fs, "identity-ca-dir", cliflag.CADir)
	cliflag.String(fs, &c.CACerts, cliflag.CACerts, c.CACerts, "Istio-style cacerts directory (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem) to use as the CA")
	cliflag.Var(fs, &c.SVIDTTL, cliflag.SVIDTTL, "lifetime of gateway SVIDs (renewed at half life)")
	fs.StringVar(&c.GossipConfig.BindAddress, "gossip-address", c.GossipConfig.BindAddress, "HOST:PORT for gossip with other clusters' daemons (federation; off when empty)")
	fs.StringVar(&c.GossipConfig.AdvertiseAddress, "gossip-advertise", c.GossipConfig.AdvertiseAddress, "HOST:PORT other daemons reach this one at")
	fs.StringSliceVar(&c.GossipConfig.Join, "join", c.GossipConfig.Join, "gossip addresses of daemons to join (comma-separated)")
	fs.StringVar(&c.GossipConfig.KeyringFile, "gossip-key-file", c.GossipConfig.KeyringFile, "file of base64 AES-256 gossip keys, primary first (meshgate keyring generate)")
	fs.BoolVar(&c.GossipConfig.Insecure, "insecure-gossip", c.GossipConfig.Insecure, "allow unencrypted gossip (development only)")
	fs.StringVar(&c.GossipConfig.MeshID, "mesh-id", c.GossipConfig.MeshID, "mesh id; daemons of other meshes are refused")
	fs.Var(&c.GossipConfig.FailStaticWindow, "fail-static-window", "how long a dead peer's endpoints stay before they are withdrawn")
	fs.Var(&c.GatewayProbeInterval, "gateway-probe-interval", "how often each east-west gateway of another network is probed; endpoints behind one that stops answering are withdrawn within seconds unless nothing else is left (0: off)")
	fs.Var(&c.GossipConfig.SyncTimeout, "gossip-sync-timeout", "how long a starting daemon waits to learn every live peer's cluster before it serves its gateways without it")
	fs.StringArrayVar(&c.GossipConfig.TrustPins, "trust-pin", c.GossipConfig.TrustPins, "CLUSTER=PATH: that cluster's gossiped records must be signed under the PEM trust bundle in PATH (operator pin; repeatable)")
	fs.StringSliceVar(&c.GossipConfig.AdmitClusters, "admit-cluster", c.GossipConfig.AdmitClusters, "remote cluster ids whose gossip is accepted (comma-separated, repeatable); clusters pinned by --trust-pin or a joined remote secret are admitted too, any other is refused and gets no remote secret")
	fs.BoolVar(&c.GossipConfig.AdmitAnyCluster, "admit-any-cluster", c.GossipConfig.AdmitAnyCluster, "admit every remote cluster at first contact (labs only: a holder of the gossip key can add a cluster and read every cluster's remote secret)")
	fs.StringVar(&c.GossipConfig.TrustPinsFile, "trust-pins-file", c.GossipConfig.TrustPinsFile, "file persisting the remote clusters' pinned trust bundles across restarts (default: in memory only)")
	fs.StringVar(&c.GossipConfig.NameFile, "gossip-name-file", c.GossipConfig.NameFile, "file keeping this daemon's gossip node name across restarts, one per replica, so that a restart replaces its old self at once (default: a new name at every start)")
	fs.BoolVar(&c.GossipConfig.LeaderElect, "leader-elect", c.GossipConfig.LeaderElect, "run as one of several replicas of the cluster: a Kubernetes Lease elects the one that publishes the cluster to gossip and renews its remote secret")
	fs.StringVar(&c.GossipConfig.LeaseName, "leader-elect-lease", c.GossipConfig.LeaseName, "name of the Lease (in --namespace) the replicas elect the publisher with")
	fs.Var(&c.GossipConfig.LeaseDuration, "leader-elect-lease-duration", "longest time a killed leader stays unreplaced")
	fs.StringVar(&c.RemoteSecretServer, "remote-secret-server", c.RemoteSecretServer, "this cluster's API server URL as other clusters reach it: publish (and renew) its remote secret over gossip")
	fs.Var(&c.RemoteSecretTTL, "remote-secret-ttl", "lifetime of the gossiped remote secret's token (renewed at half)")
	fs.BoolVar(&c.EnableMySQLFilter, "enable-mysql-filter", c.EnableMySQLFilter, "mysql_proxy before tcp_proxy on MYSQL servers")
	fs.BoolVar(&c.EnableRedisFilter, "enable-redis-filter", c.EnableRedisFilter, "redis_proxy for REDIS servers")
	fs.BoolVar(&c.EnableQUICListeners, "enable-quic-listeners", c.EnableQUICListeners, "HTTP/3 listeners for HTTPS servers with a UDP gateway port")
	fs.StringVar(&c.ExportMode, "export-mode", c.ExportMode, "which Services travel to other clusters: all (not ExternalName, not exportTo ~) or serviceexport (of those, only the ones a multicluster.x-k8s.io ServiceExport names)")
	fs.BoolVar(&c.MulticlusterServices, "multicluster-services", c.MulticlusterServices, "Kubernetes mode: read ServiceExports, write ServiceImports and ServiceExport conditions (install deploy/mcs: CRDs and RBAC)")
	fs.StringVar(&c.ClusterSetIPCIDR, "clusterset-ip-cidr", c.ClusterSetIPCIDR, "with --multicluster-services: the CIDR ClusterSetIP ServiceImports take their VIP (spec.ips) from, derived from namespace/name so that every cluster given the same CIDR agrees (empty: no VIP)")
	fs.StringSliceVar(&c.DefaultServiceExportTo, "default-service-export-to", c.DefaultServiceExportTo, "namespaces where Services and ServiceEntries without exportTo are visible: *, ., ~ or names (Istio: meshConfig.defaultServiceExportTo; default *)")
}
