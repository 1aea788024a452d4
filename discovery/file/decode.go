package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	strictjson "sigs.k8s.io/json"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/discovery"
	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/model"
)

// istioGroup is the API group of the Istio networking kinds.
const istioGroup = "networking.istio.io"

// istioVersions are the served versions of istioGroup; they share Go types.
var istioVersions = map[string]bool{"v1": true, "v1beta1": true, "v1alpha3": true}

// mcsGroup is the Multi-Cluster Services API's group; mcsVersions its
// served versions, of one shape.
const mcsGroup = "multicluster.x-k8s.io"

var mcsVersions = []string{"v1alpha1", "v1beta1"}

// objKey identifies an object for duplicate detection and error locations.
type objKey struct {
	kind      model.Kind
	namespace string
	name      string
}

// location is where an object was read.
type location struct {
	file     string // path as shown to the user
	source   string // model.Meta.Source: path relative to the input root
	document int    // 1-based index among the file's non-empty documents
}

// decoder accumulates one cluster's objects from any number of files. The
// documents are decoded by docDecoders (in parallel, see load.go); what they
// find is applied to the decoder in document order, by one goroutine, so the
// first definition of an object wins and problems come in file order.
type decoder struct {
	cache   *jsonCache // nil: no caching
	in      convert.Inputs
	seen    map[objKey]location
	errs    []error
	ignored []Ignored
	// problems are errs (and unknown kinds) as the last-good keeper takes
	// them: what was rejected, where, why.
	problems []*discovery.Rejection
}

func newDecoder(c *jsonCache) *decoder { return &decoder{cache: c, seen: map[objKey]location{}} }

// file decodes every document of one file.
func (d *decoder) file(display, source string, data []byte) {
	w := docDecoder{cache: d.cache, strs: newStrCache(), scratch: &yscratch{}}
	w.documents(display, source, splitDocuments(data))
	d.apply(w.ops)
}

// apply runs what a docDecoder recorded.
func (d *decoder) apply(ops []func(*decoder)) {
	for _, op := range ops {
		op(d)
	}
}

// docDecoder decodes documents into Kubernetes and Istio objects. It may run
// on any goroutine: it only reads the (locked) cache and records what the
// cluster's decoder must do with each object or problem (ops).
type docDecoder struct {
	cache *jsonCache
	strs  *strCache // shares repeated strings (nil: no sharing)
	// scratch holds the parse buffers reused across documents; used only
	// without a cache (a cached tree outlives its document).
	scratch *yscratch
	ops     []func(*decoder)
	// tree is the document being decoded, when the fast YAML path read it:
	// Kubernetes objects are decoded from it directly (decodeTree), and its
	// JSON is written only when needed.
	tree *ynode
}

// documents decodes docs, the documents of one file.
func (d *docDecoder) documents(display, source string, docs []document) {
	for _, doc := range docs {
		loc := location{file: display, source: source, document: doc.index}
		d.tree = nil
		c, k, ok := d.cache.get(doc.data)
		if ok {
			d.tree = c.tree
			d.value(loc, doc.line, c.js, c.env)
			continue
		}
		// Most documents are plain block YAML: parsed without the full
		// parser (fastyaml.go), which takes everything else.
		data := doc.data
		if d.cache != nil {
			// a cached tree points into its bytes: a copy of the document's,
			// not a slice of its file (that would keep a copy of the whole
			// file alive per edited document)
			data = bytes.Clone(data)
		}
		scratch := d.scratch
		if d.cache != nil {
			scratch = nil
		}
		if tree, ok := scratch.parse(data); ok {
			env := tree.envelope(d.strs)
			d.cache.put(k, cached{tree: tree, env: env})
			d.tree = tree
			d.value(loc, doc.line, nil, env)
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc.data)
		if err != nil {
			// Not YAML at all, or YAML that repeats a key (the only extra
			// failure of the strict parser): the lenient parser tells which.
			lenient, err2 := yaml.YAMLToJSON(doc.data)
			if err2 != nil {
				d.docErr(loc, doc.line, fileLines(err2, doc.line))
			} else {
				d.duplicateKeys(loc, doc.line, bytes.TrimSpace(lenient), err)
			}
			continue
		}
		js = bytes.TrimSpace(js)
		d.cache.put(k, cached{js: js})
		d.value(loc, doc.line, js, nil)
	}
}

