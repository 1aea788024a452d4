package model

import "time"

// VirtualService is an Istio VirtualService.
type VirtualService struct {
	Meta
	Hosts    []string    `json:"hosts"`
	Gateways []string    `json:"gateways,omitempty"`
	HTTP     []HTTPRoute `json:"http,omitempty"`
	TLS      []TLSRoute  `json:"tls,omitempty"`
	TCP      []TCPRoute  `json:"tcp,omitempty"`
	ExportTo []string    `json:"exportTo,omitempty"`
	// RouteSemantics is "ingress" for VirtualServices generated from a
	// Kubernetes Ingress: a prefix match then matches whole path segments
	// (/foo matches /foo and /foo/bar, not /foobar), as the Ingress API says;
	// "gateway" for those generated from Gateway API routes.
	RouteSemantics string `json:"routeSemantics,omitempty"`
}

// RouteSemanticsIngress marks VirtualServices generated from Ingress objects.
const RouteSemanticsIngress = "ingress"

// RouteSemanticsGateway marks VirtualServices generated from Gateway API
// routes: prefix matches are by path segment as with Ingress, a missing
// backend answers 500, and a prefix rewrite to "/" strips the prefix.
const RouteSemanticsGateway = "gateway"

// HTTPRoute is one http rule.
type HTTPRoute struct {
	Name           string                 `json:"name,omitempty"`
	Match          []HTTPMatch            `json:"match,omitempty"`
	Route          []HTTPRouteDestination `json:"route,omitempty"`
	Redirect       *HTTPRedirect          `json:"redirect,omitempty"`
	DirectResponse *HTTPDirectResponse    `json:"directResponse,omitempty"`
	Rewrite        *HTTPRewrite           `json:"rewrite,omitempty"`
	Timeout        *time.Duration         `json:"timeout,omitempty"`
	Retries        *HTTPRetry             `json:"retries,omitempty"`
	Fault          *HTTPFault             `json:"fault,omitempty"`
	Mirrors        []HTTPMirror           `json:"mirrors,omitempty"` // mirror + mirrorPercentage fold into one entry
	CorsPolicy     *CorsPolicy            `json:"corsPolicy,omitempty"`
	Headers        *Headers               `json:"headers,omitempty"`
	Delegate       *Delegate              `json:"delegate,omitempty"`
}

// Delegate points at a delegate VirtualService (one without hosts), whose
// http routes replace the route that names it.
type Delegate struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// StringMatch matches a string exactly, by prefix or by RE2 regex; only one is set.
type StringMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
	// Kind distinguishes an empty exact/prefix from unset: "exact", "prefix", "regex".
	Kind string `json:"kind"`
}

// HTTPMatch is one match condition (all fields ANDed).
type HTTPMatch struct {
	Name            string                 `json:"name,omitempty"`
	URI             *StringMatch           `json:"uri,omitempty"`
	Scheme          *StringMatch           `json:"scheme,omitempty"`
	Method          *StringMatch           `json:"method,omitempty"`
	Authority       *StringMatch           `json:"authority,omitempty"`
	Headers         map[string]StringMatch `json:"headers,omitempty"`
	WithoutHeaders  map[string]StringMatch `json:"withoutHeaders,omitempty"`
	QueryParams     map[string]StringMatch `json:"queryParams,omitempty"`
	Port            uint32                 `json:"port,omitempty"`
	SourceLabels    map[string]string      `json:"sourceLabels,omitempty"`
	Gateways        []string               `json:"gateways,omitempty"`
	IgnoreURICase   bool                   `json:"ignoreUriCase,omitempty"`
	SourceNamespace string                 `json:"sourceNamespace,omitempty"`
}

// Destination names a service, subset and port.
type Destination struct {
	Host   string `json:"host"`
	Subset string `json:"subset,omitempty"`
	Port   uint32 `json:"port,omitempty"`
}

// HTTPRouteDestination is a weighted destination of an http rule.
type HTTPRouteDestination struct {
	Destination Destination `json:"destination"`
	Weight      int32       `json:"weight,omitempty"`
	Headers     *Headers    `json:"headers,omitempty"`
}

// RouteDestination is a weighted destination of a tcp or tls rule.
type RouteDestination struct {
	Destination Destination `json:"destination"`
	Weight      int32       `json:"weight,omitempty"`
}

