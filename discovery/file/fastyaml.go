package file

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// fastYAMLToJSON converts one YAML document written in the common subset of
// Kubernetes manifests to the JSON that yaml.YAMLToJSONStrict gives (keys
// sorted, as encoding/json writes maps), an order of magnitude faster and
// with a fraction of the allocations. The subset: a block mapping at the
// top; block mappings and sequences; flow mappings and sequences closed on
// their line; single-line plain, single- and double-quoted (without
// escapes) scalars; comments. Plain scalars become null, true/false,
// decimal integers, or strings only where YAML 1.1 (go-yaml v2) resolves
// them so without doubt.
//
// ok is false for anything else (anchors, tags, block or multi-line
// scalars, floats, yes/no/on/off, octal, timestamps, duplicate keys, tabs,
// syntax errors, ...): the caller then takes the full parser, which also
// says what is wrong and where. So the fast path never changes a result,
// it only skips work.
func fastYAMLToJSON(doc []byte) (js []byte, env *envelope, ok bool) {
	root, ok := fastYAML(doc)
	if !ok {
		return nil, nil, false
	}
	js, ok = root.appendJSON(make([]byte, 0, len(doc)))
	return js, root.envelope(nil), ok
}

// fastYAML parses doc (see fastYAMLToJSON) into a tree whose bytes point
// into doc.
func fastYAML(doc []byte) (*ynode, bool) { return (*yscratch)(nil).parse(doc) }

// yscratch is a decoding worker's parse buffers (its lines and tree nodes),
// reused from one document to the next when no tree outlives its document
// (a load without a document cache): most of what parsing allocated.
type yscratch struct {
	lines []yline
	slab  []ynode
	root  ynode
	// a Pod to decode into (only its convert.PodInfo is kept)
	// and the room of its containers, reused
	scratchPod corev1.Pod
	containers []corev1.Container
}

// pod returns the scratch Pod, zero but for the room of its containers
// (a new Pod without a scratch).
func (s *yscratch) pod() *corev1.Pod {
	if s == nil {
		return &corev1.Pod{}
	}
	s.scratchPod = corev1.Pod{Spec: corev1.PodSpec{Containers: s.containers[:0]}}
	return &s.scratchPod
}

// keepRoom keeps the room of p's containers for the next pod.
func (s *yscratch) keepRoom(p *corev1.Pod) {
	if s != nil && cap(p.Spec.Containers) > cap(s.containers) {
		s.containers = p.Spec.Containers[:0]
	}
}

// parse is fastYAML; with s non-nil, the tree is valid only until the next
// parse.
func (s *yscratch) parse(doc []byte) (*ynode, bool) {
	for i, c := range doc { // tabs, control characters, lone CRs and non-ASCII: the full parser
		if (c < 0x20 && c != '\n' && c != '\r') || c >= 0x7f || (c == '\r' && (i+1 == len(doc) || doc[i+1] != '\n')) {
			return nil, false
		}
	}
	var lines []yline
	if s != nil {
		lines = s.lines[:0]
	}
	p := yparser{lines: splitLines(lines, doc)}
	if len(p.lines) == 0 || p.lines[0].indent != 0 {
		return nil, false
	}
	// a block node per line at most (a "- key: v" line may start two):
	// the block collections' values are carved from one allocation
	n := len(p.lines) + len(p.lines)/4
	switch {
	case s == nil:
		p.slab = make([]ynode, n)
	case cap(s.slab) >= n:
		// not cleared: every node is written whole before it is read
		p.slab = s.slab[:n]
	default:
		s.slab = make([]ynode, max(n, 2*cap(s.slab)))
		p.slab = s.slab[:n]
	}
	root := p.block(0)
	if s != nil {
		s.lines = p.lines
	}
	if p.bad || p.i != len(p.lines) || root.kind != yMap {
		return nil, false
	}
	if s != nil {
		s.root = root
		return &s.root, true
	}
	return &root, true
}

type yline struct {
	indent int
	text   []byte // without indentation and line end; never empty
}

// splitLines appends doc's lines to lines (reusing its room), dropping
// blank and comment-only lines.
func splitLines(lines []yline, doc []byte) []yline {
	if n := bytes.Count(doc, []byte{'\n'}) + 1; cap(lines) < n {
		lines = make([]yline, 0, max(n, 2*cap(lines)))
	}
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		line = bytes.TrimRight(line, " \r")
		t := bytes.TrimLeft(line, " ")
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		lines = append(lines, yline{indent: len(line) - len(t), text: t})
	}
	return lines
}

