package model

import (
	"errors"
	"fmt"
	"slices"
)

// Kind names the kind of an object in error messages and keys.
type Kind string

// Kinds known to the model.
const (
	KindService         Kind = "Service"
	KindNamespace       Kind = "Namespace"
	KindSecret          Kind = "Secret"
	KindGateway         Kind = "Gateway"
	KindVirtualService  Kind = "VirtualService"
	KindDestinationRule Kind = "DestinationRule"
	KindServiceEntry    Kind = "ServiceEntry"
	KindIngress         Kind = "Ingress"
	KindServiceExport   Kind = "ServiceExport"
)

// Meta identifies an object: its kind-independent name, namespace and labels.
type Meta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Source says where the object came from (a file path, "kube:<cluster>").
	// It is informational: Hash ignores nothing, so sources should keep it stable.
	Source string `json:"source,omitempty"`
}

// NamespacedName returns "namespace/name".
func (m Meta) NamespacedName() string { return m.Namespace + "/" + m.Name }

// Ref names an object in errors: "Gateway istio-system/gw".
type Ref struct {
	Kind      Kind
	Namespace string
	Name      string
}

// RefOf builds the Ref of an object.
func RefOf(k Kind, m Meta) Ref { return Ref{Kind: k, Namespace: m.Namespace, Name: m.Name} }

func (r Ref) String() string {
	if r.Namespace == "" {
		return fmt.Sprintf("%s %s", r.Kind, r.Name)
	}
	return fmt.Sprintf("%s %s/%s", r.Kind, r.Namespace, r.Name)
}

// FieldError is a problem with one field of one object. Every error a source or
// the translator reports about user input is (or wraps) a FieldError.
type FieldError struct {
	Object Ref
	Field  string // a path such as "spec.servers[1].tls.mode"
	Msg    string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Object, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Object, e.Field, e.Msg)
}

// SourcedError is a FieldError with where its object came from (the
// object's Meta.Source: a file, "kube:<cluster>").
type SourcedError struct {
	*FieldError
	Source string
}

func (e *SourcedError) Error() string { return e.Source + ": " + e.FieldError.Error() }
func (e *SourcedError) Unwrap() error { return e.FieldError }

// Locate returns err naming the source of the object it is about, when err
// is a *FieldError (not already located) about an object of the local
// cluster whose Meta.Source is known; otherwise err unchanged. The
// translator's errors name objects only; this adds the file for people.
func (m *MeshState) Locate(err error) error {
	var fe *FieldError
	var se *SourcedError
	if !errors.As(err, &fe) || errors.As(err, &se) {
		return err
	}
	if meta := m.Local().MetaOf(fe.Object); meta != nil && meta.Source != "" {
		return &SourcedError{FieldError: fe, Source: meta.Source}
	}
	return err
}

// Errorf builds a FieldError.
func Errorf(obj Ref, field, format string, args ...any) *FieldError {
	return &FieldError{Object: obj, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// LabelsMatch reports whether every key of selector is in labels with the same
// value. An empty selector matches everything.
func LabelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// SortedKeys returns the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil // what slices.Sorted gives, without its iterator's allocations (most maps asked are empty)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MetaOf returns the metadata of the object ref names in c (Services,
// Gateways, VirtualServices, DestinationRules, ServiceEntries, Secrets,
// Namespaces), or nil.
func (c *ClusterState) MetaOf(ref Ref) *Meta {
	find := func(n int, meta func(int) *Meta) *Meta {
		for i := range n {
			if m := meta(i); m.Namespace == ref.Namespace && m.Name == ref.Name {
				return m
			}
		}
		return nil
	}
	switch ref.Kind {
	case KindService:
		return find(len(c.Services), func(i int) *Meta { return &c.Services[i].Meta })
	case KindGateway:
		return find(len(c.Gateways), func(i int) *Meta { return &c.Gateways[i].Meta })
	case KindVirtualService:
		return find(len(c.VirtualServices), func(i int) *Meta { return &c.VirtualServices[i].Meta })
	case KindDestinationRule:
		return find(len(c.DestinationRules), func(i int) *Meta { return &c.DestinationRules[i].Meta })
	case KindServiceEntry:
		return find(len(c.ServiceEntries), func(i int) *Meta { return &c.ServiceEntries[i].Meta })
	case KindSecret:
		return find(len(c.Secrets), func(i int) *Meta { return &c.Secrets[i].Meta })
	case KindNamespace:
		return find(len(c.Namespaces), func(i int) *Meta { return &c.Namespaces[i].Meta })
	}
	return nil
}
