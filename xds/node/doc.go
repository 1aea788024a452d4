// Package node is the one place that builds and parses the identity an Istio
// proxy presents to its control plane: the xDS node id and the node metadata
// keys istiod reads (and meshgate with it).
//
//	meshgate bootstrap ─┐                          ┌─▶ xds/server (ParseNode: which Gateways apply)
//	built-in gateway ───┼─▶ ID.String, Metadata.Struct ──ADS──▶ FromEnvoy ─┤
//	e2e workloads ──────┘                          └─▶ tests (the contract, checked)
//
// Node id (Istio's "type~ip~id~domain", as pilot-agent writes it):
//
//	router~<ip>~<pod>.<ns>~<ns>.svc.<domain suffix>     gateways
//	sidecar~<ip>~<pod>.<ns>~<ns>.svc.<domain suffix>    sidecars and proxyless gRPC clients
//	e.g. router~10.0.0.7~eastwest-0.istio-system~istio-system.svc.cluster.local
//
// ParseID is the checked inverse of ID.String: it returns an error naming the
// bad field for anything String would not produce from an ID that Validate
// accepts, so for every accepted s, ParseID(s).String() == s. Rules:
//   - type: "router" or "sidecar";
//   - ip: an IPv4 or IPv6 address as net/netip reads it, without a zone;
//   - pod: 1–253 bytes of letters, digits, '-', '_' and '.', alphanumeric at
//     both ends (a Kubernetes pod name or a VM host name);
//   - namespace: a DNS-1123 label (lower-case letters, digits, '-', 1–63 bytes),
//     the same in the third and the fourth part;
//   - domain suffix: dot-separated DNS labels, at most 253 bytes (letters keep
//     their case; the rules of sni.ValidateHost).
//
// Istio's own parser accepts a bare "<ns>" as the fourth part; pilot-agent
// never sends one, and neither does anything in this repository, so ParseID
// refuses it (a proxy with a hand-written id learns why at once).
//
// Node metadata (a protobuf Struct; key → Metadata field):
//
//	LABELS           Labels          struct of strings: the daemon selects Gateways by them
//	NAMESPACE        Namespace       overrides the id's namespace (Node.Namespace)
//	NETWORK          Network         the proxy's network (split-horizon EDS)
//	CLUSTER_ID       ClusterID       the proxy's cluster; the server defaults it
//	GENERATOR        Generator       "" (Envoy) or "grpc" (proxyless gRPC)
//	SERVICE_ACCOUNT  ServiceAccount  the identity SDS "default" is issued for
//	ROUTER_MODE      RouterMode      "standard" or "sni-dnat" (east-west gateways)
//	ISTIO_VERSION    IstioVersion    informational
//	any other key    Extra           string values kept verbatim; other kinds ignored
//
// Metadata.Struct and ParseMetadata are inverses for every Metadata that
// Validate accepts. Defaults (cluster id, router mode) are the server's
// business, not this package's: a field left empty is not sent.
//
// The package imports only the standard library, Envoy's core types,
// protobuf and sni (a leaf, for its DNS label rules): any package may use it,
// including tests and the translator.
package node