const (
	yScalar = iota
	yMap
	ySeq
)

// ynode is a parsed node. Its bytes point into the document.
type ynode struct {
	kind   uint8
	str    bool   // a scalar that is a string
	key    []byte // the key of a mapping's value
	raw    []byte // scalar: the string (str), else its JSON
	values []ynode
}

type yparser struct {
	lines []yline
	i     int
	bad   bool
	slab  []ynode // room for the values of block collections
}

// alloc returns an empty slice with room for c nodes, from the slab while
// it lasts.
func (p *yparser) alloc(c int) []ynode {
	if c > len(p.slab) {
		return make([]ynode, 0, c)
	}
	s := p.slab[:0:c]
	p.slab = p.slab[c:]
	return s
}

func (p *yparser) fail() ynode {
	p.bad = true
	return ynode{kind: yScalar, raw: jsNull}
}

// block parses the block node starting at line p.i, at indentation indent.
func (p *yparser) block(indent int) ynode {
	if p.i >= len(p.lines) || p.lines[p.i].indent != indent {
		return p.fail()
	}
	if isSeqEntry(p.lines[p.i].text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func isSeqEntry(t []byte) bool { return t[0] == '-' && (len(t) == 1 || t[1] == ' ') }

func (p *yparser) mapping(indent int) ynode {
	c := p.entries(indent, false)
	n := ynode{kind: yMap, values: p.alloc(c)}
	for !p.bad && p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent || isSeqEntry(l.text) {
			return p.fail()
		}
		key, rest, ok := splitKey(l.text)
		if !ok {
			return p.fail()
		}
		p.i++
		v := p.value(indent, rest, true)
		v.key = key
		n.values = append(n.values, v)
	}
	if hasDuplicateKeys(&n) {
		return p.fail() // the strict parser reports it
	}
	return n
}

func (p *yparser) sequence(indent int) ynode {
	n := ynode{kind: ySeq, values: p.alloc(p.entries(indent, true))}
	for !p.bad && p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return p.fail()
		}
		if !isSeqEntry(l.text) {
			break // "key:\n- a\nnext:": the sequence sat at its key's indentation
		}
		rest := bytes.TrimLeft(l.text[1:], " ")
		if len(rest) > 0 && rest[0] != '#' && (isSeqEntry(rest) || isMapEntry(rest)) {
			// "- key: value" or "- - x": a block node whose first line
			// starts after the dash
			p.lines[p.i] = yline{indent: indent + len(l.text) - len(rest), text: rest}
			n.values = append(n.values, p.block(p.lines[p.i].indent))
			continue
		}
		p.i++
		n.values = append(n.values, p.value(indent, rest, false))
	}
	return n
}

// entries counts the lines at indent from p.i on that start a mapping entry
// (seq: a sequence entry) of the node there: the capacity it needs.
func (p *yparser) entries(indent int, seq bool) int {
	n := 0
	for _, l := range p.lines[p.i:] {
		if l.indent < indent {
			break
		}
		if l.indent == indent {
			if isSeqEntry(l.text) != seq {
				if !seq {
					continue // "key:\n- a": a sequence at its key's indentation
				}
				break
			}
			n++
		}
	}
	return n
}

// value parses what follows "key:" or "-" (rest, possibly empty) on a line
// of the given indentation, and any block node below it.
func (p *yparser) value(indent int, rest []byte, inMap bool) ynode {
	if len(rest) == 0 || rest[0] == '#' {
		if p.i < len(p.lines) {
			next := p.lines[p.i]
			if next.indent > indent {
				return p.block(next.indent)
			}
			if inMap && next.indent == indent && isSeqEntry(next.text) {
				return p.sequence(indent) // "key:\n- a": a sequence may sit at its key's indentation
			}
		}
		return ynode{kind: yScalar, raw: jsNull}
	}
	if p.i < len(p.lines) && p.lines[p.i].indent > indent {
		return p.fail() // a multi-line scalar, or an error: the full parser decides
	}
	v, tail, ok := flowValue(rest, false)
	if !ok || !blankOrComment(tail) {
		return p.fail()
	}
	return v
}

func blankOrComment(t []byte) bool {
	t = bytes.TrimLeft(t, " ")
	return len(t) == 0 || t[0] == '#'
}

// isMapEntry reports whether t starts with a key followed by ':'.
func isMapEntry(t []byte) bool {
	_, _, ok := splitKey(t)
	return ok
}

