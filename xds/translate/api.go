package translate

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/meshgate/meshgate/discovery/model"
)

// Proxy describes the gateway a configuration is built for. The xDS server
// fills it from the node id and node metadata, Istio style (package xds/node:
// id "router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local", metadata LABELS,
// NAMESPACE, NETWORK, CLUSTER_ID).
type Proxy struct {
	ID        string
	Type      string // node.TypeRouter (gateways); node.TypeSidecar proxies get mesh-only views
	IP        string
	Namespace string
	Labels    map[string]string
	Network   string
	ClusterID string
	// RouterMode is "sni-dnat" for east-west gateways that serve
	// AUTO_PASSTHROUGH, else "standard".
	RouterMode string
	// Flavor is the Envoy build the proxy runs ("" means FlavorIstio).
	Flavor Flavor
	// Locality is where the proxy runs (the xDS node's locality); locality
	// load balancing orders or weights endpoints relative to it.
	Locality model.Locality
}

// Flavor is the Envoy build a configuration is for: Istio's proxy has
// extensions of its own that upstream Envoy rejects.
type Flavor string

const (
	// FlavorIstio is Istio's proxy (istio-proxy, a node with ISTIO_VERSION):
	// the configuration istiod would give, Istio's own filters (istio.alpn) included.
	FlavorIstio Flavor = "istio"
	// FlavorEnvoy is upstream Envoy: only its own extensions, with standard
	// equivalents of Istio's (see ParseFlavor and the README).
	FlavorEnvoy Flavor = "envoy"
)

// ParseFlavor reads "istio" or "envoy" ("" is istio).
func ParseFlavor(s string) (Flavor, error) {
	switch Flavor(s) {
	case "", FlavorIstio:
		return FlavorIstio, nil
	case FlavorEnvoy:
		return FlavorEnvoy, nil
	}
	return "", fmt.Errorf("unknown proxy flavor %q (want %q or %q)", s, FlavorIstio, FlavorEnvoy)
}

// istioFilters reports whether the proxy runs Istio's proxy build.
func (p Proxy) istioFilters() bool { return p.Flavor != FlavorEnvoy }

// Options are mesh-wide settings of a translation.
type Options struct {
	// DomainSuffix is the cluster DNS domain (default "cluster.local").
	DomainSuffix string
	// TrustDomain and TrustDomainAliases are the SPIFFE trust domains whose
	// peers ISTIO_MUTUAL servers accept.
	TrustDomain        string
	TrustDomainAliases []string
	// Protocol filters that Istio keeps behind feature flags
	// (PILOT_ENABLE_MYSQL_FILTER, PILOT_ENABLE_REDIS_FILTER, PILOT_ENABLE_QUIC_LISTENERS).
	EnableMySQLFilter   bool
	EnableRedisFilter   bool
	EnableQUICListeners bool
	// DefaultServiceExportTo is MeshConfig.defaultServiceExportTo: where
	// Services and ServiceEntries without exportTo are visible (nil: every
	// namespace, "*").
	DefaultServiceExportTo []string
}

// DefaultOptions returns the defaults: cluster.local everywhere.
func DefaultOptions() Options {
	return Options{DomainSuffix: model.DefaultDomainSuffix, TrustDomain: model.DefaultTrustDomain}
}

// Result is the configuration of one proxy. Slices are sorted by name.
type Result struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	// Secrets are SDS secrets built from credentialName Secrets
	// ("kubernetes://<name>", "kubernetes://<name>-cacert"). Identity secrets
	// (default, ROOTCA) are added by the xDS server, not here.
	Secrets []*tlsv3.Secret
	// Errors are problems with individual objects (each a *model.FieldError
	// or wrapping one). The objects were skipped; everything else is here.
	Errors []error
	// RouteDeps are, by route configuration name, what each one's
	// translation used beyond the VirtualServices bound to it: the clusters
	// its routes name and the object errors it reported (RoutesFor).
	// ListenerClusters are the clusters the listeners name. Together they
	// are every cluster reference of the translation, so a route change
	// that keeps their union keeps Clusters and Endpoints as they are.
	// Set by Translate (not by GRPC).
	RouteDeps        map[string]RouteDeps
	ListenerClusters []string
	// Warnings are problems that do not reject an object: a route to a service
	// that does not exist, a credentialName Secret that is missing. istiod emits
	// the same configuration in these cases; meshgate also says why.
	Warnings []error
}
