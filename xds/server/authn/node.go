package authn

import (
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshgate/meshgate/xds/translate"
)

// Node metadata keys that carry identity (Istio's names, as read by
// xds/server.ParseNode; to move to the node-identity package).
const (
	metaNamespace      = "NAMESPACE"
	metaServiceAccount = "SERVICE_ACCOUNT"
)

// CheckNode compares what an xDS node claims with the proven caller: the
// node id's namespace (type~ip~pod.ns~<ns>.svc.domain), metadata NAMESPACE
// and SERVICE_ACCOUNT must each be absent or equal to the caller's. The
// error names every mismatch. A node id that does not parse is left to the
// xDS server, which refuses it with InvalidArgument.
func CheckNode(c Caller, n *corev3.Node) error {
	var errs []error
	if p, err := translate.ParseNodeID(n.GetId()); err == nil && p.Namespace != c.Namespace {
		errs = append(errs, fmt.Errorf("node id %q names namespace %q", n.GetId(), p.Namespace))
	}
	md := n.GetMetadata().GetFields()
	for _, k := range []struct{ key, want string }{{metaNamespace, c.Namespace}, {metaServiceAccount, c.ServiceAccount}} {
		v, ok := md[k.key]
		if !ok {
			continue
		}
		s, isStr := v.GetKind().(*structpb.Value_StringValue)
		switch {
		case !isStr:
			errs = append(errs, fmt.Errorf("metadata %s is not a string", k.key))
		case s.StringValue != "" && s.StringValue != k.want:
			errs = append(errs, fmt.Errorf("metadata %s is %q", k.key, s.StringValue))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("node claims another identity than the caller %s: %w", c, errors.Join(errs...))
	}
	return nil
}

// BindNode sets the node's NAMESPACE and SERVICE_ACCOUNT metadata to the
// caller's, so that the xDS server builds configuration and the SDS
// "default" secret for the proven identity only. Call it after CheckNode.
func BindNode(c Caller, n *corev3.Node) {
	if n.Metadata == nil {
		n.Metadata = &structpb.Struct{}
	}
	if n.Metadata.Fields == nil {
		n.Metadata.Fields = map[string]*structpb.Value{}
	}
	n.Metadata.Fields[metaNamespace] = structpb.NewStringValue(c.Namespace)
	n.Metadata.Fields[metaServiceAccount] = structpb.NewStringValue(c.ServiceAccount)
}
