package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	mcscrd "sigs.k8s.io/mcs-api/config/crd"
)

// TestMCSCRDsMatchModule: deploy/mcs/00-crds.yaml is the MCS API module's
// own CRDs (the version go.mod names), after its header comment.
func TestMCSCRDsMatchModule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(mcsDir, "00-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := bytes.Cut(data, []byte("\n---\n"))
	if !ok {
		t.Fatal("00-crds.yaml: no header comment followed by ---")
	}
	want := append(append(append([]byte{}, mcscrd.ServiceExportCRD...), "---\n"...), mcscrd.ServiceImportCRD...)
	if !bytes.Equal(body, want) {
		t.Errorf("deploy/mcs/00-crds.yaml differs from sigs.k8s.io/mcs-api/config/crd: regenerate it (see its header)")
	}
}

// mcsDir holds the optional Multi-Cluster Services API manifests.
const mcsDir = "mcs"
