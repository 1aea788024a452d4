package file

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/meshgate/meshgate/discovery/model"
)

// decodeSpec decodes an Istio spec (JSON) into msg with protojson, refusing
// unknown fields. Before protojson runs, the JSON is walked against the
// message descriptor so that
//   - every unknown field is reported with its full path
//     ("spec.servers[0].port.targetPortt"), not just its name;
//   - durations written the way Istio and its CRD accept them ("1m", "1h30m",
//     Go syntax, which protojson rejects) are rewritten as protojson seconds.
func decodeSpec(ref model.Ref, spec []byte, msg proto.Message) []*model.FieldError {
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return []*model.FieldError{model.Errorf(ref, "spec", "%v", err)}
	}
	return decodeSpecValue(ref, tree, msg)
}

// decodeSpecValue is decodeSpec of the spec decoded as encoding/json
// decodes it into an any (with UseNumber).
func decodeSpecValue(ref model.Ref, tree any, msg proto.Message) []*model.FieldError {
	if _, ok := tree.(map[string]any); !ok {
		return []*model.FieldError{model.Errorf(ref, "spec", "must be an object")}
	}
	w := specWalker{ref: ref}
	tree = w.message(msg.ProtoReflect().Descriptor(), tree, "spec")
	if len(w.errs) > 0 {
		return w.errs
	}
	norm, err := json.Marshal(tree)
	if err != nil {
		return []*model.FieldError{model.Errorf(ref, "spec", "%v", err)}
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(norm, msg); err != nil {
		return []*model.FieldError{model.Errorf(ref, "spec", "%s", protoErrPrefix.ReplaceAllString(err.Error(), ""))}
	}
	return nil
}

// protoErrPrefix is protojson's "proto: (line 1:23): " prefix; the position
// refers to the rewritten JSON, not to the user's file. protojson randomly
// uses non-breaking spaces in its messages.
var protoErrPrefix = regexp.MustCompile(`^proto:[\s\x{00a0}]*(\(line [0-9:]+\):[\s\x{00a0}]*)?`)

type specWalker struct {
	ref  model.Ref
	errs []*model.FieldError
}

// message walks a JSON object against a message descriptor and returns the
// (possibly rewritten) object.
func (w *specWalker) message(md protoreflect.MessageDescriptor, v any, path string) any {
	obj, ok := v.(map[string]any)
	if !ok {
		return v // protojson reports the type mismatch
	}
	fields := md.Fields()
	var buf [16]string // the keys, sorted (reports come in a stable order): on the stack
	keys := buf[:0]
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fd := fields.ByJSONName(k)
		if fd == nil {
			fd = fields.ByTextName(k)
		}
		fp := path + "." + k
		if fd == nil {
			w.errs = append(w.errs, model.Errorf(w.ref, fp, "unknown field %q", k))
			continue
		}
		obj[k] = w.field(fd, obj[k], fp)
	}
	return obj
}

func (w *specWalker) field(fd protoreflect.FieldDescriptor, v any, path string) any {
	switch {
	case fd.IsList():
		if list, ok := v.([]any); ok {
			for i := range list {
				list[i] = w.value(fd, list[i], fmt.Sprintf("%s[%d]", path, i))
			}
		}
		return v
	case fd.IsMap():
		if m, ok := v.(map[string]any); ok {
			for k := range m {
				m[k] = w.value(fd.MapValue(), m[k], path+"["+k+"]")
			}
		}
		return v
	}
	return w.value(fd, v, path)
}

func (w *specWalker) value(fd protoreflect.FieldDescriptor, v any, path string) any {
	if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
		return v
	}
	md := fd.Message()
	switch name := md.FullName(); {
	case name == "google.protobuf.Duration":
		s, ok := v.(string)
		if !ok {
			return v
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			w.errs = append(w.errs, model.Errorf(w.ref, path, "invalid duration %q (want e.g. \"5s\", \"1m\", \"100ms\")", s))
			return v
		}
		return protoDuration(d)
	case strings.HasPrefix(string(name), "google.protobuf."):
		return v // wrappers, Struct, Value, Any: no fields of ours inside
	}
	return w.message(md, v, path)
}

// protoDuration formats d the way protojson reads durations: seconds with an
// optional fraction, then "s".
func protoDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	s := sign + strconv.FormatInt(int64(d/time.Second), 10)
	if ns := int64(d % time.Second); ns != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%09d", ns), "0")
	}
	return s + "s"
}
