package meshlab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// gvrs maps the kinds the suite writes to their resources.
var gvrs = map[string]schema.GroupVersionResource{
	"Namespace":          {Version: "v1", Resource: "namespaces"},
	"Service":            {Version: "v1", Resource: "services"},
	"Pod":                {Version: "v1", Resource: "pods"},
	"Secret":             {Version: "v1", Resource: "secrets"},
	"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
	"EndpointSlice":      {Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
	"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
	"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
	"Gateway":            {Group: "networking.istio.io", Version: "v1", Resource: "gateways"},
	"VirtualService":     {Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
	"DestinationRule":    {Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
	"ServiceEntry":       {Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"},
}

// withStatus are the kinds whose status the suite sets (there is no
// kubelet or load-balancer controller to do it).
var withStatus = map[string]bool{"Pod": true, "Service": true}

// Store is the desired set of objects of one cluster. Sync makes the API
// server (and, for the file source, the cluster's YAML file) match it:
// objects are applied server-side, their status written, and objects no
// longer wanted deleted.
type Store struct {
	api  dynamic.Interface // nil: no API server
	file string            // "": no YAML file

	mu      sync.Mutex
	objects map[string]*unstructured.Unstructured // key kind/namespace/name
	applied map[string]*unstructured.Unstructured
}

// NewStore makes a store writing to api and/or file.
func NewStore(api dynamic.Interface, file string) *Store {
	return &Store{api: api, file: file, objects: map[string]*unstructured.Unstructured{},
		applied: map[string]*unstructured.Unstructured{}}
}

func key(u *unstructured.Unstructured) string {
	return u.GetKind() + "/" + u.GetNamespace() + "/" + u.GetName()
}

// Set adds or replaces the objects of a YAML stream (documents separated
// by "---").
func (s *Store) Set(docs string) error {
	var objs []*unstructured.Unstructured
	for _, d := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(d) == "" {
			continue
		}
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			return fmt.Errorf("object YAML: %w\n%s", err, d)
		}
		u := &unstructured.Unstructured{Object: m}
		if _, ok := gvrs[u.GetKind()]; !ok {
			return fmt.Errorf("object %s/%s: kind %q is not one the suite writes", u.GetNamespace(), u.GetName(), u.GetKind())
		}
		objs = append(objs, u)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range objs {
		s.objects[key(u)] = u
	}
	return nil
}

// Delete removes an object from the desired set.
func (s *Store) Delete(kind, namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, kind+"/"+namespace+"/"+name)
}

// kindOrder applies what other objects need first (admission checks that
// a pod's namespace and service account exist).
var kindOrder = map[string]int{"Namespace": 0, "ServiceAccount": 1, "Secret": 1, "Service": 2}

// Keys lists the desired objects in apply order: namespaces, service
// accounts and secrets, services, then the rest, each by name.
func (s *Store) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keysLocked()
}

func (s *Store) keysLocked() []string {
	keys := make([]string, 0, len(s.objects))
	for k := range s.objects {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		kind, _, _ := strings.Cut(k, "/")
		if r, ok := kindOrder[kind]; ok {
			return r
		}
		return 3
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b))
	})
	return keys
}

// Sync writes the desired state.
func (s *Store) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.file != "" {
		errs = append(errs, s.writeFile())
	}
	if s.api != nil {
		errs = append(errs, s.applyAPI(ctx))
	}
	return errors.Join(errs...)
}

// writeFile replaces the YAML file atomically (the file source watches it).
func (s *Store) writeFile() error {
	var b strings.Builder
	for _, k := range s.keysLocked() {
		y, err := yaml.Marshal(s.objects[k].Object)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	tmp := filepath.Join(filepath.Dir(s.file), "."+filepath.Base(s.file)+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.file)
}

func (s *Store) applyAPI(ctx context.Context) error {
	var errs []error
	for _, k := range s.keysLocked() {
		u := s.objects[k]
		if old, ok := s.applied[k]; ok && equalObjects(old, u) {
			continue
		}
		if err := s.applyOne(ctx, u); err != nil {
			errs = append(errs, err)
			continue
		}
		s.applied[k] = u.DeepCopy()
	}
	for k, u := range s.applied {
		if _, ok := s.objects[k]; ok {
			continue
		}
		gvr := gvrs[u.GetKind()]
		err := s.api.Resource(gvr).Namespace(u.GetNamespace()).Delete(ctx, u.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", k, err))
			continue
		}
		delete(s.applied, k)
	}
	return errors.Join(errs...)
}

func (s *Store) applyOne(ctx context.Context, u *unstructured.Unstructured) error {
	gvr := gvrs[u.GetKind()]
	ri := s.api.Resource(gvr).Namespace(u.GetNamespace())
	obj := u.DeepCopy()
	status, hasStatus := obj.Object["status"]
	delete(obj.Object, "status")
	opts := metav1.ApplyOptions{FieldManager: "meshgate-e2e", Force: true}
	if _, err := ri.Apply(ctx, obj.GetName(), obj, opts); err != nil {
		return fmt.Errorf("apply %s: %w", key(u), err)
	}
	if hasStatus && withStatus[u.GetKind()] {
		st := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(),
			"metadata": map[string]any{"name": u.GetName(), "namespace": u.GetNamespace()},
			"status":   status,
		}}
		if _, err := ri.ApplyStatus(ctx, u.GetName(), st, opts); err != nil {
			return fmt.Errorf("apply status of %s: %w", key(u), err)
		}
	}
	return nil
}

func equalObjects(a, b *unstructured.Unstructured) bool {
	ya, err1 := yaml.Marshal(a.Object)
	yb, err2 := yaml.Marshal(b.Object)
	return err1 == nil && err2 == nil && string(ya) == string(yb)
}
