package federation

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAdminKeyringRoutes drives a rotation through the HTTP handler with the
// AdminClient, and checks the error answers; no answer carries a key.
func TestAdminKeyringRoutes(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	a := m.start("a", 0, nil)
	b := m.start("b", 0, nil)
	b.setLocal(t, 1, 1)
	srv := httptest.NewServer(a.AdminHandler())
	defer srv.Close()
	c := &AdminClient{Addr: strings.TrimPrefix(srv.URL, "http://")}
	ctx := context.Background()
	oldB64 := strings.TrimSpace(string(mustRead(t, m.keyFile)))
	old, _ := ParseKey(oldB64)
	newB64, _ := GenerateKey()
	nk, _ := ParseKey(newB64)

	eventually(t, "a holds b", func() bool { return revOf(a.remote("b")) == 1 })
	mr, err := c.Members(ctx)
	if err != nil || mr.Self != a.name || mr.Mesh != "mesh1" || len(mr.Members) != 2 {
		t.Fatalf("members: %+v %v", mr, err)
	}
	if got := mr.Members[1]; got.Cluster != "b" || got.State != "alive" || got.Generation != b.LocalGeneration() || !got.Visible {
		t.Fatalf("member b: %+v", got)
	}

	r, err := c.Keys(ctx)
	if err != nil || len(r.Keys) != 1 || r.Keys[0] != (KeyInfo{Fingerprint: Fingerprint(old), Primary: true}) {
		t.Fatalf("list: %+v %v", r, err)
	}
	if r, err = c.InstallKey(ctx, newB64); err != nil || len(r.Keys) != 2 || r.Warning != "" {
		t.Fatalf("install: %+v %v", r, err)
	}
	if r, err = c.UseKey(ctx, Fingerprint(nk)); err != nil || r.Keys[0].Fingerprint != Fingerprint(nk) || !r.Keys[0].Primary {
		t.Fatalf("use: %+v %v", r, err)
	}
	if r, err = c.RemoveKey(ctx, Fingerprint(old)); err != nil || len(r.Keys) != 1 {
		t.Fatalf("remove: %+v %v", r, err)
	}
	errs := []struct {
		name string
		call func() error
		want string
	}{
		{"remove primary", func() error { _, err := c.RemoveKey(ctx, newB64); return err }, "removing the primary key is not allowed"},
		{"unknown fingerprint", func() error { _, err := c.UseKey(ctx, "deadbeef"); return err }, `no installed key has fingerprint "deadbeef"`},
		{"bad key", func() error { _, err := c.InstallKey(ctx, "bm90LWEta2V5"); return err }, "key is 9 bytes, want 32"},
		{"install by fingerprint", func() error { _, err := c.InstallKey(ctx, ""); return err }, "needs the key itself"},
	}
	for _, tc := range errs {
		if err := tc.call(); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), newB64) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	resp, err := http.Post(srv.URL+PathKeyringUse, "application/json", strings.NewReader("{"))
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad JSON: %v %v", resp.StatusCode, err)
	}
}

func TestAdminInsecureAndPersistWarning(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	ins := m.start("i", 0, func(c *Config, _ *Options) { c.Insecure, c.KeyringFile = true, "" })
	srv := httptest.NewServer(ins.AdminHandler())
	defer srv.Close()
	if _, err := (&AdminClient{Addr: srv.URL}).Keys(context.Background()); err == nil || !strings.Contains(err.Error(), "insecure mode") {
		t.Fatalf("insecure list: %v", err)
	}
	dir := t.TempDir()
	file := dir + "/keyring"
	if err := os.WriteFile(file, mustRead(t, m.keyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	n := m.start("p", 1, func(c *Config, _ *Options) { c.KeyringFile = file; c.Seeds = []string{"127.0.0.1:1"} })
	if err := os.RemoveAll(dir); err != nil { // the file's directory is gone: the rewrite fails
		t.Fatal(err)
	}
	key, _ := GenerateKey()
	srv2 := httptest.NewServer(n.AdminHandler())
	defer srv2.Close()
	r, err := (&AdminClient{Addr: srv2.URL}).InstallKey(context.Background(), key)
	if err != nil || len(r.Keys) != 2 {
		t.Fatalf("install: %+v %v", r, err)
	}
	if !strings.Contains(r.Warning, "keyring file was not updated") {
		t.Fatalf("no persistence warning: %+v", r)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
