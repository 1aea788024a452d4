package model

import (
	"fmt"
	"slices"
	"strings"
)

// Service is a Kubernetes Service (or, in a remote ClusterState, the part of one
// that federation carries) with the endpoints that back it.
type Service struct {
	Meta
	// Hostname is the FQDN, e.g. "reviews.default.svc.cluster.local".
	Hostname        string            `json:"hostname"`
	ClusterIP       string            `json:"clusterIP,omitempty"`
	Type            string            `json:"type,omitempty"` // ClusterIP, NodePort, LoadBalancer, ExternalName
	Selector        map[string]string `json:"selector,omitempty"`
	Ports           []ServicePort     `json:"ports,omitempty"`
	ExternalIPs     []string          `json:"externalIPs,omitempty"`
	LoadBalancerIPs []string          `json:"loadBalancerIPs,omitempty"` // status.loadBalancer.ingress[].ip / hostname
	ExternalName    string            `json:"externalName,omitempty"`
	Endpoints       []Endpoint        `json:"endpoints,omitempty"`
}

// Key is "namespace/name".
func (s *Service) Key() string { return s.NamespacedName() }

// Port returns the service port with the given number.
func (s *Service) Port(number uint32) (ServicePort, bool) {
	for _, p := range s.Ports {
		if p.Port == number {
			return p, true
		}
	}
	return ServicePort{}, false
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name string `json:"name,omitempty"`
	Port uint32 `json:"port"`
	// TargetPort is the numeric target port; zero when the target is named
	// (TargetPortName) or unset (then it equals Port).
	TargetPort     uint32 `json:"targetPort,omitempty"`
	TargetPortName string `json:"targetPortName,omitempty"`
	Protocol       string `json:"protocol,omitempty"` // TCP, UDP, SCTP
	AppProtocol    string `json:"appProtocol,omitempty"`
}

// Endpoint is one address backing a Service, joined with its Pod's labels.
type Endpoint struct {
	Address string `json:"address"`
	// Ports maps the service port name ("" for an unnamed single port) to the
	// port the endpoint listens on.
	Ports          []EndpointPort    `json:"ports,omitempty"`
	Ready          bool              `json:"ready"`
	PodName        string            `json:"pod,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	// TLSMode is "istio" when the workload speaks mesh mTLS (label
	// security.istio.io/tlsMode=istio), else "".
	TLSMode  string   `json:"tlsMode,omitempty"`
	Locality Locality `json:"locality,omitzero"`
	Network  string   `json:"network,omitempty"`
	NodeName string   `json:"nodeName,omitempty"`
}

// Port returns the endpoint port for a service port name.
func (e *Endpoint) Port(name string) (uint32, bool) {
	for _, p := range e.Ports {
		if p.Name == name {
			return p.Port, true
		}
	}
	return 0, false
}

// EndpointPort is a named port of an Endpoint.
type EndpointPort struct {
	Name string `json:"name,omitempty"`
	Port uint32 `json:"port"`
}

// Locality is where an endpoint runs.
type Locality struct {
	Region  string `json:"region,omitempty"`
	Zone    string `json:"zone,omitempty"`
	Subzone string `json:"subzone,omitempty"`
}

// String is "region/zone/subzone", as Istio writes localities.
func (l Locality) String() string {
	if l.Subzone != "" {
		return l.Region + "/" + l.Zone + "/" + l.Subzone
	}
	if l.Zone != "" {
		return l.Region + "/" + l.Zone
	}
	return l.Region
}

// IsZero reports an unknown locality.
func (l Locality) IsZero() bool { return l == Locality{} }

// ParseLocality reads "region[/zone[/subzone]]", the inverse of String.
func ParseLocality(s string) (Locality, error) {
	parts := strings.Split(s, "/")
	if len(parts) > 3 || parts[0] == "" || slices.Contains(parts[1:], "") {
		return Locality{}, fmt.Errorf("locality %q: want region[/zone[/subzone]], no part empty", s)
	}
	parts = append(parts, "", "")
	return Locality{Region: parts[0], Zone: parts[1], Subzone: parts[2]}, nil
}

// Namespace is a Kubernetes Namespace.
type Namespace struct {
	Meta
}

// Secret is a Kubernetes Secret holding TLS material (credentialName secrets).
// Its String and GoString never print the data.
type Secret struct {
	Meta
	Type string            `json:"type,omitempty"`
	Data map[string][]byte `json:"data,omitempty"`
}

func (s Secret) String() string {
	return "Secret " + s.NamespacedName() + " (keys " + joinKeys(s.Data) + ", data redacted)"
}

// GoString keeps %#v from printing key material.
func (s Secret) GoString() string { return s.String() }

func joinKeys(m map[string][]byte) string {
	out := ""
	for i, k := range SortedKeys(m) {
		if i > 0 {
			out += ","
		}
		out += k
	}
	return out
}
