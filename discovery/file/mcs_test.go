package file

import (
	"reflect"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

// TestServiceExports: ServiceExports of both served versions are read (name
// and creation time), a bad one is rejected naming its field, and a
// ServiceImport (meshgate's output) is a known kind, ignored.
func TestServiceExports(t *testing.T) {
	res := loadText(t, "mcs.yaml", `apiVersion: v1
kind: Service
metadata: {name: hello, namespace: sample}
spec: {ports: [{name: http, port: 5000}]}
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceExport
metadata: {name: hello, namespace: sample, creationTimestamp: "2026-01-02T03:04:05Z", labels: {a: b}}
---
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceExport
metadata: {name: other}
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceExport
metadata: {name: bad, namespace: sample}
spec: {bogus: 1}
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata: {name: hello, namespace: sample}
spec: {type: ClusterSetIP, ports: [{port: 5000}]}
`)
	c := res.Mesh.Local()
	var got []model.ServiceExport
	for _, e := range c.ServiceExports {
		e.Source = ""
		got = append(got, e)
	}
	want := []model.ServiceExport{
		{Meta: model.Meta{Name: "other", Namespace: "default"}},
		{Meta: model.Meta{Name: "hello", Namespace: "sample"}, Created: "2026-01-02T03:04:05Z"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("exports:\n got %+v\nwant %+v", got, want)
	}
	if errs := fieldErrs(t, res); !reflect.DeepEqual(errs, []string{"ServiceExport sample/bad spec.bogus"}) {
		t.Errorf("errors: %q", errs)
	}
	if len(res.Ignored) != 1 || res.Ignored[0].Kind != "ServiceImport" || res.Ignored[0].Unknown {
		t.Errorf("ignored: %+v, want the ServiceImport, a known kind", res.Ignored)
	}
}
