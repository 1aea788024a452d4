package model

import "time"

// DestinationRule is an Istio DestinationRule.
type DestinationRule struct {
	Meta
	Host          string         `json:"host"`
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
	Subsets       []Subset       `json:"subsets,omitempty"`
	ExportTo      []string       `json:"exportTo,omitempty"`
	// WorkloadSelector limits the rule to the proxies of its namespace whose
	// labels match (nil: every proxy that sees the rule).
	WorkloadSelector map[string]string `json:"workloadSelector,omitempty"`
}

// Subset is a named group of a service's endpoints.
type Subset struct {
	Name          string            `json:"name"`
	Labels        map[string]string `json:"labels,omitempty"`
	TrafficPolicy *TrafficPolicy    `json:"trafficPolicy,omitempty"`
}

// TrafficPolicy is a DestinationRule traffic policy.
type TrafficPolicy struct {
	LoadBalancer      *LoadBalancer       `json:"loadBalancer,omitempty"`
	ConnectionPool    *ConnectionPool     `json:"connectionPool,omitempty"`
	OutlierDetection  *OutlierDetection   `json:"outlierDetection,omitempty"`
	TLS               *ClientTLS          `json:"tls,omitempty"`
	PortLevelSettings []PortTrafficPolicy `json:"portLevelSettings,omitempty"`
}

// PortTrafficPolicy is a traffic policy for one port.
type PortTrafficPolicy struct {
	Port             uint32            `json:"port"`
	LoadBalancer     *LoadBalancer     `json:"loadBalancer,omitempty"`
	ConnectionPool   *ConnectionPool   `json:"connectionPool,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlierDetection,omitempty"`
	TLS              *ClientTLS        `json:"tls,omitempty"`
}

// LoadBalancer selects the load-balancing algorithm.
type LoadBalancer struct {
	Simple         string          `json:"simple,omitempty"` // ROUND_ROBIN, LEAST_REQUEST, RANDOM, PASSTHROUGH, UNSPECIFIED
	ConsistentHash *ConsistentHash `json:"consistentHash,omitempty"`
	Locality       *LocalityLB     `json:"localityLbSetting,omitempty"`
}

// LocalityLB is a localityLbSetting: traffic kept in or spread over
// localities ("region/zone/subzone" patterns, "*" for any part).
type LocalityLB struct {
	Enabled    *bool                `json:"enabled,omitempty"` // nil: enabled
	Distribute []LocalityDistribute `json:"distribute,omitempty"`
	Failover   []LocalityFailover   `json:"failover,omitempty"`
	// FailoverPriority lists labels ("label" or "label=value"): endpoints
	// agreeing with the proxy on more of them, in order, get a higher
	// priority. The proxy's and the endpoints' labels include the topology
	// labels istiod adds (network, region, zone, subzone, cluster).
	FailoverPriority []string `json:"failoverPriority,omitempty"`
}

// LocalityDistribute gives the traffic of proxies in From to the localities
// of To, by weight (summing to 100).
type LocalityDistribute struct {
	From string            `json:"from"`
	To   map[string]uint32 `json:"to"`
}

// LocalityFailover names the region that takes over from region From.
type LocalityFailover struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ConsistentHash hashes requests onto endpoints.
type ConsistentHash struct {
	HTTPHeaderName         string         `json:"httpHeaderName,omitempty"`
	HTTPCookieName         string         `json:"httpCookieName,omitempty"`
	HTTPCookiePath         string         `json:"httpCookiePath,omitempty"`
	HTTPCookieTTL          *time.Duration `json:"httpCookieTtl,omitempty"`
	UseSourceIP            bool           `json:"useSourceIp,omitempty"`
	HTTPQueryParameterName string         `json:"httpQueryParameterName,omitempty"`
	// Algorithm is HashRing (ringHash, or the deprecated top-level
	// minimumRingSize) or HashMaglev.
	Algorithm       HashAlgorithm `json:"algorithm,omitempty"`
	MinimumRingSize uint64        `json:"minimumRingSize,omitempty"`
	// MaglevTableSize is maglev.tableSize (0: Envoy's default).
	MaglevTableSize uint64 `json:"maglevTableSize,omitempty"`
}

// HashAlgorithm is a consistent-hash algorithm.
type HashAlgorithm string

