package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/test/logtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// runCLI runs a meshgate command line as main does and returns its output and
// exit code.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut logtest.Buffer
	code = execute(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// walk calls fn for every command of the tree, root first.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// Every command defines the shared settings with cliflag, under one name
// each: a flag named like a shared one was made by a helper, an old name is
// a hidden alias of the new one, and the same name has the same value type
// everywhere. Every command has an Example; no flag usage holds a backquote
// (pflag would turn it into a mangled placeholder in --help).
func TestEveryCommandUsesSharedFlags(t *testing.T) {
	shared := map[string]bool{}
	for _, n := range cliflag.Names() {
		shared[string(n)] = true
	}
	oldName := map[string]cliflag.Name{}
	for n, olds := range cliflag.Aliases {
		for _, o := range olds {
			oldName[o] = n
		}
	}
	types := map[string]string{} // flag name → value type, across commands
	seen := map[string]bool{}
	commands := 0
	walk(newRootCmd(), func(c *cobra.Command) {
		commands++
		if c.Example == "" {
			t.Errorf("%s: no Example in --help", c.CommandPath())
		}
		check := func(f *pflag.Flag) {
			where := c.CommandPath() + " --" + f.Name
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s: usage %q holds a backquote (a mangled placeholder in --help)", where, f.Usage)
			}
			if nw, old := oldName[f.Name]; old {
				canon := c.Flags().Lookup(string(nw))
				if canon == nil {
					canon = c.InheritedFlags().Lookup(string(nw))
				}
				if !f.Hidden || slices.Compare(f.Annotations[cliflag.DeprecatedAnnotation], []string{string(nw)}) != 0 || canon == nil || canon.Value != f.Value {
					t.Errorf("%s: an old name of --%s must be its hidden, deprecated alias (cliflag.Alias)", where, nw)
				}
				return
			}
			seen[f.Name] = true
			if shared[f.Name] && slices.Compare(f.Annotations[cliflag.Annotation], []string{f.Name}) != 0 {
				t.Errorf("%s: defined by hand; use the cliflag helper of this shared flag", where)
			}
			if typ, ok := types[f.Name]; ok && typ != f.Value.Type() {
				t.Errorf("%s: value type %s, elsewhere %s", where, f.Value.Type(), typ)
			}
			types[f.Name] = f.Value.Type()
		}
		c.LocalNonPersistentFlags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
	})
	// The walk saw the commands and the shared flags (it asserts something).
	if commands < 15 {
		t.Errorf("walked %d commands", commands)
	}
	for _, n := range []string{"xds-address", "label", "network", "namespace", "cluster-id", "ca-dir", "admin-address", "log-level", "output", "file"} {
		if !seen[n] {
			t.Errorf("no command has --%s", n)
		}
	}
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestHelpGolden keeps every command's --help in testdata/help.
func TestHelpGolden(t *testing.T) {
	var paths [][]string
	walk(newRootCmd(), func(c *cobra.Command) {
		p := strings.Fields(c.CommandPath())[1:]
		paths = append(paths, p)
	})
	for _, p := range paths {
		name := strings.Join(append([]string{"meshgate"}, p...), "_")
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "", append(slices.Clone(p), "--help")...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			golden(t, filepath.Join("help", name+".golden"), stdout)
		})
	}
}

var logTime = regexp.MustCompile(`time=\S+ `)

