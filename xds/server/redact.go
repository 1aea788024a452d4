package server

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Redacted replaces secret material in debug output.
const Redacted = "[redacted]"

// Redact returns a copy of m in which private keys, key passwords, session
// ticket keys and generic secrets held inline are replaced by Redacted,
// wherever they sit (also inside Any-packed transport sockets). File and
// environment-variable references are kept: they are not secret.
func Redact(m proto.Message) proto.Message {
	c := proto.Clone(m)
	redactMessage(c.ProtoReflect())
	return c
}

func redactMessage(m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *anypb.Any:
		inner, err := v.UnmarshalNew()
		if err != nil {
			// Unknown type: its bytes may hold anything, drop them.
			v.Value = nil
			return
		}
		redactMessage(inner.ProtoReflect())
		_ = anypb.MarshalFrom(v, inner, proto.MarshalOptions{Deterministic: true})
		return
	case *tlsv3.TlsCertificate:
		v.PrivateKey = redactSource(v.PrivateKey)
		v.Password = redactSource(v.Password)
		v.PrivateKeyProvider = nil
	case *tlsv3.GenericSecret:
		v.Secret = redactSource(v.Secret)
		for k, ds := range v.Secrets {
			v.Secrets[k] = redactSource(ds)
		}
	case *tlsv3.TlsSessionTicketKeys:
		for i, ds := range v.Keys {
			v.Keys[i] = redactSource(ds)
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := val.List()
			for i := 0; i < l.Len(); i++ {
				redactMessage(l.Get(i).Message())
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			val.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				redactMessage(mv.Message())
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			redactMessage(val.Message())
		}
		return true
	})
}

func redactSource(ds *corev3.DataSource) *corev3.DataSource {
	switch ds.GetSpecifier().(type) {
	case nil, *corev3.DataSource_Filename, *corev3.DataSource_EnvironmentVariable:
		return ds
	}
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: Redacted}}
}
