package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/test/kubeapply"
)

// The reader identity the manifests install is exactly the one
// create-remote-secret sets up.
// manifestDir is applied as a whole (kubectl -f DIR takes the files in order).
const manifestDir = "meshgate"

func TestReaderManifestMatchesCreateRemoteSecret(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(manifestDir, "15-remote-reader.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubeapply.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, u := range objs {
		switch u.GetKind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
				t.Fatal(err)
			}
			if r.Name != remote.ReaderClusterRole || !reflect.DeepEqual(r.Rules, remote.ReaderRules) {
				t.Errorf("ClusterRole %s rules %+v, want %s with %+v", r.Name, r.Rules, remote.ReaderClusterRole, remote.ReaderRules)
			}
			found = true
		case "ServiceAccount":
			if u.GetName() != remote.ReaderServiceAccount {
				t.Errorf("ServiceAccount %s, want %s", u.GetName(), remote.ReaderServiceAccount)
			}
		}
	}
	if !found {
		t.Error("no reader ClusterRole")
	}
}

// The daemon exposes only its monitoring port: the Service, the container
// ports and the probes use 15014 (/metrics, /healthz, /readyz); the admin
// API stays on its loopback default (reached with kubectl exec).
func TestDaemonExposesOnlyMonitoring(t *testing.T) {
	var objs []*unstructured.Unstructured
	for _, f := range []string{"30-deployment.yaml", "40-services.yaml"} {
		data, err := os.ReadFile(filepath.Join(manifestDir, f))
		if err != nil {
			t.Fatal(err)
		}
		o, err := kubeapply.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	daemon := false
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
				t.Fatal(err)
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if len(c.Args) == 0 || c.Args[0] != "run" {
					continue
				}
				daemon = true
				if !slices.Contains(c.Args, "--monitoring-address=0.0.0.0:15014") {
					t.Errorf("container %s: no --monitoring-address=0.0.0.0:15014 in %v", c.Name, c.Args)
				}
				for _, a := range c.Args {
					if strings.HasPrefix(a, "--admin-address") || strings.HasPrefix(a, "--admin-allow") {
						t.Errorf("container %s exposes or moves the admin API: %s", c.Name, a)
					}
				}
				for _, p := range c.Ports {
					if p.ContainerPort == 9901 {
						t.Errorf("container %s declares the admin port", c.Name)
					}
				}
				for name, pr := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
					if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Port.IntValue() != 15014 {
						t.Errorf("container %s %s probe is not on the monitoring port: %+v", c.Name, name, pr)
					}
				}
			}
		case "Service":
			var s corev1.Service
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &s); err != nil {
				t.Fatal(err)
			}
			for _, p := range s.Spec.Ports {
				if p.Port == 9901 || p.TargetPort.IntValue() == 9901 {
					t.Errorf("Service %s exposes the admin port", s.Name)
				}
			}
		}
	}
	if !daemon {
		t.Fatal("no `meshgate run` container in 30-deployment.yaml")
	}
}
