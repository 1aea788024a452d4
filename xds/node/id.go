package node

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/meshgate/meshgate/sni"
)

// Proxy types: the first part of a node id.
const (
	// TypeRouter is a gateway (istiod's "router" proxy).
	TypeRouter = "router"
	// TypeSidecar is a sidecar proxy or a proxyless gRPC client.
	TypeSidecar = "sidecar"
)

// Limits of the parts of a node id.
const (
	// MaxIDLength is the longest accepted node id.
	MaxIDLength = 1024
	maxPod      = 253
)

const (
	idSep  = "~"
	svcSep = ".svc."
)

// ID is an Istio xDS node id: Type~IP~Pod.Namespace~Namespace.svc.DomainSuffix.
// It is a plain comparable value.
type ID struct {
	// Type is TypeRouter or TypeSidecar.
	Type string
	// IP is the proxy's address, as written (not canonicalised).
	IP string
	// Pod is the pod (or host) name.
	Pod string
	// Namespace is the proxy's namespace.
	Namespace string
	// DomainSuffix is the cluster DNS domain, e.g. cluster.local.
	DomainSuffix string
}

// String returns Type~IP~Pod.Namespace~Namespace.svc.DomainSuffix. It does
// not validate id: call Validate first when id comes from untrusted input.
func (id ID) String() string {
	var b strings.Builder
	b.Grow(len(id.Type) + len(id.IP) + len(id.Pod) + 2*len(id.Namespace) + len(id.DomainSuffix) + 9)
	b.WriteString(id.Type)
	b.WriteString(idSep)
	b.WriteString(id.IP)
	b.WriteString(idSep)
	b.WriteString(id.Pod)
	b.WriteByte('.')
	b.WriteString(id.Namespace)
	b.WriteString(idSep)
	b.WriteString(id.Namespace)
	b.WriteString(svcSep)
	b.WriteString(id.DomainSuffix)
	return b.String()
}

// Validate returns a *FieldError for the first field that breaks the rules
// of the package doc, or nil.
func (id ID) Validate() error {
	switch id.Type {
	case TypeRouter, TypeSidecar:
	default:
		return &FieldError{Field: "type", Value: id.Type, Reason: "want " + TypeRouter + " or " + TypeSidecar}
	}
	if err := checkIP(id.IP); err != nil {
		return err
	}
	if r := checkPod(id.Pod); r != "" {
		return &FieldError{Field: "pod", Value: id.Pod, Reason: r}
	}
	if r := checkNamespace(id.Namespace); r != "" {
		return &FieldError{Field: "namespace", Value: id.Namespace, Reason: r}
	}
	if r := checkDomain(id.DomainSuffix); r != "" {
		return &FieldError{Field: "domain suffix", Value: id.DomainSuffix, Reason: r}
	}
	if l := len(id.String()); l > MaxIDLength {
		return &FieldError{Field: "id", Reason: strconv.Itoa(l) + " bytes, longer than " + strconv.Itoa(MaxIDLength)}
	}
	return nil
}

// ParseID reads a node id. It is the checked inverse of ID.String: it
// accepts exactly the strings String produces from an ID that Validate
// accepts, and otherwise returns a *ParseError naming the bad field.
func ParseID(s string) (ID, error) {
	fail := func(err error) (ID, error) { return ID{}, &ParseError{What: WhatID, Input: shorten(s), Err: err} }
	if len(s) > MaxIDLength {
		return fail(&FieldError{Field: "id", Reason: strconv.Itoa(len(s)) + " bytes, longer than " + strconv.Itoa(MaxIDLength)})
	}
	parts := strings.Split(s, idSep)
	if len(parts) != 4 {
		return fail(&FieldError{Field: "format", Reason: "want 4 parts type~ip~pod.namespace~namespace.svc.domain, got " + strconv.Itoa(len(parts))})
	}
	ns, suffix, ok := strings.Cut(parts[3], svcSep)
	if !ok {
		return fail(&FieldError{Field: "domain", Value: parts[3], Reason: "want <namespace>.svc.<domain suffix>"})
	}
	if r := checkNamespace(ns); r != "" {
		return fail(&FieldError{Field: "namespace", Value: ns, Reason: r})
	}
	pod, ok := strings.CutSuffix(parts[2], "."+ns)
	if !ok {
		return fail(&FieldError{Field: "pod", Value: parts[2], Reason: "want <pod>." + ns + ", the namespace of the fourth part"})
	}
	id := ID{Type: parts[0], IP: parts[1], Pod: pod, Namespace: ns, DomainSuffix: suffix}
	if err := id.Validate(); err != nil {
		return fail(err)
	}
	return id, nil
}

func checkIP(s string) error {
	a, err := netip.ParseAddr(s)
	switch {
	case s == "":
		return &FieldError{Field: "ip", Reason: "must not be empty"}
	case err != nil:
		return &FieldError{Field: "ip", Value: s, Reason: "not an IP address"}
	case a.Zone() != "":
		return &FieldError{Field: "ip", Value: s, Reason: "must not carry a zone"}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// checkPod returns why s is not an acceptable pod name, or "".
func checkPod(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > maxPod:
		return "longer than 253 bytes"
	case !isAlnum(s[0]) || !isAlnum(s[len(s)-1]):
		return "must start and end with a letter or digit"
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return "only letters, digits, '-', '_' and '.' are allowed"
		}
	}
	return ""
}

// checkNamespace returns why s is not a DNS-1123 label in lower case, or "".
func checkNamespace(s string) string {
	if r := reason(sni.ValidateLabel(s)); r != "" {
		return r
	}
	if strings.ToLower(s) != s {
		return "must be lower case"
	}
	return ""
}

// checkDomain returns why s is not a dot-separated list of DNS labels, or "".
func checkDomain(s string) string { return reason(sni.ValidateHost(s)) }

// reason is the Reason of an sni.FieldError, or "" for nil.
func reason(err error) string {
	var fe *sni.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	if err != nil {
		return err.Error()
	}
	return ""
}
