package dataplane

import (
	udpaannotations "github.com/cncf/xds/go/udpa/annotations"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

const redacted = "[redacted]"

// redact replaces, in place, every field annotated (udpa.annotations.sensitive)
// — Envoy's marker for private keys, passwords, session ticket keys, … —
// and everything inside it with "[redacted]", as Envoy's admin does. Any
// values are unpacked, redacted and repacked; an Any of an unknown type is
// dropped, since its content cannot be checked.
func redact(m protoreflect.Message) {
	type field struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var fields []field
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fields = append(fields, field{fd, v})
		return true
	})
	for _, f := range fields {
		switch {
		case isSensitive(f.fd):
			redactField(m, f.fd, f.v)
		case f.fd.IsMap():
			if f.fd.MapValue().Message() != nil {
				f.v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					redactMessage(mv.Message())
					return true
				})
			}
		case f.fd.IsList():
			if f.fd.Message() != nil {
				l := f.v.List()
				for i := 0; i < l.Len(); i++ {
					redactMessage(l.Get(i).Message())
				}
			}
		case f.fd.Message() != nil:
			if f.fd.Message().FullName() == "google.protobuf.Any" {
				if na := redactAny(f.v.Message().Interface().(*anypb.Any)); na != nil {
					m.Set(f.fd, protoreflect.ValueOfMessage(na.ProtoReflect()))
				} else {
					m.Clear(f.fd)
				}
				continue
			}
			redact(f.v.Message())
		}
	}
}

// redactMessage redacts m, which may be an Any held in a list or map.
func redactMessage(m protoreflect.Message) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		if na := redactAny(a); na != nil {
			a.TypeUrl, a.Value = na.TypeUrl, na.Value
		} else {
			a.TypeUrl, a.Value = "", nil
		}
		return
	}
	redact(m)
}

func redactAny(a *anypb.Any) *anypb.Any {
	inner, err := a.UnmarshalNew()
	if err != nil {
		return nil
	}
	redact(inner.ProtoReflect())
	na, err := anypb.New(inner)
	if err != nil {
		return nil
	}
	return na
}

func isSensitive(fd protoreflect.FieldDescriptor) bool {
	opts := fd.Options()
	if opts == nil || !proto.HasExtension(opts, udpaannotations.E_Sensitive) {
		return false
	}
	s, _ := proto.GetExtension(opts, udpaannotations.E_Sensitive).(bool)
	return s
}

// redactField replaces a sensitive field's value: strings and bytes become
// "[redacted]", messages are redacted leaf by leaf, other scalars cleared.
func redactField(m protoreflect.Message, fd protoreflect.FieldDescriptor, v protoreflect.Value) {
	if fd.IsList() {
		l := v.List()
		for i := 0; i < l.Len(); i++ {
			if fd.Message() != nil {
				redactAll(l.Get(i).Message())
			} else if nv, ok := redactedScalar(fd); ok {
				l.Set(i, nv)
			}
		}
		return
	}
	if fd.IsMap() {
		m.Clear(fd)
		return
	}
	if fd.Message() != nil {
		if fd.Message().FullName() == "google.protobuf.Any" {
			m.Clear(fd)
			return
		}
		redactAll(v.Message())
		return
	}
	if nv, ok := redactedScalar(fd); ok {
		m.Set(fd, nv)
	} else {
		m.Clear(fd)
	}
}

func redactedScalar(fd protoreflect.FieldDescriptor) (protoreflect.Value, bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(redacted), true
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(redacted)), true
	}
	return protoreflect.Value{}, false
}

// redactAll redacts every populated field of m. A DataSource becomes
// inline_string "[redacted]", readable in JSON (bytes would show as base64).
func redactAll(m protoreflect.Message) {
	if ds, ok := m.Interface().(*corev3.DataSource); ok {
		ds.Specifier = &corev3.DataSource_InlineString{InlineString: redacted}
		ds.WatchedDirectory = nil
		return
	}
	var fds []protoreflect.FieldDescriptor
	var vs []protoreflect.Value
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fds = append(fds, fd)
		vs = append(vs, v)
		return true
	})
	for i, fd := range fds {
		redactField(m, fd, vs[i])
	}
}