// maxKeyLen is the longest key taken (with its quotes): YAML refuses an
// implicit key longer than 1024 characters; the full parser says so.
const maxKeyLen = 1000

// splitKey splits "key: rest" (or "key:") into the key and rest.
func splitKey(t []byte) (key []byte, rest []byte, ok bool) {
	var k ynode
	var tail []byte
	switch t[0] {
	case '"', '\'':
		k, tail, ok = quoted(t)
		if !ok {
			return nil, nil, false
		}
		tail = bytes.TrimLeft(tail, " ")
	default:
		end := -1
		for i := 0; i < len(t); i++ {
			if t[i] == ':' && (i+1 == len(t) || t[i+1] == ' ') {
				end = i
				break
			}
			if t[i] == '#' && i > 0 && t[i-1] == ' ' {
				return nil, nil, false
			}
		}
		if end <= 0 {
			return nil, nil, false
		}
		k, ok = plain(bytes.TrimRight(t[:end], " "))
		tail = t[end:]
	}
	if !ok || !k.str || len(tail) == 0 || tail[0] != ':' || (len(tail) > 1 && tail[1] != ' ') || len(t)-len(tail) > maxKeyLen {
		return nil, nil, false
	}
	return k.raw, bytes.TrimLeft(tail[1:], " "), true
}

// flowValue parses one value at the start of t: a flow mapping or sequence,
// a quoted scalar, or a plain scalar (ending at ", ", "]" or "}" when
// inFlow). It returns the rest of t.
func flowValue(t []byte, inFlow bool) (ynode, []byte, bool) {
	if len(t) == 0 {
		return ynode{}, nil, false
	}
	switch t[0] {
	case '{':
		return flowMapping(t)
	case '[':
		return flowSequence(t)
	case '"', '\'':
		return quoted(t)
	}
	end := len(t)
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c == '#' && i > 0 && t[i-1] == ' ' {
			end = i
			break
		}
		if inFlow && (c == ',' || c == ']' || c == '}' || c == ':' || c == '#' || c == '[' || c == '{') {
			end = i
			break
		}
		if c == ':' && (i+1 == len(t) || t[i+1] == ' ') {
			return ynode{}, nil, false // "a: b" as a value: a nested mapping on one line is an error
		}
	}
	s := bytes.TrimRight(t[:end], " ")
	if len(s) == 0 {
		return ynode{}, nil, false
	}
	n, ok := plain(s)
	return n, t[end:], ok
}

func flowMapping(t []byte) (ynode, []byte, bool) {
	n := ynode{kind: yMap}
	t = bytes.TrimLeft(t[1:], " ")
	if len(t) > 0 && t[0] == '}' {
		return n, t[1:], true
	}
	var buf [8]ynode // the values, copied out once counted
	vals := buf[:0]
	for {
		var k ynode
		var ok bool
		if len(t) > 0 && (t[0] == '"' || t[0] == '\'') {
			k, t, ok = quoted(t)
		} else {
			end := bytes.IndexByte(t, ':')
			if end <= 0 {
				return ynode{}, nil, false
			}
			raw := bytes.TrimRight(t[:end], " ")
			if bytes.ContainsAny(raw, ",[]{}#") {
				return ynode{}, nil, false
			}
			k, ok = plain(raw)
			t = t[end:]
		}
		if !ok || !k.str || len(t) < 2 || t[0] != ':' || t[1] != ' ' || len(k.raw) > maxKeyLen {
			return ynode{}, nil, false
		}
		v, rest, ok := flowValue(bytes.TrimLeft(t[1:], " "), true)
		if !ok {
			return ynode{}, nil, false
		}
		v.key = k.raw
		vals = append(vals, v)
		t = bytes.TrimLeft(rest, " ")
		if len(t) == 0 {
			return ynode{}, nil, false
		}
		switch t[0] {
		case '}':
			n.values = slices.Clone(vals)
			if hasDuplicateKeys(&n) {
				return ynode{}, nil, false
			}
			return n, t[1:], true
		case ',':
			t = bytes.TrimLeft(t[1:], " ")
			if len(t) == 0 || t[0] == '}' || t[0] == ',' {
				return ynode{}, nil, false
			}
		default:
			return ynode{}, nil, false
		}
	}
}

