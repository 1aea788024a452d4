package file

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwscheme "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/scheme"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
)

// gatewayAPI decodes a Gateway API object (gateway.networking.k8s.io) of any
// served version into the v1 type: the older versions of every kind meshgate
// reads have the same fields. Kinds meshgate does not convert (UDPRoute,
// ListenerSet, BackendTLSPolicy) are ignored, with the reason.
func (d *docDecoder) gatewayAPI(loc location, ref model.Ref, env envelope, version string, js []byte) {
	gvk := schema.GroupVersionKind{Group: convert.GatewayAPIGroup, Version: version, Kind: env.Kind}
	if !gwscheme.Scheme.Recognizes(gvk) {
		d.otherKind(loc, env)
		return
	}
	switch env.Kind {
	case "GatewayClass":
		var o gwv1.GatewayClass
		ref.Kind, ref.Namespace = convert.KindGatewayClass, ""
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.GatewayAPI.Classes = append(in.GatewayAPI.Classes, &o) })
		}
	case "Gateway":
		var o gwv1.Gateway
		ref.Kind = convert.KindK8sGateway
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.GatewayAPI.Gateways = append(in.GatewayAPI.Gateways, &o) })
		}
	case "HTTPRoute":
		var o gwv1.HTTPRoute
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.GatewayAPI.HTTPRoutes = append(in.GatewayAPI.HTTPRoutes, &o) })
		}
	case "GRPCRoute":
		var o gwv1.GRPCRoute
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.GatewayAPI.GRPCRoutes = append(in.GatewayAPI.GRPCRoutes, &o) })
		}
	case "TLSRoute":
		var o gwv1.TLSRoute
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.GatewayAPI.TLSRoutes = append(in.GatewayAPI.TLSRoutes, &o) })
		}
	case "TCPRoute":
		var o gwv1.TCPRoute
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.GatewayAPI.TCPRoutes = append(in.GatewayAPI.TCPRoutes, &o) })
		}
	case "ReferenceGrant":
		var o gwv1.ReferenceGrant
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.GatewayAPI.Grants = append(in.GatewayAPI.Grants, &o) })
		}
	default:
		d.ignore(loc, env.APIVersion, env.Kind, env.Metadata.Namespace, env.Metadata.Name, "Gateway API kind not converted by meshgate")
	}
}
