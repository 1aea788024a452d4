package file

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// decodeTree sets *into (a Kubernetes API struct) from a document parsed by
// the fast YAML path, as strictjson.UnmarshalStrict would set it from the
// document's JSON, without writing and re-reading that JSON. It returns
// false, leaving *into in any state, for anything it does not do exactly
// as the JSON decoder would (an unknown or duplicate field, a value of
// another type, a float, base64 bytes, an interface): the caller then
// decodes the JSON, which also reports what is wrong.
// Its strings come from strs (nil: each its own copy).
func decodeTree(n *ynode, into any, strs *strCache) bool {
	v := reflect.ValueOf(into)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	return strs.setValue(n, v.Elem())
}

// strCache shares the strings that a load repeats thousands of times
// (namespaces, label keys and values, images, "TCP", "True"): a fixed
// table indexed by a hash of the bytes, an entry replaced when another
// string lands on it. A repeated string is allocated once per worker (and
// kept once), a unique one (a name, an address) passes through.
type strCache struct {
	seed  maphash.Seed
	slots [2048]string
	// unmarshalers is isUnmarshaler's answer per type, for this worker
	// (the shared sync.Map was a tenth of decodeTree's time)
	unmarshalers map[reflect.Type]bool
}

func newStrCache() *strCache {
	return &strCache{seed: maphash.MakeSeed(), unmarshalers: map[reflect.Type]bool{}}
}

// isUnmarshaler is the package's isUnmarshaler, remembered per worker.
func (c *strCache) isUnmarshaler(t reflect.Type) bool {
	if c == nil {
		return isUnmarshaler(t)
	}
	u, ok := c.unmarshalers[t]
	if !ok {
		u = isUnmarshaler(t)
		c.unmarshalers[t] = u
	}
	return u
}

// str is string(b), from the cache when it holds it.
func (c *strCache) str(b []byte) string {
	if c == nil || len(b) > 96 {
		return string(b)
	}
	s := &c.slots[maphash.Bytes(c.seed, b)%uint64(len(c.slots))]
	if *s != string(b) {
		*s = string(b)
	}
	return *s
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	stringMapType   = reflect.TypeFor[map[string]string]()
)

func isNull(n *ynode) bool { return n.kind == yScalar && !n.str && bytes.Equal(n.raw, jsNull) }

// unmarshalers caches, per type, whether its pointer implements
// json.Unmarshaler (reflect's Implements is slow, and asked per value).
var unmarshalers sync.Map // reflect.Type → bool

func isUnmarshaler(t reflect.Type) bool {
	if u, ok := unmarshalers.Load(t); ok {
		return u.(bool)
	}
	u := reflect.PointerTo(t).Implements(unmarshalerType)
	unmarshalers.Store(t, u)
	return u
}