var yamlLineRe = regexp.MustCompile(`line (\d+):`)

// fileLines rewrites the parser's "line N:" (in the document) to the line
// in the file, for a document starting at line start.
func fileLines(err error, start int) error {
	msg := yamlLineRe.ReplaceAllStringFunc(err.Error(), func(m string) string {
		n, _ := strconv.Atoi(yamlLineRe.FindStringSubmatch(m)[1])
		return fmt.Sprintf("line %d:", start+n-1)
	})
	return errors.New(msg)
}

// duplicateKeys reports a document that is YAML but repeats a key in a
// mapping (which lenient parsers would silently resolve to the last value).
func (d *docDecoder) duplicateKeys(loc location, line int, js []byte, err error) {
	msg := strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:")), " ")
	msg = fileLines(errors.New(msg), line).Error()
	env, envErr := readEnvelope(js)
	if envErr != nil || env.Kind == "" {
		d.docErr(loc, line, fmt.Errorf("duplicate key: %s", msg))
		return
	}
	ns := env.Metadata.Namespace
	if ns == "" && env.Kind != "Namespace" {
		ns = convert.DefaultNamespace
	}
	d.objErr(loc, discovery.ReasonSchema, model.Errorf(model.Ref{Kind: model.Kind(env.Kind), Namespace: ns, Name: env.Metadata.Name}, "", "duplicate key: %s", msg))
}

// json is js, or the JSON of the tree when the fast path left js unwritten.
func (d *docDecoder) json(js []byte) []byte {
	if js != nil || d.tree == nil {
		return js
	}
	js, _ = d.tree.appendJSON(nil) // no duplicate keys: fastYAML refused them
	return js
}

// value dispatches one decoded document (or List item); env is its envelope
// if known.
func (d *docDecoder) value(loc location, line int, js []byte, env *envelope) {
	if d.tree != nil && env != nil && env.Kind != "" && env.APIVersion != "" {
		d.object(loc, *env, nil)
		return
	}
	js = d.json(js)
	d.tree = nil
	switch {
	case len(js) == 0 || string(js) == "null":
		return // empty document (comments only)
	case js[0] == '[':
		d.ignore(loc, "", "", "", "", "a YAML sequence, not a Kubernetes object")
		return
	case js[0] != '{':
		// the content is not echoed: it may be key material
		d.docErr(loc, line, errors.New("not a Kubernetes object: a plain value, not a mapping"))
		return
	}
	if env == nil {
		e, err := readEnvelope(js)
		if err != nil {
			d.docErr(loc, line, fmt.Errorf("not a Kubernetes object: %v", err))
			return
		}
		env = &e
	}
	switch {
	case env.Kind == "" || env.APIVersion == "":
		missing := "kind"
		if env.Kind != "" {
			missing = "apiVersion"
		}
		d.docErr(loc, line, fmt.Errorf("not a Kubernetes object: %s is missing", missing))
		return
	case env.APIVersion == "v1" && env.Kind == "List":
		for _, item := range env.Items {
			d.value(loc, line, bytes.TrimSpace(item), nil)
		}
		return
	}
	d.object(loc, *env, js)
}

