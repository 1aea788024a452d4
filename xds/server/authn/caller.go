package authn

import (
	"context"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Method is how a caller proved its identity.
type Method string

const (
	// MethodX509SVID: a client certificate chaining to the mesh trust bundle.
	MethodX509SVID Method = "x509-svid"
	// MethodKubeToken: a Kubernetes service-account token, verified with the
	// TokenReview API.
	MethodKubeToken Method = "kube-token"
)

// Caller is a proven identity: a Kubernetes service account in a trust
// domain. It never holds the credential itself.
type Caller struct {
	TrustDomain    spiffeid.TrustDomain
	Namespace      string
	ServiceAccount string
	Method         Method
	// Pod is the pod a bound token was issued for ("" otherwise).
	Pod string
	// ExpiresAt is when the credential stops being valid (zero: unknown).
	ExpiresAt time.Time
}

// ID is the caller's SPIFFE ID, spiffe://<td>/ns/<ns>/sa/<sa>.
func (c Caller) ID() (spiffeid.ID, error) {
	return spiffeid.FromSegments(c.TrustDomain, "ns", c.Namespace, "sa", c.ServiceAccount)
}

// String names the caller for errors and logs: its SPIFFE ID and method.
func (c Caller) String() string {
	return "spiffe://" + c.TrustDomain.Name() + "/ns/" + c.Namespace + "/sa/" + c.ServiceAccount + " (" + string(c.Method) + ")"
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the interceptors put in ctx; ok is false on
// an unauthenticated (plaintext) connection.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
