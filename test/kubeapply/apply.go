// Package kubeapply applies YAML manifests to a real API server with
// server-side apply, as `kubectl apply --server-side --force-conflicts`
// would: the Kubernetes tests of discovery/kube, discovery/remote, deploy
// and the daemon use it to load objects (including Pod status, which a
// plain apply ignores).
//
//	YAML ─▶ Decode ─▶ Applier.Apply ─▶ RESTMapper ─▶ dynamic client ─▶ kube-apiserver
package kubeapply

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// FieldManager is the server-side apply field manager.
const FieldManager = "meshgate-test"

// Applier creates, updates, deletes and lists objects of any kind the API
// server serves.
type Applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// New returns an Applier for cfg (no client-side rate limit, API server
// warnings silenced).
func New(cfg *rest.Config) (*Applier, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{} // e.g. dummy certificates in kubernetes.io/tls Secrets
	cfg.QPS, cfg.Burst = 1000, 1000
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Decode splits a multi-document YAML stream into objects (empty documents
// and comment-only documents are skipped).
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

func (a *Applier) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset() // a CRD installed since the last discovery
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", gvk, u.GetName(), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		return a.dyn.Resource(m.Resource).Namespace(ns), nil
	}
	return a.dyn.Resource(m.Resource), nil
}

// Apply creates or updates u with server-side apply (forced) and, for a
// Pod, applies its status too. Server-set metadata (uid, resourceVersion,
// ... of an object copied from `kubectl get -o yaml`) is dropped first: it
// would be a precondition, not data. An object whose immutable field
// changed (a Secret's type) is deleted and created again.
func (a *Applier) Apply(ctx context.Context, u *unstructured.Unstructured) error {
	ri, err := a.resource(u)
	if err != nil {
		return err
	}
	obj := u.DeepCopy()
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	status, hasStatus := obj.Object["status"]
	delete(obj.Object, "status")
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	_, err = ri.Apply(ctx, obj.GetName(), obj, opts)
	if apierrors.IsInvalid(err) && strings.Contains(err.Error(), "field is immutable") {
		if err = a.Delete(ctx, obj); err == nil {
			_, err = ri.Apply(ctx, obj.GetName(), obj, opts)
		}
	}
	if err != nil {
		return fmt.Errorf("apply %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	if hasStatus && u.GetKind() == "Pod" {
		st := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(),
			"metadata": map[string]any{"name": u.GetName(), "namespace": u.GetNamespace()},
			"status":   status,
		}}
		if _, err := ri.ApplyStatus(ctx, u.GetName(), st, opts); err != nil {
			return fmt.Errorf("apply status of %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return nil
}

// ApplyYAML decodes and applies every object of a manifest, in order.
func (a *Applier) ApplyYAML(ctx context.Context, manifest []byte) error {
	objs, err := Decode(manifest)
	if err != nil {
		return err
	}
	for _, u := range objs {
		if err := a.Apply(ctx, u); err != nil {
			return err
		}
	}
	return nil
}

// Delete deletes u (immediately, no grace period); a missing object is not
// an error.
func (a *Applier) Delete(ctx context.Context, u *unstructured.Unstructured) error {
	ri, err := a.resource(u)
	if err != nil {
		return err
	}
	err = ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// List returns every object of a resource (all namespaces).
func (a *Applier) List(ctx context.Context, gvr schema.GroupVersionResource) ([]unstructured.Unstructured, error) {
	l, err := a.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Object names an object (for Delete).
func Object(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}