// Consistent-hash algorithms. HashRingDefault is a consistentHash without
// ringHash or maglev: a ring whose minimum size defaults to 1024 (istiod);
// HashRing is an explicit ringHash, whose unset minimum size stays Envoy's.
const (
	HashRingDefault HashAlgorithm = ""
	HashRing        HashAlgorithm = "ringHash"
	HashMaglev      HashAlgorithm = "maglev"
)

// ConnectionPool limits connections and requests.
type ConnectionPool struct {
	TCP  *TCPPool  `json:"tcp,omitempty"`
	HTTP *HTTPPool `json:"http,omitempty"`
}

// TCPPool is the TCP part of a connection pool.
type TCPPool struct {
	MaxConnections        int32          `json:"maxConnections,omitempty"`
	ConnectTimeout        *time.Duration `json:"connectTimeout,omitempty"`
	TCPKeepalive          *TCPKeepalive  `json:"tcpKeepalive,omitempty"`
	MaxConnectionDuration *time.Duration `json:"maxConnectionDuration,omitempty"`
	IdleTimeout           *time.Duration `json:"idleTimeout,omitempty"`
}

// TCPKeepalive sets SO_KEEPALIVE on upstream connections; unset fields keep
// the operating system's defaults.
type TCPKeepalive struct {
	Probes   uint32         `json:"probes,omitempty"`
	Time     *time.Duration `json:"time,omitempty"`
	Interval *time.Duration `json:"interval,omitempty"`
}

// HTTP2Keepalive is the HTTP/2 PING keepalive of upstream connections.
type HTTP2Keepalive struct {
	Interval *time.Duration `json:"interval,omitempty"`
	Timeout  *time.Duration `json:"timeout,omitempty"`
}

// HTTPPool is the HTTP part of a connection pool.
type HTTPPool struct {
	HTTP1MaxPendingRequests  int32           `json:"http1MaxPendingRequests,omitempty"`
	HTTP2MaxRequests         int32           `json:"http2MaxRequests,omitempty"`
	MaxRequestsPerConnection int32           `json:"maxRequestsPerConnection,omitempty"`
	MaxRetries               int32           `json:"maxRetries,omitempty"`
	IdleTimeout              *time.Duration  `json:"idleTimeout,omitempty"`
	H2UpgradePolicy          string          `json:"h2UpgradePolicy,omitempty"`
	UseClientProtocol        bool            `json:"useClientProtocol,omitempty"`
	MaxConcurrentStreams     int32           `json:"maxConcurrentStreams,omitempty"`
	HTTP2KeepAlive           *HTTP2Keepalive `json:"http2KeepAlive,omitempty"`
}

// OutlierDetection ejects failing endpoints.
type OutlierDetection struct {
	Consecutive5xxErrors     *uint32        `json:"consecutive5xxErrors,omitempty"`
	ConsecutiveGatewayErrors *uint32        `json:"consecutiveGatewayErrors,omitempty"`
	Interval                 *time.Duration `json:"interval,omitempty"`
	BaseEjectionTime         *time.Duration `json:"baseEjectionTime,omitempty"`
	MaxEjectionPercent       int32          `json:"maxEjectionPercent,omitempty"`
	MinHealthPercent         int32          `json:"minHealthPercent,omitempty"`
}

// ClientTLSMode is an upstream TLS mode.
type ClientTLSMode string

// Client (upstream) TLS modes.
const (
	ClientTLSDisable     ClientTLSMode = "DISABLE"
	ClientTLSSimple      ClientTLSMode = "SIMPLE"
	ClientTLSMutual      ClientTLSMode = "MUTUAL"
	ClientTLSIstioMutual ClientTLSMode = "ISTIO_MUTUAL"
)

// ClientTLS is a DestinationRule's upstream TLS setting.
type ClientTLS struct {
	Mode               ClientTLSMode `json:"mode,omitempty"`
	ClientCertificate  string        `json:"clientCertificate,omitempty"`
	PrivateKey         string        `json:"privateKey,omitempty"`
	CACertificates     string        `json:"caCertificates,omitempty"`
	CredentialName     string        `json:"credentialName,omitempty"`
	SubjectAltNames    []string      `json:"subjectAltNames,omitempty"`
	SNI                string        `json:"sni,omitempty"`
	InsecureSkipVerify bool          `json:"insecureSkipVerify,omitempty"`
}
