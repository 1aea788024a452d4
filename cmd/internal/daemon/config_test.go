package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "f")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ok := DefaultConfig()
	ok.ConfigDir = dir
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults with a config dir: %v", err)
	}
	cases := []struct {
		field string
		edit  func(*Config)
	}{
		{"config-dir", func(c *Config) { c.ConfigDir = "" }},
		{"config-dir", func(c *Config) { c.ConfigDir = filepath.Join(dir, "missing") }},
		{"config-dir", func(c *Config) { c.ConfigDir = notDir }},
		{"xds-address", func(c *Config) { c.XDSAddress = "15010" }},
		{"admin-address", func(c *Config) { c.AdminAddress = "127.0.0.1:99999" }},
		{"admin-address", func(c *Config) { c.AdminAddress = c.XDSAddress }},
		{"admin-address", func(c *Config) { c.AdminAddress = c.MonitoringAddress }},
		{"admin-address", func(c *Config) { c.AdminAddress = "0.0.0.0:9901" }}, // exposed without admin-allow
		{"admin-address", func(c *Config) { c.AdminAddress = "unix:" }},
		{"admin-allow", func(c *Config) { c.AdminAddress, c.AdminAllow = "unix:/run/a.sock", []string{"ops/admin"} }},
		{"admin-allow", func(c *Config) { c.AdminAddress, c.AdminAllow = "0.0.0.0:9901", []string{"admin"} }},
		{"monitoring-address", func(c *Config) { c.MonitoringAddress = "15014" }},
		{"cluster-id", func(c *Config) { c.ClusterID = "" }},
		{"export-mode", func(c *Config) { c.ExportMode = "some" }},
		{"export-mode", func(c *Config) { c.ConfigDir, c.Kubeconfig, c.ExportMode = "", "kubeconfig", "serviceexport" }},
		{"multicluster-services", func(c *Config) { c.MulticlusterServices = true }},
		{"clusterset-ip-cidr", func(c *Config) { c.ClusterSetIPCIDR = "10.96.200.0/24" }}, // without multicluster-services
		{"clusterset-ip-cidr", func(c *Config) {
			c.ConfigDir, c.Kubeconfig, c.MulticlusterServices, c.ClusterSetIPCIDR = "", "kubeconfig", true, "10.96.200.0"
		}},
		{"clusterset-ip-cidr", func(c *Config) {
			c.ConfigDir, c.Kubeconfig, c.MulticlusterServices, c.ClusterSetIPCIDR = "", "kubeconfig", true, "10.96.200.7/24"
		}},
		{"trust-domain", func(c *Config) { c.TrustDomain = "spiffe://cluster.local" }},
		{"domain-suffix", func(c *Config) { c.DomainSuffix = "" }},
		{"log-level", func(c *Config) { c.LogLevel = "verbose" }},
		{"log-format", func(c *Config) { c.LogFormat = "xml" }},
		{"debounce-holdoff", func(c *Config) { c.DebounceHoldoff = 0 }},
		{"debounce-max-delay", func(c *Config) { c.DebounceMaxDelay = Duration(time.Millisecond) }},
		{"shutdown-timeout", func(c *Config) { c.ShutdownTimeout = -1 }},
		{"xds-address", func(c *Config) { c.XDSAddress = "0.0.0.0:15010" }},
		{"xds-address", func(c *Config) { c.XDSAddress = ":15010" }},
		{"xds-address", func(c *Config) { c.XDSAddress = "10.1.2.3:15010" }},
		{"secure-xds-address", func(c *Config) { c.SecureXDSAddress = "15012" }},
		{"secure-xds-address", func(c *Config) { c.SecureXDSAddress = c.MonitoringAddress }},
		{"xds-dns-names", func(c *Config) { c.XDSDNSNames = []string{"meshgate.istio-system.svc", "https://x"} }},
		{"xds-dns-names", func(c *Config) { c.XDSDNSNames = []string{"bad name!"} }},
		{"xds-dns-names", func(c *Config) { c.XDSDNSNames = []string{"meshgate..svc"} }},
		{"token-audiences", func(c *Config) { c.TokenAudiences = []string{""} }},
		{"default-service-export-to", func(c *Config) { c.DefaultServiceExportTo = []string{"*", "ns1"} }},
		{"default-service-export-to", func(c *Config) { c.DefaultServiceExportTo = []string{"Not_A_Namespace"} }},
		{"trust-pin", func(c *Config) { c.BindAddress, c.Insecure, c.TrustPins = "127.0.0.1:0", true, []string{"cluster2"} }},
		{"trust-pin", func(c *Config) { c.BindAddress, c.Insecure, c.TrustPins = "127.0.0.1:0", true, []string{"=b.pem"} }},
		{"trust-pin", func(c *Config) {
			c.BindAddress, c.Insecure, c.TrustPins = "127.0.0.1:0", true, []string{"cluster2=a.pem", "cluster2=b.pem"}
		}},
		{"trust-pin", func(c *Config) {
			c.BindAddress, c.Insecure, c.TrustPins = "127.0.0.1:0", true, []string{c.ClusterID + "=a.pem"}
		}},
		{"admit-cluster", func(c *Config) { c.BindAddress, c.Insecure, c.AdmitClusters = "127.0.0.1:0", true, []string{""} }},
		{"admit-cluster", func(c *Config) {
			c.BindAddress, c.Insecure, c.AdmitClusters = "127.0.0.1:0", true, []string{c.ClusterID}
		}},
		{"admit-cluster", func(c *Config) {
			c.BindAddress, c.Insecure, c.AdmitClusters = "127.0.0.1:0", true, []string{"cluster2", "cluster2"}
		}},
	}
	for _, tc := range cases {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: error %v does not name the field", tc.field, err)
		}
	}
	vip := ok
	vip.ConfigDir, vip.Kubeconfig, vip.MulticlusterServices, vip.ClusterSetIPCIDR = "", "kubeconfig", true, "fd00:96::/112"
	if err := vip.Validate(); err != nil {
		t.Errorf("clusterset-ip-cidr %s: %v", vip.ClusterSetIPCIDR, err)
	}
	// Plaintext xDS off loopback only when asked for.
	insecure := ok
	insecure.XDSAddress, insecure.InsecureXDS = "0.0.0.0:15010", true
	if err := insecure.Validate(); err != nil {
		t.Errorf("insecure-xds with 0.0.0.0: %v", err)
	}
	// The Kubernetes source: one source only, and its own settings.
	kube := ok
	kube.ConfigDir, kube.Kubeconfig = "", filepath.Join(dir, "kubeconfig")
	if err := kube.Validate(); err != nil {
		t.Errorf("kubeconfig source: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"config-dir", func(c *Config) { c.ConfigDir = dir }},
		{"config-dir", func(c *Config) { c.InCluster = true }},
		{"namespace", func(c *Config) { c.Namespace = "" }},
		{"remote-sync-timeout", func(c *Config) { c.RemoteSyncTimeout = 0 }},
		{"credential-namespaces", func(c *Config) { c.CredentialNamespaces = []string{"istio-system", ""} }},
	} {
		c := kube
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: error %v does not name the field", tc.field, err)
		}
	}
	// Gossip needs a key unless explicitly insecure.
	c := ok
	c.GossipConfig.BindAddress = "127.0.0.1:7946"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "gossip-key-file:") {
		t.Errorf("gossip without a key: %v", err)
	}
	c.GossipConfig.Insecure = true
	if err := c.Validate(); err != nil {
		t.Errorf("insecure gossip: %v", err)
	}
}

