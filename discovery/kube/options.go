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
	// DefaultReconnectProbe: see Options.ReconnectProbe.
	DefaultReconnectProbe = time.Second
	// secretSyncWait bounds how long a rebuild waits for the watches of
	// newly named credential Secrets to sync before it converts anyway.
	secretSyncWait = 5 * time.Second
)

// Options configure a Source. Config and ClusterID are required; the rest
// have defaults (see DefaultOptions-like constants above).
type Options struct {
	// Config is the client configuration of the cluster's API server.
	// The Source copies it and wraps its transport to track API health.
	Config *rest.Config
	// ClusterID is the id of the watched cluster (the ClusterState's ID).
	ClusterID string
	// Network is the cluster's network. Empty: the label
	// topology.istio.io/network of Namespace (Istio's rule), else none.
	Network string
	// Namespace is the daemon's namespace (Istio's system namespace),
	// default istio-system.
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
	// Logger receives the source's log lines (default slog.Default()).
	// Object contents, and so Secret data, are never logged.
	Logger *slog.Logger
	// Metrics, if set, receives the source's metrics (see NewMetrics).
	Metrics *Metrics
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if len(o.CredentialNamespaces) == 0 {
		o.CredentialNamespaces = []string{o.Namespace}
	}
	if o.Holdoff <= 0 {
		o.Holdoff = DefaultHoldoff
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = DefaultSyncTimeout
	}
	if o.ReconnectProbe == 0 {
		o.ReconnectProbe = DefaultReconnectProbe
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports missing or invalid options.
func (o Options) Validate() error {
	var errs []error
	if o.Config == nil {
		errs = append(errs, errors.New("kube source: Config is required"))
	}
	if o.ClusterID == "" {
		errs = append(errs, errors.New("kube source: ClusterID is required"))
	}
	for i, ns := range o.CredentialNamespaces {
		if ns == "" {
			errs = append(errs, fmt.Errorf("kube source: CredentialNamespaces[%d]: empty namespace", i))
		}
	}
	return errors.Join(errs...)
}
