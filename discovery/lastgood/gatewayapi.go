package lastgood

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
)

// gatewayAPIItems lists the Gateway API objects of in (see items).
func gatewayAPIItems(g *convert.GatewayAPIInputs, add func(model.Kind, *metav1.ObjectMeta, any)) {
	for _, o := range g.Classes {
		if o != nil {
			add(convert.KindGatewayClass, &o.ObjectMeta, o)
		}
	}
	for _, o := range g.Gateways {
		if o != nil {
			add(convert.KindK8sGateway, &o.ObjectMeta, o)
		}
	}
	for _, o := range g.HTTPRoutes {
		if o != nil {
			add(convert.KindHTTPRoute, &o.ObjectMeta, o)
		}
	}
	for _, o := range g.GRPCRoutes {
		if o != nil {
			add(convert.KindGRPCRoute, &o.ObjectMeta, o)
		}
	}
	for _, o := range g.TLSRoutes {
		if o != nil {
			add(convert.KindTLSRoute, &o.ObjectMeta, o)
		}
	}
	for _, o := range g.TCPRoutes {
		if o != nil {
			add(convert.KindTCPRoute, &o.ObjectMeta, o)
		}
	}
	for _, o := range g.Grants {
		if o != nil {
			add(convert.KindReferenceGrant, &o.ObjectMeta, o)
		}
	}
}

// addGatewayAPI puts a Gateway API object back into in (see inputs); false
// if o is not one.
func addGatewayAPI(in *convert.Inputs, o any) bool {
	g := &in.GatewayAPI
	switch o := o.(type) {
	case *gwv1.GatewayClass:
		g.Classes = append(g.Classes, o)
	case *gwv1.Gateway:
		g.Gateways = append(g.Gateways, o)
	case *gwv1.HTTPRoute:
		g.HTTPRoutes = append(g.HTTPRoutes, o)
	case *gwv1.GRPCRoute:
		g.GRPCRoutes = append(g.GRPCRoutes, o)
	case *gwv1.TLSRoute:
		g.TLSRoutes = append(g.TLSRoutes, o)
	case *gwv1.TCPRoute:
		g.TCPRoutes = append(g.TCPRoutes, o)
	case *gwv1.ReferenceGrant:
		g.Grants = append(g.Grants, o)
	default:
		return false
	}
	return true
}
