package adstest

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Refs are the names a set of listeners and clusters makes Envoy ask for.
type Refs struct {
	Routes    map[string]bool // RDS route_config_name
	Endpoints map[string]bool // EDS clusters (service_name, else name)
	Secrets   map[string]bool // SDS secret names
}

// References walks listeners and clusters, including Any-packed filter and
// transport-socket configs, for the resources they reference.
func References(listeners, clusters []proto.Message) Refs {
	r := Refs{Routes: map[string]bool{}, Endpoints: map[string]bool{}, Secrets: map[string]bool{}}
	for _, m := range listeners {
		r.walk(m.ProtoReflect())
	}
	for _, m := range clusters {
		if c, ok := m.(*clusterv3.Cluster); ok && c.GetType() == clusterv3.Cluster_EDS {
			name := c.GetEdsClusterConfig().GetServiceName()
			if name == "" {
				name = c.GetName()
			}
			r.Endpoints[name] = true
		}
		r.walk(m.ProtoReflect())
	}
	return r
}

func (r Refs) walk(m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *anypb.Any:
		if inner, err := v.UnmarshalNew(); err == nil {
			r.walk(inner.ProtoReflect())
		}
		return
	case *hcmv3.Rds:
		r.Routes[v.GetRouteConfigName()] = true
	case *tlsv3.SdsSecretConfig:
		r.Secrets[v.GetName()] = true
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < val.List().Len(); i++ {
				r.walk(val.List().Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			val.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				r.walk(mv.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			r.walk(val.Message())
		}
		return true
	})
}

func resourceName(m proto.Message) string {
	if r, ok := m.(types.Resource); ok {
		return cache.GetResourceName(r)
	}
	return ""
}
