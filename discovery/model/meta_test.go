package model

import (
	"errors"
	"fmt"
	"testing"
)

func TestLocate(t *testing.T) {
	mesh := &MeshState{LocalCluster: "c1", Clusters: []*ClusterState{{ID: "c1",
		VirtualServices: []VirtualService{{Meta: Meta{Name: "vs", Namespace: "ns", Source: "routes.yaml"}}}}}}
	known := Errorf(Ref{Kind: KindVirtualService, Namespace: "ns", Name: "vs"}, "spec.hosts", "bad")
	got := mesh.Locate(known)
	if got.Error() != "routes.yaml: VirtualService ns/vs: spec.hosts: bad" {
		t.Errorf("Locate = %q", got)
	}
	var fe *FieldError
	if !errors.As(got, &fe) || fe != known {
		t.Errorf("the located error does not unwrap to the FieldError")
	}
	if again := mesh.Locate(got); again != got {
		t.Errorf("located twice: %q", again)
	}
	unknown := Errorf(Ref{Kind: KindVirtualService, Namespace: "ns", Name: "other"}, "spec.hosts", "bad")
	if mesh.Locate(unknown) != error(unknown) {
		t.Errorf("an object without a source changed: %q", mesh.Locate(unknown))
	}
	plain := fmt.Errorf("not a field error")
	if mesh.Locate(plain) != plain {
		t.Errorf("a plain error changed")
	}
}