func (c *strCache) setValue(n *ynode, v reflect.Value) bool {
	if v.CanAddr() && c.isUnmarshaler(v.Type()) {
		if isNull(n) && v.Kind() == reflect.Pointer {
			v.SetZero()
			return true
		}
		js, ok := n.appendJSON(nil)
		return ok && v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(js) == nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return true
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return c.setValue(n, v.Elem())
	case reflect.String:
		if isNull(n) {
			return true // JSON null leaves a value as it is
		}
		if n.kind != yScalar || !n.str {
			return false
		}
		v.SetString(c.str(n.raw))
		return true
	case reflect.Bool:
		if n.kind != yScalar || n.str {
			return false
		}
		switch {
		case bytes.Equal(n.raw, jsTrue):
			v.SetBool(true)
		case bytes.Equal(n.raw, jsFalse):
			v.SetBool(false)
		default:
			return isNull(n)
		}
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.kind != yScalar || n.str {
			return false
		}
		if isNull(n) {
			return true
		}
		i, err := strconv.ParseInt(string(n.raw), 10, v.Type().Bits())
		if err != nil {
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.kind != yScalar || n.str {
			return false
		}
		if isNull(n) {
			return true
		}
		u, err := strconv.ParseUint(string(n.raw), 10, v.Type().Bits())
		if err != nil {
			return false
		}
		v.SetUint(u)
		return true
	case reflect.Slice:
		if isNull(n) {
			v.SetZero()
			return true
		}
		if n.kind != ySeq || v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		var s reflect.Value
		if !v.IsNil() && v.Len() == 0 && v.Cap() >= len(n.values) {
			// a scratch object's room (yscratch.pod; a new object's
			// slices are nil): the same values as in a new slice
			s = v.Slice(0, len(n.values))
			for i := range n.values {
				s.Index(i).SetZero()
			}
		} else {
			s = reflect.MakeSlice(v.Type(), len(n.values), len(n.values))
		}
		for i := range n.values {
			if !c.setValue(&n.values[i], s.Index(i)) {
				return false
			}
		}
		v.Set(s)
		return true
	case reflect.Map:
		if isNull(n) {
			v.SetZero()
			return true
		}
		if n.kind != yMap || v.Type().Key().Kind() != reflect.String || hasDuplicateKeys(n) {
			return false
		}
		if v.Type() == stringMapType && v.IsNil() { // labels, selectors, annotations: no reflection per entry
			m := make(map[string]string, len(n.values))
			for i := range n.values {
				e, k := &n.values[i], n.values[i].key
				switch {
				case e.kind == yScalar && e.str:
					m[c.str(k)] = c.str(e.raw)
				case isNull(e):
					m[c.str(k)] = ""
				default:
					return false
				}
			}
			v.Set(reflect.ValueOf(m))
			return true
		}
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(v.Type(), len(n.values)))
		}
		et := v.Type().Elem()
		for i := range n.values {
			k := n.values[i].key
			e := reflect.New(et).Elem()
			if !c.setValue(&n.values[i], e) {
				return false
			}
			v.SetMapIndex(reflect.ValueOf(string(k)).Convert(v.Type().Key()), e)
		}
		return true
	case reflect.Struct:
		if isNull(n) {
			return true
		}
		if n.kind != yMap || hasDuplicateKeys(n) {
			return false
		}
		fields := fieldsOf(v.Type())
		for i := range n.values {
			path, ok := fields[string(n.values[i].key)]
			if !ok {
				return false // unknown (or case-mismatched) field
			}
			f, ok := fieldByPath(v, path)
			if !ok || !c.setValue(&n.values[i], f) {
				return false
			}
		}
		return true
	}
	return false // floats, interfaces, ...
}

func hasDuplicateKeys(n *ynode) bool {
	for i := range n.values {
		for j := i + 1; j < len(n.values); j++ {
			if bytes.Equal(n.values[i].key, n.values[j].key) {
				return true
			}
		}
	}
	return false
}

// fieldByPath is v.FieldByIndex, allocating embedded pointers on the way
// (false for an unexported embedded pointer).
func fieldByPath(v reflect.Value, path []int) (reflect.Value, bool) {
	for i, x := range path {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, v.CanSet()
}

var fieldCache sync.Map // reflect.Type → map[string][]int

// fieldsOf maps the JSON names of a struct's fields (embedded structs
// without a name promoted, as encoding/json does) to their index paths. A
// field with the ",string" option is left out: the JSON decoder takes it.
func fieldsOf(t reflect.Type) map[string][]int {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string][]int)
	}
	m := map[string][]int{}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			path := append(append([]int(nil), prefix...), i)
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				walk(ft, path)
				continue
			}
			if !f.IsExported() || strings.Contains(","+opts+",", ",string,") {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, dup := m[name]; !dup {
				m[name] = path
			}
		}
	}
	walk(t, nil)
	fieldCache.Store(t, m)
	return m
}

// anyValue is what encoding/json (with UseNumber) decodes the JSON of n
// into: maps, slices, strings, json.Numbers, bools and nil.
func (n *ynode) anyValue() any {
	switch n.kind {
	case yMap:
		m := make(map[string]any, len(n.values))
		for i := range n.values {
			m[string(n.values[i].key)] = n.values[i].anyValue()
		}
		return m
	case ySeq:
		l := make([]any, len(n.values))
		for i := range n.values {
			l[i] = n.values[i].anyValue()
		}
		return l
	}
	switch {
	case n.str:
		return string(n.raw)
	case bytes.Equal(n.raw, jsNull):
		return nil
	case bytes.Equal(n.raw, jsTrue):
		return true
	case bytes.Equal(n.raw, jsFalse):
		return false
	}
	return json.Number(n.raw)
}
