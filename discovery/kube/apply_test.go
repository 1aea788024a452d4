package kube

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/test/kubeapply"
)

// applier wraps kubeapply for these tests.
type applier struct{ *kubeapply.Applier }

func newApplier(t testing.TB, cfg *rest.Config) *applier {
	t.Helper()
	a, err := kubeapply.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{a}
}

func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) { return kubeapply.Decode(data) }

func (a *applier) apply(ctx context.Context, u *unstructured.Unstructured) error {
	return a.Apply(ctx, u)
}

func (a *applier) delete(ctx context.Context, u *unstructured.Unstructured) error {
	return a.Delete(ctx, u)
}

func (a *applier) list(ctx context.Context, gvr schema.GroupVersionResource) ([]unstructured.Unstructured, error) {
	return a.List(ctx, gvr)
}
