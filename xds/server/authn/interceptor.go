package authn

import (
	"context"
	"sync/atomic"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// UnaryInterceptor authenticates every unary call (the CA service) and
// puts the Caller in its context; an unproven caller gets Unauthenticated.
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c, err := a.Authenticate(ctx)
		if err != nil {
			return nil, unauthenticated(err)
		}
		return handler(WithCaller(ctx, c), req)
	}
}

// StreamInterceptor authenticates every stream (ADS) and puts the Caller in
// its context. On xDS streams it also checks every node the client sends
// against the caller (CheckNode: a mismatch ends the stream with
// PermissionDenied, counted and logged) and binds the node's NAMESPACE and
// SERVICE_ACCOUNT to the caller's (BindNode), so the xDS server sees only
// the proven identity.
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		c, err := a.Authenticate(ss.Context())
		if err != nil {
			return unauthenticated(err)
		}
		bs := &boundStream{ServerStream: ss, ctx: WithCaller(ss.Context(), c), a: a, c: c}
		err = handler(srv, bs)
		// go-control-plane ends a stream whose receive failed without
		// returning that error: the refusal must reach the client.
		if refused := bs.refused.Load(); refused != nil {
			return *refused
		}
		return err
	}
}

func unauthenticated(err error) error {
	return status.Error(codes.Unauthenticated, err.Error())
}

type boundStream struct {
	grpc.ServerStream
	ctx     context.Context
	a       *Authenticator
	c       Caller
	refused atomic.Pointer[error] // the node refusal that ended the stream
}

func (s *boundStream) Context() context.Context { return s.ctx }

func (s *boundStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	var n *corev3.Node
	switch r := m.(type) {
	case *discoveryv3.DiscoveryRequest:
		n = r.GetNode()
	case *discoveryv3.DeltaDiscoveryRequest:
		n = r.GetNode()
	}
	if n == nil {
		return nil
	}
	if err := s.a.bindNode(s.ctx, s.c, n); err != nil {
		s.refused.Store(&err)
		return err
	}
	return nil
}

// bindNode is CheckNode and BindNode with the metric and log line of a refusal.
func (a *Authenticator) bindNode(ctx context.Context, c Caller, n *corev3.Node) error {
	if err := CheckNode(c, n); err != nil {
		e := &Error{Reason: ReasonNodeMismatch, Err: err}
		a.m.authn.WithLabelValues(string(c.Method), "refused", e.Reason).Inc()
		a.log.Warn("refusing xDS node that claims another identity", "peer", peerAddr(ctx), "caller", c.String(), "node", n.GetId(), "err", err)
		return status.Error(codes.PermissionDenied, e.Error())
	}
	BindNode(c, n)
	return nil
}
