// Package world writes the synthetic worlds of the performance figures
// (issue 16): n Services, each with Pods behind one EndpointSlice and one
// VirtualService, in 50 namespaces, plus one gateway (its Service, Pod,
// EndpointSlice and Gateway) in istio-system, and proxies.yaml for the
// istiod oracle. The same directory is the input of `meshgate translate`,
// of the oracle and of the loading benchmarks.
//
//	world.Write(dir, world.Shape{Services: 5000, Gateway: world.Ingress})
//	  dir/ns-NN.yaml         Namespaces
//	  dir/apps-NNNN.yaml     100 services per file: Service, Pods, EndpointSlice, VirtualService
//	  dir/gateway.yaml       the gateway's Service, Pod, EndpointSlice and Gateway
//	  dir/proxies.yaml       the gateway proxy, for the oracle (meshgate ignores a YAML sequence)
//
// Every file is at the top of dir: the oracle reads no subdirectory.
//
// Imports only: the standard library.
package world

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// Kind of gateway of a world.
type Kind string

const (
	// Ingress is an istio=ingressgateway proxy with an HTTP server on port 80
	// for *.example.com: every VirtualService binds to it.
	Ingress Kind = "ingress"
	// EastWest is an istio=eastwestgateway proxy of network1 with the
	// AUTO_PASSTHROUGH server on 15443 for *.local.
	EastWest Kind = "eastwest"
)

// Shape says what to write.
type Shape struct {
	Services int
	// PodsPerService defaults to 5.
	PodsPerService int
	Gateway        Kind // default Ingress
}

// Namespaces is how many application namespaces the services spread over.
const Namespaces = 50

// perFile is how many services (with their pods, slice and VirtualService) one file holds.
const perFile = 100

// Proxy is how `meshgate translate` names the world's gateway proxy.
func (s Shape) Proxy() (labels, network string) {
	if s.Gateway == EastWest {
		return "istio=eastwestgateway", "network1"
	}
	return "istio=ingressgateway", ""
}

