package meshlab

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshgate/meshgate/discovery/model"
)

// Names and ports of the simulated world.
const (
	Namespace      = "e2e"                      // workloads
	SystemNS       = model.IstioSystemNamespace // gateways
	EchoPort       = 8080
	XDSPort        = 15012                           // the daemon's secure xDS port: every gateway and client connects here
	XDSServerName  = "meshgate." + SystemNS + ".svc" // the daemon's name in its serving certificate
	DaemonAdmin    = 15014                           // the daemon's monitoring port (its admin API is a Unix socket)
	GossipPort     = 7946
	EastWestPort   = 15443
	EastWestAdmin  = 15100
	IngressAdmin   = 15101
	IngressPort    = 9000 // north-south TCP server of the ingress gateway
	ClientGWPort   = 15001
	DomainSuffix   = "svc.cluster.local"
	ClientSNIZone  = "client.e2e" // sniHosts of the clients' routes
	IngressService = "only-b"     // where the ingress routes
)

// Host is the FQDN of a service of the e2e namespace.
func Host(svc string) string { return svc + "." + Namespace + "." + DomainSuffix }

// ClusterSetHost is the Multi-Cluster Services host of a service of the
// e2e namespace.
func ClusterSetHost(svc string) string { return svc + "." + Namespace + ".svc.clusterset.local" }

// ClientRoute is one route of the clients' egress configuration: the
// daemon sends the client the cluster of each route (CDS) and its
// endpoints (EDS).
type ClientRoute struct {
	Service, Subset string
	// ClusterSet routes to the service's clusterset host (ClusterSetHost)
	// instead of its cluster.local one.
	ClusterSet bool
}

// SNIHost is the route's match key (not a DNS name anyone resolves).
func (r ClientRoute) SNIHost() string {
	h := r.Service + "." + ClientSNIZone
	if r.ClusterSet {
		h = "clusterset." + h
	}
	if r.Subset == "" {
		return h
	}
	return r.Subset + "." + h
}

// Host is the route's destination host.
func (r ClientRoute) Host() string {
	if r.ClusterSet {
		return ClusterSetHost(r.Service)
	}
	return Host(r.Service)
}

// baseObjects are the objects every cluster has: namespaces, its east-west
// gateway (Service with the network label and load-balancer address, and
// the AUTO_PASSTHROUGH Gateway), the clients' egress Gateway and routes, and
// the echo DestinationRule with subsets v1 and v2 and a 2 s connect timeout
// (istiod's default is 10 s: a connect to a gateway behind a partition
// that drops packets would outlast a call's 5 s deadline, and no proxy
// could retry it on another endpoint in time).
func baseObjects(c *Cluster, routes []ClientRoute) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
  labels: {topology.istio.io/network: %[3]s}
---
apiVersion: v1
kind: Namespace
metadata: {name: %[2]s}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-eastwestgateway
  namespace: %[1]s
  labels: {istio: eastwestgateway, topology.istio.io/network: %[3]s}
spec:
  type: LoadBalancer
  selector: {istio: eastwestgateway}
  ports: [{name: tls, port: %[4]d, targetPort: %[4]d}]
status:
  loadBalancer:
    ingress: [{ip: %[5]s}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: cross-network-gateway, namespace: %[1]s}
spec:
  selector: {istio: eastwestgateway}
  servers:
  - port: {number: %[4]d, name: tls, protocol: TLS}
    tls: {mode: AUTO_PASSTHROUGH}
    hosts: ["*.local"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: %[2]s}
spec:
  host: %[6]s
  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 2s}}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: client, namespace: %[2]s}
spec:
  selector: {app: e2e-client}
  servers:
  - port: {number: %[7]d, name: tls, protocol: TLS}
    tls: {mode: PASSTHROUGH}
    hosts: ["*"]
`, SystemNS, Namespace, c.Net.Name, EastWestPort, c.Net.EastWestIP, Host("echo"), ClientGWPort)
	b.WriteString(clientRoutes(routes))
	return b.String()
}

func clientRoutes(routes []ClientRoute) string {
	var b strings.Builder
	fmt.Fprintf(&b, `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: client, namespace: %s}
spec:
  gateways: [client]
  hosts: ["*.%s"]
  tls:
`, Namespace, ClientSNIZone)
	for _, r := range routes {
		subset := ""
		if r.Subset != "" {
			subset = ", subset: " + r.Subset
		}
		fmt.Fprintf(&b, "  - match: [{port: %d, sniHosts: [%s]}]\n    route: [{destination: {host: %s, port: {number: %d}%s}}]\n",
			ClientGWPort, r.SNIHost(), r.Host(), EchoPort, subset)
	}
	return b.String()
}

// ingressObjects are the north-south ingress gateway's configuration: a TCP
// server on IngressPort routed to IngressService. Its pods are reached with
// mesh mTLS (auto mTLS: tlsMode=istio endpoints, the gateway's SVID and
// the trust bundle over SDS).
func ingressObjects() string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: %[1]s}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: %[2]d, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ingress, namespace: %[1]s}
spec:
  gateways: [ingress]
  hosts: ["*"]
  tcp:
  - match: [{port: %[2]d}]
    route: [{destination: {host: %[3]s, port: {number: %[4]d}}}]
`, SystemNS, IngressPort, Host(IngressService), EchoPort)
}

// serviceObjects are a Service of the e2e namespace, the service account
// its pods run as, and its EndpointSlice listing pods (written by the
// suite: there is no controller-manager).
func serviceObjects(svc string, pods []*Pod) string {
	var eps []string
	for _, p := range pods {
		eps = append(eps, fmt.Sprintf("- {addresses: [%s], conditions: {ready: true}, targetRef: {kind: Pod, name: %s, namespace: %s}}",
			p.IP, p.Name, Namespace))
	}
	slices.Sort(eps)
	list := "[]"
	if len(eps) > 0 {
		list = "\n" + strings.Join(eps, "\n")
	}
	return fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: %[1]s, namespace: %[2]s}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s, labels: {app: %[1]s}}
spec:
  selector: {app: %[1]s}
  ports: [{name: tcp-echo, port: %[3]d, targetPort: %[3]d, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s-e2e, namespace: %[2]s, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: tcp-echo, port: %[3]d, protocol: TCP}]
endpoints: %[4]s
`, svc, Namespace, EchoPort, list)
}

// podObject is an echo pod with its status (phase Running, pod IP).
func podObject(p *Pod) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  namespace: %[2]s
  labels: {app: %[3]s, version: %[4]s, security.istio.io/tlsMode: istio}
spec:
  serviceAccountName: %[5]s
  containers: [{name: echo, image: meshgate-e2e-echo}]
status:
  phase: Running
  podIP: %[6]s
  podIPs: [{ip: %[6]s}]
`, p.Name, Namespace, p.Service, p.Version, p.SA, p.IP)
}
