package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

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