// TestErrorsGolden keeps the main error messages and exit codes in
// testdata/errors: exit 1 for a malformed command line or a failure,
// exit 2 for rejected input (README "Exit status").
func TestErrorsGolden(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown-key.yaml")
	badType := filepath.Join(dir, "bad-type.yaml")
	for name, body := range map[string]string{
		unknownKey: "config-dir: /srv\nlog-levl: debug\n",
		badType:    "config-dir: [a]\ninsecure-xds: yes please\ndebounce-holdoff: 100\n",
	} {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	quickstart := filepath.Join("..", "..", "deploy", "examples", "quickstart")
	multicluster := filepath.Join("..", "..", "deploy", "examples", "multicluster")
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"unknown-command", "", []string{"frobnicate"}, 1},
		{"unknown-flag", "", []string{"translate", "-f", quickstart, "--proxy-lables", "a=b"}, 1},
		{"missing-required-flag", "", []string{"translate"}, 1},
		{"translate-missing-input", "", []string{"translate", "-f", filepath.Join(dir, "none")}, 1},
		{"translate-bad-output", "", []string{"translate", "-f", quickstart, "-o", "xml"}, 2},
		{"bootstrap-bad-output", "", []string{"bootstrap", "--node-id", "router~10.0.0.1~gw-0.istio-system~istio-system.svc.cluster.local", "-o", "xml"}, 2},
		{"version-bad-output", "", []string{"version", "-o", "xml"}, 2},
		{"translate-bad-proxy-ip", "", []string{"translate", "-f", quickstart, "--proxy-ip", "999.1.1.1"}, 2},
		{"translate-unknown-cluster", "", []string{"translate", "-f", multicluster, "--cluster-id", "nope"}, 2},
		{"translate-bad-label", "", []string{"translate", "-f", quickstart, "--label", "novalue"}, 2},
		{"translate-no-gateway-selects", "", []string{"translate", "-f", filepath.Join(quickstart, "l4-gateway.yaml"), "--label", "app=nothing"}, 0},
		{"translate-empty-input", "", []string{"translate", "-f", empty}, 0},
		{"translate-rejected-stdin", "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g, namespace: istio-system}\n" +
			"spec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}}]}\n", []string{"translate", "-f", "-"}, 2},
		{"cert-bad-dns", "", []string{"cert", "issue", "--spiffe-id", "spiffe://cluster.local/ns/a/sa/b", "--out", filepath.Join(dir, "out"), "--ca-dir", filepath.Join(dir, "ca"), "--dns", "bad name!"}, 2},
		{"run-unknown-config-key", "", []string{"run", "--config", unknownKey}, 2},
		{"run-bad-config-values", "", []string{"run", "--config", badType}, 2},
		{"run-no-source", "", []string{"run"}, 2},
		{"run-bad-duration", "", []string{"run", "--config-dir", quickstart, "--debounce-holdoff", "soon"}, 2},
		{"gateway-old-flag-name", "", []string{"gateway", "--xds", "nohostport", "--node-id", "router~10.0.0.1~gw-0.istio-system~istio-system.svc.cluster.local"}, 2},
		{"gateway-missing-node-id", "", []string{"gateway", "--xds-address", "127.0.0.1:15010"}, 1},
		{"sni-decode-malformed", "", []string{"sni", "decode", "outbound|x||reviews"}, 2},
		{"keyring-no-key-on-stdin", "", []string{"keyring", "install", "-"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			got := "$ meshgate " + strings.Join(tt.args, " ") + "\n" + logTime.ReplaceAllString(stderr, "")
			got = strings.ReplaceAll(got, dir, "$TMP")
			if tt.name == "translate-rejected-stdin" && !strings.Contains(stdout, `"listeners"`) {
				t.Errorf("rejected objects: the rest is still printed; stdout %q", stdout)
			}
			golden(t, filepath.Join("errors", tt.name+".golden"), got)
		})
	}
}

