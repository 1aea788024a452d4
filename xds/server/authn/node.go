package authn

import (
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshgate/meshgate/xds/node"
)

// CheckNode compares what an xDS node claims with the proven caller: the
// node id's namespace (type~ip~pod.ns~<ns>.svc.domain), metadata NAMESPACE
// and SERVICE_ACCOUNT must each be absent or equal to the caller's. The
// error names every mismatch. A node id or metadata that does not parse
// (xds/node) is left to the xDS server, which refuses it with InvalidArgument.
func CheckNode(c Caller, n *corev3.Node) error {
	var errs []error
	if id, err := node.ParseID(n.GetId()); err == nil && id.Namespace != c.Namespace {
		errs = append(errs, fmt.Errorf("node id %q names namespace %q", n.GetId(), id.Namespace))
	}
	// Metadata that does not parse is refused by the server; BindNode
	// overwrites the identity keys either way.
	if md, err := node.ParseMetadata(n.GetMetadata()); err == nil {
		for _, k := range []struct{ key, got, want string }{
			{node.MetaNamespace, md.Namespace, c.Namespace},
			{node.MetaServiceAccount, md.ServiceAccount, c.ServiceAccount},
		} {
			if k.got != "" && k.got != k.want {
				errs = append(errs, fmt.Errorf("metadata %s is %q", k.key, k.got))
			}
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
	n.Metadata.Fields[node.MetaNamespace] = structpb.NewStringValue(c.Namespace)
	n.Metadata.Fields[node.MetaServiceAccount] = structpb.NewStringValue(c.ServiceAccount)
}
