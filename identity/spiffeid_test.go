package identity

import (
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestWorkloadID(t *testing.T) {
	tests := []struct {
		td, ns, sa string
		want       string
		wantErr    string
	}{
		{"cluster.local", "istio-system", "eastwest", "spiffe://cluster.local/ns/istio-system/sa/eastwest", ""},
		{"west.example", "default", "bookinfo-reviews", "spiffe://west.example/ns/default/sa/bookinfo-reviews", ""},
		{"Cluster.Local", "a", "b", "", "trust domain"},
		{"", "a", "b", "", "trust domain"},
		{"cluster.local", "", "b", "", "namespace must not be empty"},
		{"cluster.local", "a", "", "", "service account must not be empty"},
		{"cluster.local", "a/b", "c", "", "SPIFFE ID"},
		{"cluster.local", "..", "c", "", "SPIFFE ID"},
	}
	for _, tt := range tests {
		id, err := NewWorkloadID(tt.td, tt.ns, tt.sa)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewWorkloadID(%q, %q, %q) = %v, %v; want error with %q", tt.td, tt.ns, tt.sa, id, err, tt.wantErr)
			}
			continue
		}
		if err != nil || id.String() != tt.want {
			t.Errorf("NewWorkloadID(%q, %q, %q) = %q, %v; want %q", tt.td, tt.ns, tt.sa, id, err, tt.want)
			continue
		}
		w, err := ParseWorkloadID(id.String())
		if err != nil || w.Namespace != tt.ns || w.ServiceAccount != tt.sa || w.TrustDomain.Name() != tt.td {
			t.Errorf("ParseWorkloadID(%q) = %+v, %v", id, w, err)
		}
		if w.String() != tt.want {
			t.Errorf("WorkloadID.String() = %q", w.String())
		}
		if back, err := w.ID(); err != nil || back != id {
			t.Errorf("WorkloadID.ID() = %v, %v", back, err)
		}
	}
}

func TestParseWorkloadIDErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"http://cluster.local/ns/a/sa/b",
		"spiffe://cluster.local",
		"spiffe://cluster.local/ns/a",
		"spiffe://cluster.local/ns/a/sa",
		"spiffe://cluster.local/ns/a/sa/b/extra",
		"spiffe://cluster.local/namespace/a/sa/b",
		"spiffe://cluster.local/ns/a/serviceaccount/b",
		"spiffe://cluster.local/ns//sa/b",
	} {
		if w, err := ParseWorkloadID(s); err == nil {
			t.Errorf("ParseWorkloadID(%q) = %+v, want error", s, w)
		}
	}
	if _, err := WorkloadIDFrom(spiffeid.RequireFromPath(tdA, "/spire/agent")); err == nil ||
		!strings.Contains(err.Error(), "is not /ns/<namespace>/sa/<service-account>") {
		t.Errorf("WorkloadIDFrom non-Istio path: %v", err)
	}
}
