package federation

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	"github.com/meshgate/meshgate/test/metrictest"
)

// TestKeyRotationUnderLoad rotates the gossip key (install on all → use on
// all → remove the old one from all) while every node keeps changing its
// cluster's state. After each step the changes made so far converge
// everywhere; once the rotation is done no packet fails decryption, every
// keyring file holds only the new key, and no log line shows a key or a
// remote secret.
func TestKeyRotationUnderLoad(t *testing.T) {
	m := newTestMesh(t, time.Minute)
	logs := &logtest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	oldKey, _ := os.ReadFile(m.keyFile)
	var nodes []*tnode
	for _, c := range []string{"a", "b", "c", "d"} {
		file := filepath.Join(t.TempDir(), "keyring")
		if err := os.WriteFile(file, oldKey, 0o600); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, m.start(c, 0, func(cfg *Config, o *Options) { cfg.KeyringFile = file; o.Logger = logger }))
	}
	revs := make([]atomic.Int64, len(nodes))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for rev := 1; ; rev++ {
				if err := n.SetLocal(clusterState(n.cluster, rev, 5), []byte("SECRET-KUBECONFIG-"+n.cluster)); err != nil {
					t.Error(err)
					return
				}
				revs[i].Store(int64(rev))
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
	caughtUp := func(step string) {
		for i, n := range nodes {
			target := int(revs[i].Load())
			eventually(t, fmt.Sprintf("%s: %s reaches revision %d everywhere", step, n.cluster, target), func() bool {
				for _, o := range nodes {
					if o != n && revOf(o.remote(n.cluster)) < target {
						return false
					}
				}
				return true
			})
		}
	}
	caughtUp("before")
	newKeyB64, _ := GenerateKey()
	newKey, _ := ParseKey(newKeyB64)
	old, _ := ParseKey(strings.TrimSpace(string(oldKey)))
	steps := []struct {
		name string
		do   func(*tnode) error
	}{
		{"install", func(n *tnode) error { return n.InstallKey(newKey) }},
		{"use", func(n *tnode) error { return n.UseKey(newKey) }},
		{"remove", func(n *tnode) error { return n.RemoveKey(old) }},
	}
	for _, s := range steps {
		for _, n := range nodes {
			if err := s.do(n); err != nil {
				t.Fatalf("%s on %s: %v", s.name, n.name, err)
			}
		}
		caughtUp("after " + s.name)
	}
	decryptFailures := func() float64 {
		var sum float64
		for _, n := range nodes {
			sum += metrictest.Sum(t, n.reg, "meshgate_federation_rejected_messages_total", map[string]string{"reason": ReasonDecrypt})
		}
		return sum
	}
	atRotationEnd := decryptFailures()
	t.Logf("decryption failures during the rotation: %v", atRotationEnd)
	caughtUp("after the rotation")
	close(stop)
	wg.Wait()
	caughtUp("final")
	if got := decryptFailures(); got != atRotationEnd {
		t.Fatalf("decryption failures after the rotation: %v (were %v)", got, atRotationEnd)
	}
	for _, n := range nodes {
		keys, err := n.Keys()
		if err != nil || len(keys) != 1 || keys[0].Fingerprint != Fingerprint(newKey) || !keys[0].Primary {
			t.Fatalf("%s keys: %+v %v", n.name, keys, err)
		}
		onDisk, err := LoadKeyringFile(n.cfg.KeyringFile)
		if err != nil || len(onDisk) != 1 || !bytes.Equal(onDisk[0], newKey) {
			t.Fatalf("%s keyring file not rotated: %d keys, %v", n.name, len(onDisk), err)
		}
		n.checkMonotonic(t)
	}
	out := logs.String()
	for _, secret := range []string{newKeyB64, strings.TrimSpace(string(oldKey)), "SECRET-KUBECONFIG",
		base64.StdEncoding.EncodeToString([]byte("SECRET-KUBECONFIG-a"))} {
		if strings.Contains(out, secret) {
			t.Fatalf("logs contain secret material %q", secret[:8])
		}
	}
	if !strings.Contains(out, "gossip keyring changed") || !strings.Contains(out, Fingerprint(newKey)) {
		t.Fatal("keyring changes are not logged by fingerprint")
	}
}
