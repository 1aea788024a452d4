package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		if out, _, err = runCmd(t, newMembersCmd(), "", "--admin", admin); err != nil {
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
	if _, _, err := runCmd(t, newMembersCmd(), "", "--admin", "127.0.0.1:1"); err == nil {
		t.Fatal("no error for an unreachable admin server")
	}
}
