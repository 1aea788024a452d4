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
	return unmarshalSpec(ref, norm, msg)
}

// unmarshalSpec decodes the walked spec's JSON into msg.
func unmarshalSpec(ref model.Ref, norm []byte, msg proto.Message) []*model.FieldError {
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(norm, msg); err != nil {
		return []*model.FieldError{model.Errorf(ref, "spec", "%s", protoErrPrefix.ReplaceAllString(err.Error(), ""))}
	}
	return nil
}

// decodeSpecTree is decodeSpecValue of the spec n (nil: none) read by the
// fast YAML path. The JSON protojson reads is written straight from the
// tree, as json.Marshal would write the walked value of n.anyValue(),
// unless the walker has something to report (an unknown field, a bad
// duration) or n is no mapping: then it takes decodeSpecValue, which says
// what.
func decodeSpecTree(ref model.Ref, n *ynode, msg proto.Message) []*model.FieldError {
	if n == nil || isNull(n) {
		return unmarshalSpec(ref, []byte("{}"), msg)
	}
	if n.kind != yMap { // the walker says it must be an object
		return decodeSpecValue(ref, n.anyValue(), msg)
	}
	if norm, ok := appendSpecMessage(nil, msg.ProtoReflect().Descriptor(), n); ok {
		return unmarshalSpec(ref, norm, msg)
	}
	return decodeSpecValue(ref, n.anyValue(), msg)
}

// appendSpecMessage writes what specWalker.message and json.Marshal make of
// n: its keys sorted, durations rewritten for protojson. ok is false where
// the walker reports a problem.
func appendSpecMessage(out []byte, md protoreflect.MessageDescriptor, n *ynode) ([]byte, bool) {
	if n.kind != yMap {
		return n.appendJSON(out) // left as it is: protojson reports the type
	}
	var buf [16]int // the values' order, sorted by key
	order := buf[:0]
	for i := range n.values {
		order = append(order, i)
	}
	if !slices.IsSortedFunc(order, func(a, b int) int { return bytes.Compare(n.values[a].key, n.values[b].key) }) {
		slices.SortFunc(order, func(a, b int) int { return bytes.Compare(n.values[a].key, n.values[b].key) })
	}
	fields := md.Fields()
	out = append(out, '{')
	for j, i := range order {
		v := &n.values[i]
		fd := fields.ByJSONName(string(v.key))
		if fd == nil {
			fd = fields.ByTextName(string(v.key))
		}
		if fd == nil {
			return nil, false // unknown: the walker names it
		}
		if j > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, v.key)
		out = append(out, ':')
		var ok bool
		switch {
		case fd.IsList() && v.kind == ySeq:
			out = append(out, '[')
			for k := range v.values {
				if k > 0 {
					out = append(out, ',')
				}
				if out, ok = appendSpecValue(out, fd, &v.values[k]); !ok {
					return nil, false
				}
			}
			out = append(out, ']')
		case fd.IsMap() && v.kind == yMap:
			mv := fd.MapValue()
			out, ok = appendSpecEntries(out, v, func(out []byte, e *ynode) ([]byte, bool) { return appendSpecValue(out, mv, e) })
		case fd.IsList() || fd.IsMap():
			out, ok = v.appendJSON(out) // protojson reports the type
		default:
			out, ok = appendSpecValue(out, fd, v)
		}
		if !ok {
			return nil, false
		}
	}
	return append(out, '}'), true
}

// appendSpecEntries writes a mapping of arbitrary keys, sorted, each value
// with value.
func appendSpecEntries(out []byte, n *ynode, value func([]byte, *ynode) ([]byte, bool)) ([]byte, bool) {
	order := make([]int, len(n.values))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(n.values[a].key, n.values[b].key) })
	out = append(out, '{')
	for j, i := range order {
		if j > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, n.values[i].key)
		out = append(out, ':')
		var ok bool
		if out, ok = value(out, &n.values[i]); !ok {
			return nil, false
		}
	}
	return append(out, '}'), true
}

// appendSpecValue is specWalker.value's result for n, written.
func appendSpecValue(out []byte, fd protoreflect.FieldDescriptor, n *ynode) ([]byte, bool) {
	if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
		return n.appendJSON(out)
	}
	md := fd.Message()
	switch name := md.FullName(); {
	case name == "google.protobuf.Duration":
		if n.kind != yScalar || !n.str {
			return n.appendJSON(out)
		}
		d, err := time.ParseDuration(string(n.raw))
		if err != nil {
			return nil, false // the walker reports it
		}
		return appendJSONString(out, []byte(protoDuration(d))), true
	case strings.HasPrefix(string(name), "google.protobuf."):
		return n.appendJSON(out)
	}
	return appendSpecMessage(out, md, n)
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
