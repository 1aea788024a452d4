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

// The gateway reaches the daemon only over the secure port: meshgate agent
// with a projected token (audience istio-ca) and only the root of cacerts,
// Envoy's bootstrap over TLS with the agent's SDS socket, no plaintext xDS
// off loopback and no 15010 on the Service.
func TestManifestsSecureXDSPath(t *testing.T) {
	var dep appsv1.Deployment
	var svc corev1.Service
	for file, into := range map[string]any{"30-deployment.yaml": &dep, "40-services.yaml": &svc} {
		data, err := os.ReadFile(filepath.Join(manifestDir, file))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := kubeapply.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objs {
			if (u.GetKind() == "Deployment") || (u.GetKind() == "Service" && u.GetName() == "meshgate") {
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	spec := dep.Spec.Template.Spec
	ctrs := map[string]corev1.Container{}
	for _, c := range spec.Containers {
		ctrs[c.Name] = c
	}
	args := func(c corev1.Container) string { return strings.Join(append(c.Command, c.Args...), " ") }
	if a := args(ctrs["meshgate"]); strings.Contains(a, "--insecure-xds") || strings.Contains(a, "--xds-address") {
		t.Errorf("the daemon serves plaintext xDS off loopback: %s", a)
	}
	for _, p := range ctrs["meshgate"].Ports {
		if p.ContainerPort == 15010 {
			t.Errorf("container port 15010 exposed")
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.Port == 15010 {
			t.Errorf("Service meshgate exposes plaintext xDS 15010")
		}
	}
	agent := ctrs["agent"]
	if a := args(agent); agent.Name == "" || !strings.Contains(a, "agent --xds-address=127.0.0.1:15012") || !strings.Contains(a, "--sds-socket=/var/run/meshgate/sds/sds.sock") {
		t.Errorf("agent container: %q", a)
	}
	if a := args(spec.InitContainers[0]); !strings.Contains(a, "--xds-address 127.0.0.1:15012") || !strings.Contains(a, "--sds-socket /var/run/meshgate/sds/sds.sock") {
		t.Errorf("Envoy's bootstrap does not use the secure port with the agent's socket: %s", a)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	tok := vols["istio-token"].Projected
	if tok == nil || tok.Sources[0].ServiceAccountToken == nil || tok.Sources[0].ServiceAccountToken.Audience != "istio-ca" {
		t.Errorf("istio-token volume: %+v", vols["istio-token"])
	}
	if root := vols["mesh-root"].Secret; root == nil || len(root.Items) != 1 || root.Items[0].Key != "root-cert.pem" {
		t.Errorf("the agent's root volume must hold root-cert.pem only: %+v", vols["mesh-root"])
	}
	for _, m := range agent.VolumeMounts {
		if m.Name == "cacerts" {
			t.Error("the agent mounts the CA key")
		}
	}
}
