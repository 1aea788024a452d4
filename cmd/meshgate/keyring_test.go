package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/identity"
)

func runCmd(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	logToBuffer(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// logToBuffer makes w the process's logger, as the root command does with
// the command's stderr (the helpers here run a subcommand without it).
func logToBuffer(w io.Writer) {
	l, _ := cliflag.Logger("info", "text", w)
	useLogger(l)
}

// startNode starts a real federation node on 127.0.0.1 with its admin
// handler on an httptest server; it returns the node and the admin address.
// It admits the clusters east and west (not rogue).
func startNode(t *testing.T, cluster, keyFile string, seeds ...string) (*federation.Node, string) {
	t.Helper()
	c := federation.DefaultConfig()
	c.BindAddr, c.MeshID, c.ClusterID, c.KeyringFile, c.Seeds = "127.0.0.1:0", "mesh1", cluster, keyFile, seeds
	c.AdmitClusters = slices.DeleteFunc([]string{"east", "west"}, func(id string) bool { return id == cluster })
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := federation.NewX509Auth(ca, cluster, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := federation.New(c, federation.Options{Logger: slog.New(slog.DiscardHandler), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Started():
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node %s: %v", cluster, err)
		}
	})
	srv := httptest.NewServer(n.AdminHandler())
	t.Cleanup(srv.Close)
	return n, strings.TrimPrefix(srv.URL, "http://")
}

func TestKeyringCommands(t *testing.T) {
	out, _, err := runCmd(t, newKeyringCmd(), "", "generate")
	if err != nil {
		t.Fatal(err)
	}
	oldKey := strings.TrimSpace(out)
	if _, err := federation.ParseKey(oldKey); err != nil {
		t.Fatalf("generate printed %q: %v", out, err)
	}
	keyFile := filepath.Join(t.TempDir(), "keyring")
	if err := os.WriteFile(keyFile, []byte(oldKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, admin := startNode(t, "a", keyFile)
	newKey, _ := federation.GenerateKey()
	nk, _ := federation.ParseKey(newKey)
	ok, _ := federation.ParseKey(oldKey)

	steps := []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"list", "--admin-address", admin}, "", federation.Fingerprint(ok) + "  primary\n"},
		{[]string{"install", "--admin-address", admin, "-"}, newKey + "\n", federation.Fingerprint(ok) + "  primary\n" + federation.Fingerprint(nk) + "\n"},
		{[]string{"use", "--admin-address", "http://" + admin, federation.Fingerprint(nk)}, "", federation.Fingerprint(nk) + "  primary\n" + federation.Fingerprint(ok) + "\n"},
		{[]string{"remove", "--admin-address", admin, oldKey}, "", federation.Fingerprint(nk) + "  primary\n"},
	}
	for _, s := range steps {
		out, _, err := runCmd(t, newKeyringCmd(), s.stdin, s.args...)
		if err != nil || out != s.want {
			t.Fatalf("keyring %v: %q %v, want %q", s.args, out, err, s.want)
		}
		if strings.Contains(out, newKey) || strings.Contains(out, oldKey) {
			t.Fatalf("keyring %v printed a key", s.args)
		}
	}
	onDisk, err := federation.LoadKeyringFile(keyFile)
	if err != nil || len(onDisk) != 1 || !bytes.Equal(onDisk[0], nk) {
		t.Fatalf("keyring file after rotation: %d keys %v", len(onDisk), err)
	}
	_, _, err = runCmd(t, newKeyringCmd(), "", "remove", "--admin-address", admin, federation.Fingerprint(nk))
	var ee *exitError
	if err == nil || !strings.Contains(err.Error(), "removing the primary key is not allowed") || !asExit(err, &ee) || ee.code != 1 {
		t.Fatalf("removing the primary: %v", err)
	}
	_, _, err = runCmd(t, newKeyringCmd(), "", "install", "--admin-address", admin, "-")
	if err == nil || !strings.Contains(err.Error(), "no key on standard input") {
		t.Fatalf("empty stdin: %v", err)
	}
}

func asExit(err error, target **exitError) bool { return errors.As(err, target) }