// Old flag names still work (same value, a note on stderr) and are hidden.
func TestOldFlagNames(t *testing.T) {
	quickstart := filepath.Join("..", "..", "deploy", "examples", "quickstart")
	newOut, newErr, code := runCLI(t, "", "translate", "-f", quickstart, "--label", "app=l4-gateway", "--namespace", "istio-system", "--network", "n1")
	if code != 0 {
		t.Fatalf("new names: exit %d: %s", code, newErr)
	}
	oldOut, oldErr, code := runCLI(t, "", "translate", "-f", quickstart, "--proxy-labels", "app=l4-gateway", "--proxy-namespace", "istio-system", "--proxy-network", "n1")
	if code != 0 {
		t.Fatalf("old names: exit %d: %s", code, oldErr)
	}
	if oldOut != newOut || !strings.Contains(newOut, "0.0.0.0_9443") {
		t.Errorf("old and new names give different output, or not the L4 gateway's:\n%s\n---\n%s", oldOut, newOut)
	}
	for _, n := range []string{"--proxy-labels is deprecated, use --label instead", "--proxy-namespace is deprecated, use --namespace instead", "--proxy-network is deprecated, use --network instead"} {
		if !strings.Contains(oldErr, "meshgate: flag "+n) {
			t.Errorf("stderr lacks %q:\n%s", n, oldErr)
		}
	}
	if strings.Contains(newErr, "deprecated") || strings.Contains(oldOut, "deprecated") {
		t.Errorf("a deprecation note where it does not belong: stderr %q", newErr)
	}
	// Every old name, on its command: accepted (the command fails later,
	// on the value or a missing setting, not on the flag) and hidden.
	for _, tt := range []struct{ args []string }{
		{[]string{"gateway", "--xds", "nohostport", "--node-id", "router~10.0.0.1~gw-0.istio-system~istio-system.svc.cluster.local"}},
		{[]string{"run", "--identity-ca-dir", t.TempDir()}},
		{[]string{"members", "--admin", "https://127.0.0.1:1", "--cacert", filepath.Join(t.TempDir(), "none.pem")}},
		{[]string{"keyring", "list", "--admin", "https://127.0.0.1:1", "--cacert", filepath.Join(t.TempDir(), "none.pem")}},
		{[]string{"cert", "issue", "--spiffe-id", "spiffe://cluster.local/ns/a/sa/b", "--out", t.TempDir(), "--ca-dir", t.TempDir(), "--ttl", "0s"}},
		{[]string{"create-remote-secret", "--name", "c1", "--kubeconfig", filepath.Join(t.TempDir(), "none")}},
	} {
		_, stderr, code := runCLI(t, "", tt.args...)
		if code == 0 || strings.Contains(stderr, "unknown flag") || !strings.Contains(stderr, "is deprecated, use --") {
			t.Errorf("%v: exit %d, stderr %q", tt.args, code, stderr)
		}
		help, _, _ := runCLI(t, "", tt.args[0], "--help")
		if strings.Contains(help, "--"+strings.TrimPrefix(tt.args[1], "--")+" ") {
			t.Errorf("%s --help shows the old name %s", tt.args[0], tt.args[1])
		}
	}
}

// -f - reads the objects from standard input; errors call it <stdin>.
func TestTranslateStdin(t *testing.T) {
	file := filepath.Join("..", "..", "deploy", "examples", "quickstart", "gateway.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, _, code := runCLI(t, "", "translate", "-f", file, "-o", "yaml")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	fromStdin, stderr, code := runCLI(t, string(data), "translate", "-f", "-", "-o", "yaml")
	if code != 0 || fromStdin != fromFile || !strings.Contains(fromStdin, "name: 0.0.0.0_80\n") {
		t.Fatalf("stdin: exit %d, stderr %s\n%s\n--- from the file\n%s", code, stderr, fromStdin, fromFile)
	}
	_, stderr, code = runCLI(t, "kind: Gateway\napiVersion: networking.istio.io/v1\nmetadata: {name: g}\nspec: {selector: [}\n", "translate", "-f", "-")
	if code != 2 || !strings.Contains(stderr, "<stdin>: document 1 (line 1)") || strings.Contains(stderr, "meshgate-stdin-") {
		t.Errorf("broken stdin: exit %d, stderr %s", code, stderr)
	}
	if _, stderr, code = runCLI(t, "", "translate", "-f", "-", "-f", "-"); code != 1 || !strings.Contains(stderr, "standard input can be read once") {
		t.Errorf("-f - twice: exit %d, stderr %s", code, stderr)
	}
}