func flowSequence(t []byte) (ynode, []byte, bool) {
	n := ynode{kind: ySeq}
	t = bytes.TrimLeft(t[1:], " ")
	if len(t) > 0 && t[0] == ']' {
		return n, t[1:], true
	}
	var buf [8]ynode // the values, copied out once counted
	vals := buf[:0]
	for {
		v, rest, ok := flowValue(t, true)
		if !ok {
			return ynode{}, nil, false
		}
		vals = append(vals, v)
		t = bytes.TrimLeft(rest, " ")
		if len(t) == 0 {
			return ynode{}, nil, false
		}
		switch t[0] {
		case ']':
			n.values = slices.Clone(vals)
			return n, t[1:], true
		case ',':
			t = bytes.TrimLeft(t[1:], " ")
			if len(t) == 0 || t[0] == ']' || t[0] == ',' {
				return ynode{}, nil, false
			}
		default:
			return ynode{}, nil, false // "[a: b]" and the like
		}
	}
}

// quoted parses a quoted scalar closed on its line; a double-quoted one
// without escapes.
func quoted(t []byte) (ynode, []byte, bool) {
	q := t[0]
	if q == '"' {
		end := bytes.IndexByte(t[1:], '"')
		if end < 0 || bytes.IndexByte(t[1:1+end], '\\') >= 0 {
			return ynode{}, nil, false
		}
		return strNode(t[1 : 1+end]), t[2+end:], true
	}
	for i := 1; i < len(t); i++ {
		if t[i] != '\'' {
			continue
		}
		if i+1 < len(t) && t[i+1] == '\'' { // '' is a quote
			return quotedSlow(t)
		}
		return strNode(t[1:i]), t[i+1:], true
	}
	return ynode{}, nil, false
}

// quotedSlow is a single-quoted scalar with ” inside.
func quotedSlow(t []byte) (ynode, []byte, bool) {
	var sb []byte
	for i := 1; i < len(t); i++ {
		if t[i] != '\'' {
			sb = append(sb, t[i])
			continue
		}
		if i+1 < len(t) && t[i+1] == '\'' {
			sb = append(sb, '\'')
			i++
			continue
		}
		return strNode(sb), t[i+1:], true
	}
	return ynode{}, nil, false
}

var (
	jsNull  = []byte("null")
	jsTrue  = []byte("true")
	jsFalse = []byte("false")
)

// plain resolves a plain scalar as go-yaml v2 would; ok is false where that
// needs the full parser.
func plain(s []byte) (ynode, bool) {
	switch string(s) {
	case "~", "null", "Null", "NULL":
		return ynode{kind: yScalar, raw: jsNull}, true
	case "true", "True", "TRUE":
		return ynode{kind: yScalar, raw: jsTrue}, true
	case "false", "False", "FALSE":
		return ynode{kind: yScalar, raw: jsFalse}, true
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF":
		return ynode{}, false
	}
	c := s[0]
	switch {
	case c >= '0' && c <= '9' || c == '-' || c == '+':
		return numberOrString(s)
	case strings.IndexByte(".?:,[]{}#&*!|>'\"%@`<=", c) >= 0:
		return ynode{}, false
	}
	return strNode(s), true
}

// numberOrString resolves a plain scalar starting with a digit or a sign
// as go-yaml v2's resolve does: an integer (any base Go's strconv reads),
// or a string when it is no number or timestamp. Floats, binary numbers
// and timestamps are left to the full parser.
func numberOrString(s []byte) (ynode, bool) {
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	if digits == 4 && len(s) > 4 && s[4] == '-' {
		return ynode{}, false // maybe a timestamp
	}
	if s[0] == '-' && (len(s) == 1 || s[1] == ' ') || len(s) == 1 && s[0] == '+' {
		return ynode{}, false // "- x": a block sequence entry where none may start
	}
	if digits == len(s) && (digits == 1 || s[0] != '0') && digits < 16 {
		return ynode{kind: yScalar, raw: s}, true // decimal: as written
	}
	plain := s
	if bytes.IndexByte(s, '_') >= 0 {
		plain = bytes.ReplaceAll(s, []byte("_"), nil)
	}
	if maybeInt(plain) { // else strconv would fail, allocating its errors
		if v, err := strconv.ParseInt(string(plain), 0, 64); err == nil {
			return ynode{kind: yScalar, raw: strconv.AppendInt(nil, v, 10)}, true
		}
		if v, err := strconv.ParseUint(string(plain), 0, 64); err == nil {
			return ynode{kind: yScalar, raw: strconv.AppendUint(nil, v, 10)}, true
		}
	}
	if maybeFloat(plain) && yamlStyleFloat.Match(plain) || bytes.HasPrefix(plain, []byte("0b")) || bytes.HasPrefix(plain, []byte("-0b")) {
		return ynode{}, false
	}
	return strNode(s), true
}

