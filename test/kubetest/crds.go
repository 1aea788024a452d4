package kubetest

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// IstioCRDs is istio.io/api's kubernetes/customresourcedefinitions.gen.yaml,
// copied verbatim from the version in go.mod (networking, security,
// telemetry and extensions CRDs). TestIstioCRDsMatchModule checks the copy;
// refresh it with go generate.
//
//go:generate sh -c "install -m 644 \"$(go list -m -f '{{.Dir}}' istio.io/api)/kubernetes/customresourcedefinitions.gen.yaml\" crds/istio.gen.yaml"
//go:embed crds/istio.gen.yaml
var IstioCRDs []byte

var crdGVR = schema.GroupVersionResource{
	Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions",
}

// InstallIstioCRDs installs IstioCRDs and waits until they are established.
func InstallIstioCRDs(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	_, err := InstallCRDs(ctx, cfg, IstioCRDs, timeout)
	return err
}

// InstallCRDs creates the CustomResourceDefinitions of a multi-document
// YAML manifest (other kinds are an error; existing CRDs are left as they
// are) and waits up to timeout until all are Established. It returns the
// CRD names.
func InstallCRDs(ctx context.Context, cfg *rest.Config, manifest []byte, timeout time.Duration) ([]string, error) {
	crds, err := decodeCRDs(manifest)
	if err != nil {
		return nil, err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	api := client.Resource(crdGVR)
	names := make([]string, 0, len(crds))
	for _, crd := range crds {
		if _, err := api.Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create CRD %s: %w", crd.GetName(), err)
		}
		names = append(names, crd.GetName())
	}
	return names, waitEstablished(ctx, api, names, timeout)
}

func decodeCRDs(manifest []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifest)))
	var crds []*unstructured.Unstructured
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return crds, nil
		}
		if err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		if obj == nil {
			continue // empty document
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("manifest document %d (%s %q): kind is not CustomResourceDefinition",
				i, u.GetKind(), u.GetName())
		}
		crds = append(crds, u)
	}
}

// waitEstablished polls the CRD list until every name has the condition
// Established=True.
func waitEstablished(ctx context.Context, api dynamic.ResourceInterface, names []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		pending, err := notEstablished(ctx, api, names)
		if err == nil && len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("not established: %v", pending)
			}
			return fmt.Errorf("waiting for CRDs to be established: %w", err)
		case <-tick.C:
		}
	}
}

func notEstablished(ctx context.Context, api dynamic.ResourceInterface, names []string) ([]string, error) {
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	established := map[string]bool{}
	for _, crd := range list.Items {
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				established[crd.GetName()] = true
			}
		}
	}
	var pending []string
	for _, n := range names {
		if !established[n] {
			pending = append(pending, n)
		}
	}
	slices.Sort(pending)
	return pending, nil
}