// object dispatches a Kubernetes object by apiVersion and kind.
func (d *docDecoder) object(loc location, env envelope, js []byte) {
	ns := env.Metadata.Namespace
	if ns == "" {
		ns = convert.DefaultNamespace
	}
	group, version, _ := strings.Cut(env.APIVersion, "/")
	if version == "" { // core group: "v1"
		group, version = "", group
	}
	ref := model.Ref{Kind: model.Kind(env.Kind), Namespace: ns, Name: env.Metadata.Name}
	if env.Kind == "Namespace" {
		ref.Namespace = ""
	}
	switch {
	case group == "" && version == "v1":
		d.core(loc, ref, env.Kind, js)
	case group == "discovery.k8s.io" && version == "v1" && env.Kind == "EndpointSlice":
		var s discoveryv1.EndpointSlice
		if d.decodeK8s(loc, ref, js, &s) {
			d.add(loc, ref, &s.ObjectMeta, func(in *convert.Inputs) { in.EndpointSlices = append(in.EndpointSlices, &s) })
		}
	case group == "networking.k8s.io" && version == "v1" && env.Kind == "Ingress":
		var o knetworkingv1.Ingress
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.Ingresses = append(in.Ingresses, &o) })
		}
	case group == "networking.k8s.io" && version == "v1" && env.Kind == "IngressClass":
		var o knetworkingv1.IngressClass
		ref.Namespace = ""
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.IngressClasses = append(in.IngressClasses, &o) })
		}
	case group == mcsGroup && slices.Contains(mcsVersions, version) && env.Kind == "ServiceExport":
		var o mcsv1alpha1.ServiceExport
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.ServiceExports = append(in.ServiceExports, &o) })
		}
	case group == convert.GatewayAPIGroup:
		d.gatewayAPI(loc, ref, env, version, js)
	case group == istioGroup && isIstioKind(env.Kind):
		if !istioVersions[version] {
			d.objErr(loc, discovery.ReasonSchema, model.Errorf(ref, "apiVersion", "unsupported version %q of %s (served: v1, v1beta1, v1alpha3)", env.APIVersion, env.Kind))
			return
		}
		d.istio(loc, ref, env.Kind, js)
	default:
		d.otherKind(loc, env)
	}
}

// envelope is what every object has: apiVersion, kind, metadata name and
// namespace (read leniently: the strict decode reports bad metadata).
type envelope struct {
	APIVersion string
	Kind       string
	Metadata   meta
	Items      []json.RawMessage
}

type meta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

func readEnvelope(js []byte) (envelope, error) {
	var env envelope
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return env, err
	}
	if v, ok := top["apiVersion"]; ok {
		if err := json.Unmarshal(v, &env.APIVersion); err != nil {
			return env, fmt.Errorf("apiVersion must be a string")
		}
	}
	if v, ok := top["kind"]; ok {
		if err := json.Unmarshal(v, &env.Kind); err != nil {
			return env, fmt.Errorf("kind must be a string")
		}
	}
	if v, ok := top["metadata"]; ok {
		_ = json.Unmarshal(v, &env.Metadata) // bad metadata is reported by the strict decode
	}
	if v, ok := top["items"]; ok {
		_ = json.Unmarshal(v, &env.Items)
	}
	return env, nil
}

func isIstioKind(kind string) bool {
	switch model.Kind(kind) {
	case model.KindGateway, model.KindVirtualService, model.KindDestinationRule, model.KindServiceEntry:
		return true
	}
	return false
}

// core decodes the core/v1 kinds meshgate uses.
func (d *docDecoder) core(loc location, ref model.Ref, kind string, js []byte) {
	switch kind {
	case "Service":
		var o corev1.Service
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.Services = append(in.Services, &o) })
		}
	case "Pod":
		// the whole Pod is validated (in the worker's scratch Pod, whose
		// containers' room is reused), what the converter reads kept
		// (convert.PodInfo, a fraction of a Pod); its strings come from
		// d.strs
		o := d.scratch.pod()
		ok := d.decodeK8s(loc, ref, js, o)
		d.scratch.keepRoom(o)
		if ok {
			p := convert.PodInfoOf(o)
			d.add(loc, ref, &p.ObjectMeta, func(in *convert.Inputs) { in.PodInfos = append(in.PodInfos, p) })
		}
	case "Namespace":
		var o corev1.Namespace
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.Namespaces = append(in.Namespaces, &o) })
		}
	case "Secret":
		var o corev1.Secret
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.Secrets = append(in.Secrets, &o) })
		}
	case "Endpoints":
		var o corev1.Endpoints
		if d.decodeK8s(loc, ref, js, &o) {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.Endpoints = append(in.Endpoints, &o) })
		}
	case "Node": // kept as name and locality only
		var o corev1.Node
		ref.Namespace = ""
		if d.decodeK8s(loc, ref, js, &o) {
			n := convert.SlimNode(&o)
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.Nodes = append(in.Nodes, n) })
		}
	default:
		d.otherKind(loc, envelope{APIVersion: "v1", Kind: kind, Metadata: meta{Name: ref.Name, Namespace: ref.Namespace}})
	}
}

