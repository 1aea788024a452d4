package model

// ServiceEntry is an Istio ServiceEntry: services outside the Kubernetes registry.
type ServiceEntry struct {
	Meta
	Hosts            []string          `json:"hosts"`
	Addresses        []string          `json:"addresses,omitempty"`
	Ports            []SEPort          `json:"ports,omitempty"`
	Location         string            `json:"location,omitempty"`   // MESH_EXTERNAL (default), MESH_INTERNAL
	Resolution       string            `json:"resolution,omitempty"` // NONE (default), STATIC, DNS, DNS_ROUND_ROBIN
	Endpoints        []WorkloadEntry   `json:"endpoints,omitempty"`
	WorkloadSelector map[string]string `json:"workloadSelector,omitempty"`
	ExportTo         []string          `json:"exportTo,omitempty"`
	SubjectAltNames  []string          `json:"subjectAltNames,omitempty"`
}

// SEPort is a ServiceEntry port.
type SEPort struct {
	Number     uint32   `json:"number"`
	Protocol   Protocol `json:"protocol,omitempty"`
	Name       string   `json:"name"`
	TargetPort uint32   `json:"targetPort,omitempty"`
}

// WorkloadEntry is an inline ServiceEntry endpoint.
type WorkloadEntry struct {
	Address        string            `json:"address,omitempty"`
	Ports          map[string]uint32 `json:"ports,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	Network        string            `json:"network,omitempty"`
	Locality       string            `json:"locality,omitempty"`
	Weight         uint32            `json:"weight,omitempty"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
}
