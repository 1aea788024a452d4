package federation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNodeNameFile: without a file the suffix is new at every start; with
// one it is written at the first start and read at the next; a file that
// does not hold a suffix stops New naming the file; NodeName wins.
func TestNodeNameFile(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{ClusterID: "c1"}
	a, _, err := nodeName(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := nodeName(&cfg)
	if a == b || !strings.HasPrefix(a, "c1-") {
		t.Errorf("without a file: %q then %q, want two different c1-… names", a, b)
	}
	cfg.NodeNameFile = filepath.Join(dir, "node-name")
	first, fresh, err := nodeName(&cfg)
	if err != nil || !fresh {
		t.Fatalf("first start with a file: %q fresh=%v %v", first, fresh, err)
	}
	again, fresh, err := nodeName(&cfg)
	if err != nil || fresh || again != first {
		t.Errorf("second start: %q fresh=%v %v, want %q kept", again, fresh, err, first)
	}
	if err := os.WriteFile(cfg.NodeNameFile, []byte("not a suffix\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nodeName(&cfg); err == nil || !strings.Contains(err.Error(), cfg.NodeNameFile) {
		t.Errorf("bad file: %v, want an error naming %s", err, cfg.NodeNameFile)
	}
	cfg.NodeName = "explicit"
	if n, _, err := nodeName(&cfg); err != nil || n != "explicit" {
		t.Errorf("NodeName set: %q %v", n, err)
	}
}

// TestRestartKeepsNodeName: a daemon killed without leaving restarts on its
// address with its NodeNameFile. It comes back under its old name, refutes
// the old incarnation the mesh holds, and the other node sees one member
// for it, alive, with the restarted node's state; nothing lingers to be
// called dead. Without the file the old name stays as a second member.
func TestRestartKeepsNodeName(t *testing.T) {
	for _, keep := range []bool{true, false} {
		name := map[bool]string{true: "with the file", false: "without"}[keep]
		t.Run(name, func(t *testing.T) {
			m := newTestMesh(t, time.Minute)
			file := filepath.Join(t.TempDir(), "node-name")
			withFile := func(c *Config, _ *Options) {
				if keep {
					c.NodeNameFile = file
				}
			}
			a := m.start("a", 0, nil)
			b := m.start("b", 0, withFile)
			b.setLocal(t, 1, 1)
			m.waitJoined(t, []*tnode{a, b})
			eventually(t, "a holds b rev 1", func() bool { return m.allHave([]*tnode{a}, "b", 1) })
			oldName, addr := b.Name(), b.Addr()
			b.Close()

			b2 := m.start("b", 0, func(c *Config, o *Options) {
				withFile(c, o)
				c.BindAddr, c.Seeds = addr, []string{a.Addr()}
			})
			b2.setLocal(t, 2, 1)
			if keep != (b2.Name() == oldName) {
				t.Fatalf("restarted as %q, before %q (keep the name: %v)", b2.Name(), oldName, keep)
			}
			eventually(t, "a holds the restarted b's rev 2", func() bool { return m.allHave([]*tnode{a}, "b", 2) })
			eventually(t, "a sees the restarted b alive", func() bool { return a.sees(b2.Name(), "alive") })
			var names []string
			for _, mb := range a.Members() {
				names = append(names, mb.Name+"="+mb.State)
			}
			if want := 2 + map[bool]int{true: 0, false: 1}[keep]; len(names) != want {
				t.Errorf("a's members %v: want %d", names, want)
			}
			if keep && !a.sees(oldName, "alive") {
				t.Errorf("a's members %v: want %s alive (the restarted node under its old name)", names, oldName)
			}
		})
	}
}