// istio decodes an Istio networking object: metadata strictly as Kubernetes
// metadata, spec with protojson against the istio.io/api types.
func (d *docDecoder) istio(loc location, ref model.Ref, kind string, js []byte) {
	var env struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Spec              json.RawMessage `json:"spec"`
		Status            json.RawMessage `json:"status"`
	}
	tree := d.tree
	if tree != nil {
		// the envelope decoded without spec and status: the spec is read
		// from the tree below, and their json.RawMessages (which take any
		// value) would only be written for nothing
		var buf [8]ynode
		top := ynode{kind: yMap, values: buf[:0]}
		for _, v := range tree.values {
			if k := string(v.key); k != "spec" && k != "status" {
				top.values = append(top.values, v)
			}
		}
		d.tree = &top
	}
	ok := d.decodeK8s(loc, ref, js, &env)
	d.tree = tree
	if !ok {
		return
	}
	spec := env.Spec
	if len(spec) == 0 || string(spec) == "null" {
		spec = []byte("{}")
	}
	decodeSpec := decodeSpec
	if tree != nil { // the spec straight from the tree, not from its JSON
		n := tree.get("spec")
		decodeSpec = func(ref model.Ref, _ []byte, msg proto.Message) []*model.FieldError {
			return decodeSpecTree(ref, n, msg)
		}
	}
	var errs []*model.FieldError
	switch model.Kind(kind) {
	case model.KindGateway:
		o := &networkingv1.Gateway{ObjectMeta: env.ObjectMeta}
		if errs = decodeSpec(ref, spec, &o.Spec); len(errs) == 0 {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.Gateways = append(in.Gateways, o) })
		}
	case model.KindVirtualService:
		o := &networkingv1.VirtualService{ObjectMeta: env.ObjectMeta}
		if errs = decodeSpec(ref, spec, &o.Spec); len(errs) == 0 {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.VirtualServices = append(in.VirtualServices, o) })
		}
	case model.KindDestinationRule:
		o := &networkingv1.DestinationRule{ObjectMeta: env.ObjectMeta}
		if errs = decodeSpec(ref, spec, &o.Spec); len(errs) == 0 {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.DestinationRules = append(in.DestinationRules, o) })
		}
	case model.KindServiceEntry:
		o := &networkingv1.ServiceEntry{ObjectMeta: env.ObjectMeta}
		if errs = decodeSpec(ref, spec, &o.Spec); len(errs) == 0 {
			d.add(loc, ref, &o.ObjectMeta, func(in *convert.Inputs) { in.ServiceEntries = append(in.ServiceEntries, o) })
		}
	}
	for _, e := range errs {
		d.objErr(loc, discovery.ReasonSchema, e)
	}
}

var (
	strictFieldRe = regexp.MustCompile(`^(?:json: )?(unknown|duplicate) field "(.*)"$`)
	typeErrRe     = regexp.MustCompile(`cannot unmarshal (\S+) into Go struct field \S*?\.(\S+) of type (\S+)`)
	typeErrTopRe  = regexp.MustCompile(`cannot unmarshal (\S+) into Go value of type (\S+)`)
)

// decodeK8s decodes js strictly into a Kubernetes type: unknown and duplicate
// fields, and values of the wrong type, are FieldErrors naming the field.
func (d *docDecoder) decodeK8s(loc location, ref model.Ref, js []byte, into any) bool {
	if d.tree != nil {
		if decodeTree(d.tree, into, d.strs) {
			return true
		}
		reflect.ValueOf(into).Elem().SetZero() // the JSON decoder says what is wrong
		js = d.json(js)
	}
	strictErrs, err := strictjson.UnmarshalStrict(js, into)
	if err != nil {
		d.objErr(loc, discovery.ReasonSchema, k8sDecodeError(ref, err))
		return false
	}
	for _, e := range strictErrs {
		if m := strictFieldRe.FindStringSubmatch(e.Error()); m != nil {
			d.objErr(loc, discovery.ReasonSchema, model.Errorf(ref, m[2], "%s field", m[1]))
		} else {
			d.objErr(loc, discovery.ReasonSchema, model.Errorf(ref, "", "%v", e))
		}
	}
	return len(strictErrs) == 0
}

