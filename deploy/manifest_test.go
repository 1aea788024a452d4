package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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
