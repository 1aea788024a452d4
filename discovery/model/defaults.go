package model

// Istio's defaults, named once. Every package that needs one reads it here
// (model imports nothing, so everything may import it).
const (
	// DefaultDomainSuffix is the cluster DNS domain (istiod's --domain,
	// Kubernetes' default cluster domain): hosts are <svc>.<ns>.svc.cluster.local.
	DefaultDomainSuffix = "cluster.local"
	// DefaultTrustDomain is the SPIFFE trust domain (meshConfig.trustDomain's
	// default): identities are spiffe://cluster.local/ns/<ns>/sa/<sa>.
	DefaultTrustDomain = "cluster.local"
	// DefaultClusterID is Istio's cluster id when none is configured
	// (CLUSTER_ID of istiod and of its proxies).
	DefaultClusterID = "Kubernetes"
	// IstioSystemNamespace is Istio's system namespace: the daemon's and the
	// gateways' default namespace, the mesh's root configuration namespace,
	// and where the Gateways of Kubernetes Ingresses are generated.
	IstioSystemNamespace = "istio-system"
	// MeshGateway is the reserved gateway name of a VirtualService that
	// applies to the mesh's sidecars rather than to a gateway.
	MeshGateway = "mesh"
)