func k8sDecodeError(ref model.Ref, err error) *model.FieldError {
	msg := err.Error()
	if m := typeErrRe.FindStringSubmatch(msg); m != nil {
		return model.Errorf(ref, m[2], "cannot use a %s here: want %s", m[1], m[3])
	}
	if m := typeErrTopRe.FindStringSubmatch(msg); m != nil {
		return model.Errorf(ref, "", "cannot use a %s here: want %s", m[1], m[2])
	}
	return model.Errorf(ref, "", "%s", strings.TrimPrefix(msg, "json: "))
}

// add records a decoded object unless an object of the same kind and name was
// read before: the first definition wins, the later one is reported.
func (d *docDecoder) add(loc location, ref model.Ref, om *metav1.ObjectMeta, keep func(*convert.Inputs)) {
	if ref.Kind != "Namespace" && om.Namespace == "" {
		om.Namespace = convert.DefaultNamespace
	}
	d.ops = append(d.ops, func(c *decoder) { c.add(loc, ref, om.Name, keep) })
}

func (d *decoder) add(loc location, ref model.Ref, name string, keep func(*convert.Inputs)) {
	if name == "" {
		d.objErr(loc, discovery.ReasonSchema, model.Errorf(ref, "metadata.name", "a name is required"))
		return
	}
	k := objKey{ref.Kind, ref.Namespace, ref.Name}
	if prev, dup := d.seen[k]; dup {
		d.objErr(loc, discovery.ReasonDuplicate, model.Errorf(ref, "metadata.name", "duplicate object: already defined in %s (document %d); this definition is ignored", prev.file, prev.document))
		return
	}
	d.seen[k] = loc
	keep(&d.in)
}

func (d *docDecoder) docErr(loc location, line int, err error) {
	d.ops = append(d.ops, func(c *decoder) { c.docErr(loc, line, err) })
}

func (d *docDecoder) objErr(loc location, reason string, fe *model.FieldError) {
	d.ops = append(d.ops, func(c *decoder) { c.objErr(loc, reason, fe) })
}

func (d *docDecoder) ignore(loc location, apiVersion, kind, ns, name, reason string) {
	d.ops = append(d.ops, func(c *decoder) { c.ignore(loc, apiVersion, kind, ns, name, reason) })
}

func (d *decoder) docErr(loc location, line int, err error) {
	e := &DocumentError{File: loc.file, Document: loc.document, Line: line, Err: err}
	d.errs = append(d.errs, e)
	d.problems = append(d.problems, &discovery.Rejection{Origin: loc.file, Document: loc.document, Reason: discovery.ReasonSyntax, Err: e})
}

func (d *decoder) objErr(loc location, reason string, fe *model.FieldError) {
	e := &ObjectError{File: loc.file, Document: loc.document, Err: fe}
	d.errs = append(d.errs, e)
	d.problems = append(d.problems, &discovery.Rejection{Object: fe.Object, Origin: loc.file, Document: loc.document,
		Field: fe.Field, Reason: reason, Err: e})
}

func (d *decoder) ignore(loc location, apiVersion, kind, ns, name, reason string) {
	d.ignored = append(d.ignored, Ignored{File: loc.file, Document: loc.document, APIVersion: apiVersion,
		Kind: kind, Namespace: ns, Name: name, Reason: reason})
}

// locate wraps a FieldError from convert with the location of its object.
func (d *decoder) locate(err error) error {
	fe, ok := err.(*model.FieldError)
	if !ok {
		return err
	}
	if loc, ok := d.seen[objKey{fe.Object.Kind, fe.Object.Namespace, fe.Object.Name}]; ok {
		return &ObjectError{File: loc.file, Document: loc.document, Err: fe}
	}
	return err
}

// originOf is lastgood.Input.Origin for the objects of this decoder.
func (d *decoder) originOf(ref model.Ref) (string, int) {
	loc := d.seen[objKey{ref.Kind, ref.Namespace, ref.Name}]
	return loc.file, loc.document
}

// sourceOf is convert.Options.Source for the objects of this decoder.
func (d *decoder) sourceOf(kind model.Kind, namespace, name string) string {
	return d.seen[objKey{kind, namespace, name}].source
}
