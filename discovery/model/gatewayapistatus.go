package model

// GatewayAPIStatus is the status that the conversion of a cluster's Gateway
// API objects (gateway.networking.k8s.io) gives them, istiod's conditions
// with istiod's reasons and messages: computed in the same pass as the
// configuration (package convert), written back into the local cluster by
// its daemon (package discovery/gwstatus). Local knowledge: federation never
// gossips it (its wire body is built field by field).
type GatewayAPIStatus struct {
	// Classes are the GatewayClasses whose controllerName is Istio's.
	Classes []GatewayClassStatus `json:"classes,omitempty"`
	// Gateways are the Gateways of those classes.
	Gateways []GatewayStatus `json:"gateways,omitempty"`
	// Routes are the routes with at least one parentRef to a listener of
	// those Gateways; only those parents are in Parents.
	Routes []RouteStatus `json:"routes,omitempty"`
}

// Condition is a metav1.Condition without its transition time (the writer
// keeps or sets it). Status is "True" or "False".
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
}

// Condition statuses.
const (
	ConditionTrue  = "True"
	ConditionFalse = "False"
)

// GatewayClassStatus is the status of one GatewayClass.
type GatewayClassStatus struct {
	Name       string      `json:"name"`
	Generation int64       `json:"generation,omitempty"`
	Conditions []Condition `json:"conditions"`
}

// GatewayStatus is the status of one Gateway.
type GatewayStatus struct {
	Namespace  string      `json:"namespace"`
	Name       string      `json:"name"`
	Generation int64       `json:"generation,omitempty"`
	Conditions []Condition `json:"conditions"`
	// Addresses are the addresses to report (empty: none known yet; a
	// writer keeps the ones reported before, as istiod does).
	Addresses []GatewayStatusAddress `json:"addresses,omitempty"`
	// Listeners, in the order of spec.listeners.
	Listeners []ListenerStatus `json:"listeners,omitempty"`
}

// GatewayStatusAddress is an address of a Gateway: Type IPAddress or
// Hostname.
type GatewayStatusAddress struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// ListenerStatus is the status of one listener of a Gateway.
type ListenerStatus struct {
	Name           string `json:"name"`
	AttachedRoutes int32  `json:"attachedRoutes"`
	// SupportedKinds are route kinds of the group gateway.networking.k8s.io.
	SupportedKinds []string    `json:"supportedKinds"`
	Conditions     []Condition `json:"conditions"`
}

// RouteStatus is the status of one HTTPRoute, GRPCRoute, TLSRoute or
// TCPRoute: its parents that the Istio controller handles.
type RouteStatus struct {
	Kind       Kind                `json:"kind"` // HTTPRoute, GRPCRoute, TLSRoute, TCPRoute
	Namespace  string              `json:"namespace"`
	Name       string              `json:"name"`
	Generation int64               `json:"generation,omitempty"`
	Parents    []RouteParentStatus `json:"parents"`
}

// RouteParentStatus is a route's status for one parentRef, as written.
type RouteParentStatus struct {
	ParentRef  ParentRef   `json:"parentRef"`
	Conditions []Condition `json:"conditions"`
}

// ParentRef is a Gateway API parentRef exactly as the route wrote it (nil:
// not written).
type ParentRef struct {
	Group       *string `json:"group,omitempty"`
	Kind        *string `json:"kind,omitempty"`
	Namespace   *string `json:"namespace,omitempty"`
	Name        string  `json:"name"`
	SectionName *string `json:"sectionName,omitempty"`
	Port        *int32  `json:"port,omitempty"`
}

// Empty reports whether s holds no status at all.
func (s *GatewayAPIStatus) Empty() bool {
	return s == nil || len(s.Classes)+len(s.Gateways)+len(s.Routes) == 0
}