// maybeInt reports whether strconv.ParseInt or ParseUint (base 0, no
// underscores) may accept s: an optional sign, then a base prefix (0x, 0o,
// 0b, or a leading 0 for octal) and digits of that base, or decimal
// digits. An address such as 10.0.0.1 or a hash such as 7d4b9c is not
// (strconv would allocate two errors to say so).
func maybeInt(s []byte) bool {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits := func(s []byte, max byte, hex bool) bool {
		for _, c := range s {
			if !(c >= '0' && c <= max || hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')) {
				return false
			}
		}
		return len(s) > 0
	}
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		return digits(s[2:], '9', true)
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O'):
		return digits(s[2:], '7', false)
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B'):
		return digits(s[2:], '1', false)
	case len(s) >= 2 && s[0] == '0':
		return digits(s[1:], '7', false)
	}
	return digits(s, '9', false)
}

// maybeFloat reports whether s has only characters yamlStyleFloat may
// match, and at most one dot and one exponent (the regular expression is
// slow to say no, as to an address such as 10.0.0.1).
func maybeFloat(s []byte) bool {
	dots, exps := 0, 0
	for _, c := range s {
		switch {
		case c == '.':
			dots++
		case c == 'e' || c == 'E':
			exps++
		case !(c >= '0' && c <= '9' || c == '+' || c == '-'):
			return false
		}
	}
	return dots <= 1 && exps <= 1
}

// yamlStyleFloat is go-yaml v2's.
var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

func strNode(s []byte) ynode { return ynode{kind: yScalar, str: true, raw: s} }

// appendJSON writes n as encoding/json writes the value yaml.YAMLToJSON
// builds (map keys sorted). ok is false on a duplicate key.
func (n *ynode) appendJSON(out []byte) ([]byte, bool) {
	switch n.kind {
	case yScalar:
		if n.str {
			return appendJSONString(out, n.raw), true
		}
		return append(out, n.raw...), true
	case ySeq:
		out = append(out, '[')
		for i, v := range n.values {
			if i > 0 {
				out = append(out, ',')
			}
			var ok bool
			if out, ok = v.appendJSON(out); !ok {
				return nil, false
			}
		}
		return append(out, ']'), true
	}
	order := make([]int, len(n.values))
	for i := range order {
		order[i] = i
	}
	if !slices.IsSortedFunc(order, func(a, b int) int { return bytes.Compare(n.values[a].key, n.values[b].key) }) {
		slices.SortFunc(order, func(a, b int) int { return bytes.Compare(n.values[a].key, n.values[b].key) })
	}
	out = append(out, '{')
	for j, i := range order {
		if j > 0 {
			if bytes.Equal(n.values[i].key, n.values[order[j-1]].key) {
				return nil, false // duplicate key: the strict parser reports it
			}
			out = append(out, ',')
		}
		out = appendJSONString(out, n.values[i].key)
		out = append(out, ':')
		var ok bool
		if out, ok = n.values[i].appendJSON(out); !ok {
			return nil, false
		}
	}
	return append(out, '}'), true
}

// appendJSONString quotes s as encoding/json does (HTML characters escaped).
func appendJSONString(out []byte, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			b, _ := json.Marshal(string(s))
			return append(out, b...)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}

func (n *ynode) get(key string) *ynode {
	for i := range n.values {
		if string(n.values[i].key) == key {
			return &n.values[i]
		}
	}
	return nil
}

// envelope is the document's envelope when its fields are plain strings
// (nil otherwise, or for a List: readEnvelope then reads the JSON), its
// strings from strs.
func (n *ynode) envelope(strs *strCache) *envelope {
	str := func(v *ynode) (string, bool) {
		if v == nil {
			return "", true
		}
		return strs.str(v.raw), v.str
	}
	var env envelope
	var ok1, ok2 bool
	env.APIVersion, ok1 = str(n.get("apiVersion"))
	env.Kind, ok2 = str(n.get("kind"))
	if !ok1 || !ok2 || env.Kind == "List" {
		return nil
	}
	if md := n.get("metadata"); md != nil {
		if md.kind != yMap {
			return nil
		}
		var ok3, ok4 bool
		env.Metadata.Name, ok3 = str(md.get("name"))
		env.Metadata.Namespace, ok4 = str(md.get("namespace"))
		if !ok3 || !ok4 {
			return nil
		}
	}
	return &env
}