// Write writes the world into dir (created if needed) and returns the
// number of objects written.
func Write(dir string, s Shape) (objects int, err error) {
	if s.PodsPerService == 0 {
		s.PodsPerService = 5
	}
	if s.Gateway == "" {
		s.Gateway = Ingress
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	for i := range Namespaces {
		err := writeFile(filepath.Join(dir, fmt.Sprintf("ns-%02d.yaml", i)), func(w *bufio.Writer) {
			fmt.Fprintf(w, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns-%d\n  labels:\n    istio-injection: enabled\n", i)
			objects++
		})
		if err != nil {
			return 0, err
		}
	}
	for f := 0; f*perFile < s.Services; f++ {
		err := writeFile(filepath.Join(dir, fmt.Sprintf("apps-%04d.yaml", f)), func(w *bufio.Writer) {
			for i := f * perFile; i < min(s.Services, (f+1)*perFile); i++ {
				objects += writeApp(w, i, s.PodsPerService, s.Gateway)
			}
		})
		if err != nil {
			return 0, err
		}
	}
	if err := writeFile(filepath.Join(dir, "gateway.yaml"), func(w *bufio.Writer) { objects += writeGateway(w, s.Gateway) }); err != nil {
		return 0, err
	}
	return objects, writeFile(filepath.Join(dir, "proxies.yaml"), func(w *bufio.Writer) { writeProxies(w, s.Gateway) })
}

func writeFile(name string, body func(*bufio.Writer)) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	body(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// podIP is the address of pod p of service i (10.128.0.0/9 holds 8M pods).
func podIP(i, p, pods int) string {
	n := i*pods + p
	return fmt.Sprintf("10.%d.%d.%d", 128+n>>16, (n>>8)&255, n&255)
}

func writeApp(w *bufio.Writer, i, pods int, gw Kind) int {
	gateways := "  gateways:\n  - istio-system/ingress\n"
	if gw == EastWest {
		gateways = "" // mesh: the east-west gateway routes by SNI, not by VirtualService
	}
	ns := fmt.Sprintf("ns-%d", i%Namespaces)
	name := fmt.Sprintf("svc-%d", i)
	fmt.Fprintf(w, `apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
  labels:
    app: %[1]s
    service: %[1]s
spec:
  type: ClusterIP
  clusterIP: 10.96.%[3]d.%[4]d
  selector:
    app: %[1]s
  ports:
  - name: http
    port: 80
    targetPort: 8080
    protocol: TCP
---
`, name, ns, (i>>8)&255, i&255)
	for p := range pods {
		fmt.Fprintf(w, `apiVersion: v1
kind: Pod
metadata:
  name: %[1]s-7d4b9c-%[3]d
  namespace: %[2]s
  labels:
    app: %[1]s
    version: v%[4]d
    pod-template-hash: 7d4b9c
    security.istio.io/tlsMode: istio
spec:
  serviceAccountName: %[1]s
  nodeName: node-%[6]d
  containers:
  - name: app
    image: registry.example.com/%[1]s:1.0
  - name: istio-proxy
    image: docker.io/istio/proxyv2:1.31.0
status:
  phase: Running
  podIP: %[5]s
  podIPs:
  - ip: %[5]s
  conditions:
  - type: Ready
    status: "True"
---
`, name, ns, p, p%2+1, podIP(i, p, pods), (i+p)%20)
	}
	fmt.Fprintf(w, "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %[1]s-abcde\n  namespace: %[2]s\n  labels:\n    kubernetes.io/service-name: %[1]s\naddressType: IPv4\nendpoints:\n", name, ns)
	for p := range pods {
		fmt.Fprintf(w, "- addresses:\n  - %[3]s\n  conditions:\n    ready: true\n  targetRef:\n    kind: Pod\n    name: %[1]s-7d4b9c-%[4]d\n    namespace: %[2]s\n", name, ns, podIP(i, p, pods), p)
	}
	fmt.Fprintf(w, `ports:
- name: http
  port: 8080
  protocol: TCP
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  hosts:
  - %[1]s.example.com
%[3]s  http:
  - match:
    - uri:
        prefix: /api
    route:
    - destination:
        host: %[1]s.%[2]s.svc.cluster.local
        port:
          number: 80
    timeout: 5s
---
`, name, ns, gateways)
	return 3 + pods
}

func writeGateway(w *bufio.Writer, k Kind) int {
	if k == EastWest {
		fmt.Fprint(w, `apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
  labels: {topology.istio.io/network: network1}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-eastwestgateway
  namespace: istio-system
  labels: {app: istio-eastwestgateway, istio: eastwestgateway, topology.istio.io/network: network1}
spec:
  type: LoadBalancer
  clusterIP: 10.96.255.200
  selector: {app: istio-eastwestgateway, istio: eastwestgateway}
  ports:
  - {name: status-port, port: 15021, targetPort: 15021, protocol: TCP}
  - {name: tls, port: 15443, targetPort: 15443, protocol: TCP}
---
apiVersion: v1
kind: Pod
metadata:
  name: istio-eastwestgateway-xyz
  namespace: istio-system
  labels: {app: istio-eastwestgateway, istio: eastwestgateway, topology.istio.io/network: network1}
spec:
  containers: [{name: istio-proxy, image: proxyv2}]
status:
  phase: Running
  podIP: 10.127.0.3
  podIPs: [{ip: 10.127.0.3}]
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: istio-eastwestgateway-1
  namespace: istio-system
  labels: {kubernetes.io/service-name: istio-eastwestgateway}
addressType: IPv4
endpoints:
- addresses: [10.127.0.3]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: istio-eastwestgateway-xyz, namespace: istio-system}
ports:
- {name: status-port, port: 15021, protocol: TCP}
- {name: tls, port: 15443, protocol: TCP}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: cross-network-gateway
  namespace: istio-system
spec:
  selector: {istio: eastwestgateway}
  servers:
  - port: {number: 15443, name: tls, protocol: TLS}
    tls: {mode: AUTO_PASSTHROUGH}
    hosts: ["*.local"]
`)
		return 5
	}
	fmt.Fprint(w, `apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  type: LoadBalancer
  clusterIP: 10.96.255.100
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports:
  - {name: status-port, port: 15021, targetPort: 15021, protocol: TCP}
  - {name: http2, port: 80, targetPort: 8080, protocol: TCP}
  - {name: https, port: 443, targetPort: 8443, protocol: TCP}
---
apiVersion: v1
kind: Pod
metadata:
  name: istio-ingressgateway-xyz
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  containers: [{name: istio-proxy, image: proxyv2}]
status:
  phase: Running
  podIP: 10.127.0.2
  podIPs: [{ip: 10.127.0.2}]
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: istio-ingressgateway-1
  namespace: istio-system
  labels: {kubernetes.io/service-name: istio-ingressgateway}
addressType: IPv4
endpoints:
- addresses: [10.127.0.2]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: istio-ingressgateway-xyz, namespace: istio-system}
ports:
- {name: status-port, port: 15021, protocol: TCP}
- {name: http2, port: 8080, protocol: TCP}
- {name: https, port: 8443, protocol: TCP}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: ingress
  namespace: istio-system
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*/*.example.com"]
`)
	return 5
}

func writeProxies(w *bufio.Writer, k Kind) {
	if k == EastWest {
		fmt.Fprint(w, `- name: eastwestgateway
  type: router
  namespace: istio-system
  ip: 10.127.0.3
  labels: {app: istio-eastwestgateway, istio: eastwestgateway, topology.istio.io/network: network1}
  metadata: {NETWORK: network1, REQUESTED_NETWORK_VIEW: network1, ROUTER_MODE: sni-dnat}
`)
		return
	}
	fmt.Fprint(w, `- name: ingressgateway
  type: router
  namespace: istio-system
  ip: 10.127.0.2
  labels: {app: istio-ingressgateway, istio: ingressgateway}
`)
}
