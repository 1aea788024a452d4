package kubetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests need no binaries.

func TestIstioCRDsMatchModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api").Output()
	if err != nil {
		t.Fatalf("go list -m istio.io/api: %v", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "kubernetes", "customresourcedefinitions.gen.yaml")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(IstioCRDs, want) {
		t.Errorf("crds/istio.gen.yaml differs from %s: run go generate ./test/kubetest", path)
	}
}

func TestDecodeCRDs(t *testing.T) {
	tests := []struct {
		name      string
		manifest  string
		wantNames []string // must be among the decoded CRDs
		wantCount int      // -1: do not check
		wantErr   string
	}{
		{
			name:     "istio",
			manifest: string(IstioCRDs),
			wantNames: []string{
				"gateways.networking.istio.io", "virtualservices.networking.istio.io",
				"destinationrules.networking.istio.io", "serviceentries.networking.istio.io",
				"peerauthentications.security.istio.io",
			},
			wantCount: 15, // every CRD istio.io/api v1.32.0 ships
		},
		{
			name:      "empty documents are skipped",
			manifest:  "---\n\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: a.example.com\n---\n",
			wantNames: []string{"a.example.com"},
			wantCount: 1,
		},
		{
			name:     "other kinds are refused by name",
			manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n",
			wantErr:  `manifest document 0 (ConfigMap "stray"): kind is not CustomResourceDefinition`,
		},
		{
			name:     "bad YAML",
			manifest: "kind: [unclosed\n",
			wantErr:  "manifest document 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crds, err := decodeCRDs([]byte(tt.manifest))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range crds {
				names = append(names, c.GetName())
			}
			if tt.wantCount >= 0 && len(names) != tt.wantCount {
				t.Errorf("decoded %d CRDs %v, want %d", len(names), names, tt.wantCount)
			}
			for _, n := range tt.wantNames {
				if !slices.Contains(names, n) {
					t.Errorf("CRD %s missing from %v", n, names)
				}
			}
		})
	}
}

// TestFindBinaries checks where binaries come from, and that missing ones
// give an error naming the build command rather than a skip.
func TestFindBinaries(t *testing.T) {
	assets := t.TempDir()
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(assets, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		assets     string
		want       string // directory of the binaries
		wantErrAll []string
	}{
		{name: "KUBEBUILDER_ASSETS", assets: assets, want: assets},
		{
			name:       "nothing built",
			wantErrAll: []string{"build.sh", "KUBEBUILDER_ASSETS", EnvBuild},
		},
		{
			name:       "KUBEBUILDER_ASSETS without binaries",
			assets:     t.TempDir(),
			wantErrAll: []string{"build.sh"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBEBUILDER_ASSETS", tt.assets)
			t.Setenv("MESHGATE_TESTBED_CACHE", t.TempDir()) // an empty cache
			t.Setenv(EnvBuild, "")
			b, err := FindBinaries()
			if len(tt.wantErrAll) > 0 {
				if err == nil {
					t.Fatalf("FindBinaries() = %+v, want an error", b)
				}
				for _, s := range tt.wantErrAll {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error does not mention %q:\n%v", s, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Binaries{APIServer: filepath.Join(tt.want, "kube-apiserver"), Etcd: filepath.Join(tt.want, "etcd")}
			if b != want {
				t.Errorf("FindBinaries() = %+v, want %+v", b, want)
			}
		})
	}
}