// The file overrides defaults; flags override the file.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "meshgate.yaml")
	if err := os.WriteFile(file, []byte(`
config-dir: /srv/mesh
xds-address: 0.0.0.0:15010
cluster-id: from-file
debounce-holdoff: 250ms
join: [10.0.0.1:7946]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	BindFlags(fs, &cfg)
	if err := fs.Parse([]string{"--cluster-id", "from-flag", "--debounce-max-delay", "3s"}); err != nil {
		t.Fatal(err)
	}
	got, _, err := Resolve(cfg, file, fs)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.ConfigDir, want.XDSAddress, want.ClusterID = "/srv/mesh", "0.0.0.0:15010", "from-flag"
	want.DebounceHoldoff, want.DebounceMaxDelay = Duration(250*time.Millisecond), Duration(3*time.Second)
	if got.ConfigDir != want.ConfigDir || got.XDSAddress != want.XDSAddress || got.ClusterID != want.ClusterID ||
		got.DebounceHoldoff != want.DebounceHoldoff || got.DebounceMaxDelay != want.DebounceMaxDelay ||
		got.AdminAddress != want.AdminAddress || len(got.GossipConfig.Join) != 1 {
		t.Errorf("resolved %+v\nwant     %+v", got, want)
	}

	for name, body := range map[string]string{
		"unknown key":  "xds-adress: 1.2.3.4:1\n",
		"bad duration": "debounce-holdoff: 100\n",
		"not a map":    "- a\n",
	} {
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Resolve(DefaultConfig(), file, pflag.NewFlagSet("x", pflag.ContinueOnError)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := Resolve(DefaultConfig(), filepath.Join(dir, "none.yaml"), fs); err == nil {
		t.Error("missing file accepted")
	}
}

// A renamed key is still read, with a note; its old flag name still wins
// over the file.
func TestResolveOldKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "meshgate.yaml")
	if err := os.WriteFile(file, []byte("identity-ca-dir: /from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, notes, err := Resolve(DefaultConfig(), file, nil)
	if err != nil || got.IdentityCADir != "/from-file" || len(notes) != 1 || !strings.Contains(notes[0], `key "identity-ca-dir" is deprecated, use "ca-dir"`) {
		t.Errorf("old key: %v, %q, notes %q", err, got.IdentityCADir, notes)
	}
	if err := os.WriteFile(file, []byte("ca-dir: /from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	BindFlags(fs, &cfg)
	if err := fs.Parse([]string{"--identity-ca-dir", "/from-flag"}); err != nil {
		t.Fatal(err)
	}
	got, notes, err = Resolve(cfg, file, fs)
	if err != nil || got.IdentityCADir != "/from-flag" || len(notes) != 0 {
		t.Errorf("old flag over the file: %v, %q, notes %q", err, got.IdentityCADir, notes)
	}
}
