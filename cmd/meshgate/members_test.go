package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/cmd/internal/daemon"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/federation"
)

func TestMembersCommand(t *testing.T) {
	key, _ := federation.GenerateKey()
	keyFile := filepath.Join(t.TempDir(), "keyring")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, admin := startNode(t, "east", keyFile)
	b, _ := startNode(t, "west", keyFile, a.Addr())
	if err := b.SetLocal(&model.ClusterState{ID: "west"}, nil); err != nil {
		t.Fatal(err)
	}
	var out string
	for range 2000 { // poll until a holds west's state; bounded, no fixed wait
		var err error
		if out, _, err = runCmd(t, newMembersCmd(), "", "--admin-address", admin); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "west") && strings.Contains(out, "true") {
			break
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], a.Name()+" (self)") ||
		!strings.Contains(lines[2], b.Name()) || !strings.Contains(lines[2], "alive") || !strings.Contains(lines[2], "true") {
		t.Fatalf("members output:\n%s", out)
	}
	// west changes: east fetches it with a timed request, and shows west's
	// clock offset with its error bound.
	if err := b.SetLocal(&model.ClusterState{ID: "west", Network: "net-west"}, nil); err != nil {
		t.Fatal(err)
	}
	for range 2000 { // bounded poll, as above
		var err error
		if out, _, err = runCmd(t, newMembersCmd(), "", "--admin-address", admin); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "±") {
			break
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "CLOCK OFFSET") || !strings.Contains(lines[2], "±") {
		t.Fatalf("members output without west's clock offset:\n%s", out)
	}
	// A member of a cluster east does not admit: refused, listed as such.
	r, _ := startNode(t, "rogue", keyFile, a.Addr())
	if err := r.SetLocal(&model.ClusterState{ID: "rogue"}, nil); err != nil {
		t.Fatal(err)
	}
	for range 2000 { // poll until a has refused rogue's state; bounded
		var err error
		if out, _, err = runCmd(t, newMembersCmd(), "", "--admin-address", admin); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "refused clusters") {
			break
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}
	var rogueLine, refusedLine string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, r.Name()):
			rogueLine = l
		case strings.HasPrefix(l, "rogue "):
			refusedLine = l
		}
	}
	if !strings.Contains(rogueLine, "refused") || !strings.Contains(refusedLine, r.Name()) || strings.Contains(out, "west "+"refused") {
		t.Fatalf("members output with a refused cluster:\n%s", out)
	}
	if _, _, err := runCmd(t, newMembersCmd(), "", "--admin-address", "127.0.0.1:1"); err == nil {
		t.Fatal("no error for an unreachable admin server")
	}
}

// Against a real daemon without gossip, members (and keyring) say so, over
// loopback TCP and over a Unix socket.
func TestMembersFederationOff(t *testing.T) {
	cfg := daemon.DefaultConfig()
	cfg.ConfigDir = t.TempDir()
	cfg.XDSAddress, cfg.MonitoringAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	sockCfg := cfg
	sockCfg.AdminAddress = "unix:" + filepath.Join(t.TempDir(), "admin.sock")
	for _, c := range []daemon.Config{cfg, sockCfg} {
		d, err := daemon.New(c, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		_, _, err = runCmd(t, newMembersCmd(), "", "--admin-address", d.AdminAddr())
		if err == nil || !strings.Contains(err.Error(), "federation is not enabled on this daemon") {
			t.Errorf("members --admin %s: %v", d.AdminAddr(), err)
		}
		_, _, err = runCmd(t, newKeyringCmd(), "", "list", "--admin-address", d.AdminAddr())
		if err == nil || !strings.Contains(err.Error(), "federation is not enabled on this daemon") {
			t.Errorf("keyring list --admin %s: %v", d.AdminAddr(), err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// A token is never sent in clear text off loopback.
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, newMembersCmd(), "", "--admin-address", "10.0.0.1:9901", "--token-file", tok); err == nil || !strings.Contains(err.Error(), "only sent over https") {
		t.Errorf("token over plain HTTP: %v", err)
	}
}

// TestPrintMembersColumns: generation age, clock offset ± error and the
// last convergence, "-" where nothing is known.
func TestPrintMembersColumns(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	resp := federation.MembersResponse{Members: []federation.Member{
		{Name: "a", Cluster: "east", State: "alive", Local: true, ClockOffsetSeconds: f(0), ClockErrorSeconds: f(0), GenerationAgeSeconds: f(12)},
		{Name: "b", Cluster: "west", State: "alive", Visible: true, ClockOffsetSeconds: f(-0.0021), ClockErrorSeconds: f(0.0004),
			GenerationAgeSeconds: f(4.2), LastConvergence: &federation.Convergence{Seconds: 0.3971, At: now.Add(-4 * time.Second)}},
		{Name: "c", Cluster: "south", State: "dead"},
	}}
	cmd := newMembersCmd()
	var buf strings.Builder
	cmd.SetOut(&buf)
	printMembers(cmd, resp, now)
	rows := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, want := range [][]string{
		{"a (self)", "12s", "+0s", "-"},
		{"b", "4.2s", "-2.1ms±400µs", "397.1ms (4s ago)"},
		{"c", "-", "-", "-"},
	} {
		fields := strings.Join(strings.Fields(rows[i+1]), " ")
		for _, w := range want {
			if !strings.Contains(fields, w) {
				t.Errorf("row %d %q: no %q", i, fields, w)
			}
		}
	}
}

// With replicas, the LEADS column names the cluster a member publishes, with
// its lease's holder and term; the other replica leads nothing.
func TestMembersShowsLeaders(t *testing.T) {
	now := time.Now()
	resp := federation.MembersResponse{Self: "east-1", Mesh: "m", Members: []federation.Member{
		{Name: "east-1", Cluster: "east", State: "alive", Local: true, Leader: true,
			Lease: &federation.Lease{Holder: "meshgate-0_ab12", Transitions: 3}, StateSince: now, LastSeen: now},
		{Name: "east-2", Cluster: "east", State: "alive", StateSince: now, LastSeen: now},
	}}
	cmd := newMembersCmd()
	var buf strings.Builder
	cmd.SetOut(&buf)
	printMembers(cmd, resp, now)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "LEADS") ||
		!strings.Contains(lines[1], "east (meshgate-0_ab12, term 3)") || strings.Contains(lines[2], "term") {
		t.Fatalf("members output:\n%s", buf.String())
	}
}