// L4Match is a tcp rule match.
type L4Match struct {
	DestinationSubnets []string          `json:"destinationSubnets,omitempty"`
	Port               uint32            `json:"port,omitempty"`
	SourceLabels       map[string]string `json:"sourceLabels,omitempty"`
	Gateways           []string          `json:"gateways,omitempty"`
	SourceNamespace    string            `json:"sourceNamespace,omitempty"`
}

// TLSMatch is a tls rule match.
type TLSMatch struct {
	SNIHosts           []string          `json:"sniHosts"`
	DestinationSubnets []string          `json:"destinationSubnets,omitempty"`
	Port               uint32            `json:"port,omitempty"`
	SourceLabels       map[string]string `json:"sourceLabels,omitempty"`
	Gateways           []string          `json:"gateways,omitempty"`
	SourceNamespace    string            `json:"sourceNamespace,omitempty"`
}

// TCPRoute is one tcp rule.
type TCPRoute struct {
	Match []L4Match          `json:"match,omitempty"`
	Route []RouteDestination `json:"route,omitempty"`
}

// TLSRoute is one tls rule.
type TLSRoute struct {
	Match []TLSMatch         `json:"match"`
	Route []RouteDestination `json:"route,omitempty"`
}

// HTTPRedirect answers with a redirect.
type HTTPRedirect struct {
	URI string `json:"uri,omitempty"`
	// PrefixRewrite replaces the matched prefix of the path (the route's
	// URI matches are all prefix matches); exclusive with URI.
	PrefixRewrite string `json:"prefixRewrite,omitempty"`
	Authority     string `json:"authority,omitempty"`
	Port          uint32 `json:"port,omitempty"`
	DerivePort    string `json:"derivePort,omitempty"` // FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT
	Scheme        string `json:"scheme,omitempty"`
	RedirectCode  uint32 `json:"redirectCode,omitempty"`
}

// HTTPDirectResponse answers directly.
type HTTPDirectResponse struct {
	Status uint32 `json:"status"`
	Body   string `json:"body,omitempty"`
}

// HTTPRewrite rewrites the request before forwarding.
type HTTPRewrite struct {
	URI             string `json:"uri,omitempty"`
	Authority       string `json:"authority,omitempty"`
	URIRegex        string `json:"uriRegex,omitempty"`
	URIRegexRewrite string `json:"uriRegexRewrite,omitempty"`
}

// HTTPRetry is a retry policy.
type HTTPRetry struct {
	Attempts              int32          `json:"attempts"`
	PerTryTimeout         *time.Duration `json:"perTryTimeout,omitempty"`
	RetryOn               string         `json:"retryOn,omitempty"`
	RetryRemoteLocalities *bool          `json:"retryRemoteLocalities,omitempty"`
}

// HTTPFault injects delays and aborts.
type HTTPFault struct {
	Delay *FaultDelay `json:"delay,omitempty"`
	Abort *FaultAbort `json:"abort,omitempty"`
}

// FaultDelay delays a percentage of requests.
type FaultDelay struct {
	FixedDelay time.Duration `json:"fixedDelay"`
	Percentage *float64      `json:"percentage,omitempty"` // nil: 100%
}

// FaultAbort aborts a percentage of requests.
type FaultAbort struct {
	HTTPStatus int32    `json:"httpStatus,omitempty"`
	GRPCStatus string   `json:"grpcStatus,omitempty"`
	Percentage *float64 `json:"percentage,omitempty"` // nil: 100%
}

// HTTPMirror copies traffic to another destination.
type HTTPMirror struct {
	Destination Destination `json:"destination"`
	Percentage  *float64    `json:"percentage,omitempty"` // nil: 100%
}

// CorsPolicy is a CORS policy.
type CorsPolicy struct {
	AllowOrigins     []StringMatch  `json:"allowOrigins,omitempty"`
	AllowMethods     []string       `json:"allowMethods,omitempty"`
	AllowHeaders     []string       `json:"allowHeaders,omitempty"`
	ExposeHeaders    []string       `json:"exposeHeaders,omitempty"`
	MaxAge           *time.Duration `json:"maxAge,omitempty"`
	AllowCredentials *bool          `json:"allowCredentials,omitempty"`
}

// Headers manipulates request and response headers.
type Headers struct {
	Request  *HeaderOperations `json:"request,omitempty"`
	Response *HeaderOperations `json:"response,omitempty"`
}

// HeaderOperations sets, adds and removes headers.
type HeaderOperations struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}
