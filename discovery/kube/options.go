package kube

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/discovery/model"
)

// Defaults of Options.
const (
	// DefaultNamespace is the daemon's (Istio's system) namespace.
	DefaultNamespace = model.IstioSystemNamespace
	// DefaultHoldoff and DefaultMaxDelay debounce rebuilds: a burst of
	// events ends after DefaultHoldoff of quiet, and never later than
	// DefaultMaxDelay after its first event.
	DefaultHoldoff  = 100 * time.Millisecond
	DefaultMaxDelay = time.Second
	// DefaultSyncTimeout is how long the initial sync may take before
	// Status reports StateTimeout (Run keeps waiting and retrying).
	DefaultSyncTimeout = time.Minute
	// DefaultReconnectProbe: see Config.ReconnectProbe.
	DefaultReconnectProbe = time.Second
	// DefaultGatewayAPIRecheck: see Config.GatewayAPIRecheck.
	DefaultGatewayAPIRecheck = 30 * time.Second
	// secretSyncWait bounds how long a rebuild waits for the watches of
	// newly named credential Secrets to sync before it converts anyway.
	secretSyncWait = 5 * time.Second
)

// Config is a Source's configuration: plain values. ClusterID is required;
// a zero field takes its default (the constants above).
type Config struct {
	// ClusterID is the id of the watched cluster (the ClusterState's ID).
	ClusterID string
	// Network is the cluster's network. Empty: the label
	// topology.istio.io/network of Namespace (Istio's rule), else none.
	Network string
	// Namespace is the daemon's namespace (Istio's system namespace),
	// default DefaultNamespace.
	Namespace string
	// MeshID labels the published MeshState.
	MeshID string
	// DomainSuffix is the cluster DNS domain (default cluster.local).
	DomainSuffix string
	// CredentialNamespaces are the namespaces in which Secrets named by a
	// Gateway's credentialName (and <name>-cacert) or a DestinationRule's
	// credentialName are watched: the namespaces the gateways run in, where
	// istiod looks them up. Default: Namespace. Only those names are
	// watched (one field-selected watch per name), never all Secrets.
	CredentialNamespaces []string
	// ServicesOnly watches Services, EndpointSlices, Pods and Namespaces
	// only: no Istio configuration and no Secrets. Remote clusters use it,
	// as istiod does in a multi-primary mesh.
	ServicesOnly bool
	// ServiceExports also watches the Multi-Cluster Services API's
	// ServiceExports (multicluster.x-k8s.io/v1alpha1; the CRD must be
	// installed, or the initial sync never completes).
	ServiceExports bool
	// ServiceExportsIfReadable watches ServiceExports when the API server
	// serves them and the credentials may list them, and none otherwise
	// (decided once, when Run starts, by listing one): for remote
	// clusters, whose CRDs and remote-secret grants vary (a secret made
	// before the reader could list ServiceExports still syncs).
	ServiceExportsIfReadable bool
	// Holdoff and MaxDelay debounce rebuilds (defaults DefaultHoldoff,
	// DefaultMaxDelay).
	Holdoff, MaxDelay time.Duration
	// SyncTimeout: see DefaultSyncTimeout.
	SyncTimeout time.Duration
	// ReconnectProbe is how often, while requests to the API server fail
	// with connection errors or 5xx, the source asks the server for
	// /version; once it answers, the informers get two probe intervals to
	// reconnect on their own (client-go's backoff reaches 30–60 s after a
	// long outage), then are replaced by a fresh set. Default
	// DefaultReconnectProbe; negative disables.
	ReconnectProbe time.Duration
	// GatewayAPIRecheck is how often the source asks the API server which
	// Gateway API kinds it serves (one discovery request); when they
	// changed (CRDs installed or removed), the informers are replaced.
	// Default DefaultGatewayAPIRecheck; negative disables.
	GatewayAPIRecheck time.Duration
}

// Options are a Source's collaborators (not configuration). REST is required.
type Options struct {
	// REST is the client configuration of the cluster's API server.
	// The Source copies it and wraps its transport to track API health.
	REST *rest.Config
	// Logger receives the source's log lines (default slog.Default()).
	// Object contents, and so Secret data, are never logged.
	Logger *slog.Logger
	// Metrics, if set, receives the source's metrics (see NewMetrics).
	Metrics *Metrics
}

// withDefaults fills the zero fields of cfg and opts.
func withDefaults(cfg Config, opts Options) (Config, Options) {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if len(cfg.CredentialNamespaces) == 0 {
		cfg.CredentialNamespaces = []string{cfg.Namespace}
	}
	if cfg.Holdoff <= 0 {
		cfg.Holdoff = DefaultHoldoff
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	if cfg.ReconnectProbe == 0 {
		cfg.ReconnectProbe = DefaultReconnectProbe
	}
	if cfg.GatewayAPIRecheck == 0 {
		cfg.GatewayAPIRecheck = DefaultGatewayAPIRecheck
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return cfg, opts
}

// Validate reports missing or invalid settings, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.ClusterID == "" {
		errs = append(errs, errors.New("kube source: ClusterID is required"))
	}
	for i, ns := range c.CredentialNamespaces {
		if ns == "" {
			errs = append(errs, fmt.Errorf("kube source: CredentialNamespaces[%d]: empty namespace", i))
		}
	}
	return errors.Join(errs...)
}
