package identity

import (
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// WorkloadID is the Istio form of a workload identity:
// spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.
type WorkloadID struct {
	TrustDomain    spiffeid.TrustDomain
	Namespace      string
	ServiceAccount string
}

// NewWorkloadID builds spiffe://<td>/ns/<ns>/sa/<sa>. It rejects an invalid
// trust domain or an empty or invalid namespace or service account (each must
// be a valid SPIFFE path segment).
func NewWorkloadID(trustDomain, namespace, serviceAccount string) (spiffeid.ID, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("trust domain %q: %w", trustDomain, err)
	}
	if namespace == "" {
		return spiffeid.ID{}, fmt.Errorf("namespace must not be empty")
	}
	if serviceAccount == "" {
		return spiffeid.ID{}, fmt.Errorf("service account must not be empty")
	}
	id, err := spiffeid.FromSegments(td, "ns", namespace, "sa", serviceAccount)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("SPIFFE ID for namespace %q, service account %q: %w", namespace, serviceAccount, err)
	}
	return id, nil
}

// ParseWorkloadID parses an Istio workload SPIFFE ID. The path must be exactly
// /ns/<namespace>/sa/<service-account>.
func ParseWorkloadID(s string) (WorkloadID, error) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return WorkloadID{}, fmt.Errorf("SPIFFE ID %q: %w", s, err)
	}
	return WorkloadIDFrom(id)
}

// WorkloadIDFrom splits a parsed SPIFFE ID into its Istio parts.
func WorkloadIDFrom(id spiffeid.ID) (WorkloadID, error) {
	segs := strings.Split(strings.TrimPrefix(id.Path(), "/"), "/")
	if len(segs) != 4 || segs[0] != "ns" || segs[2] != "sa" {
		return WorkloadID{}, fmt.Errorf("SPIFFE ID %q: path %q is not /ns/<namespace>/sa/<service-account>", id, id.Path())
	}
	return WorkloadID{TrustDomain: id.TrustDomain(), Namespace: segs[1], ServiceAccount: segs[3]}, nil
}

// ID returns the SPIFFE ID of w.
func (w WorkloadID) ID() (spiffeid.ID, error) {
	return NewWorkloadID(w.TrustDomain.Name(), w.Namespace, w.ServiceAccount)
}

// String returns spiffe://<td>/ns/<ns>/sa/<sa> (without validating).
func (w WorkloadID) String() string {
	return "spiffe://" + w.TrustDomain.Name() + "/ns/" + w.Namespace + "/sa/" + w.ServiceAccount
}
