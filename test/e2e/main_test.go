//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/meshgate/meshgate/test/e2e/netlab"
)

// slot is this test process's netlab slot, held for the whole run.
var slot *netlab.Slot

// preflightErr is why the suite cannot run here; every test fails with it.
var preflightErr error

func TestMain(m *testing.M) {
	preflightErr = preflight()
	if preflightErr == nil {
		s, err := netlab.AcquireSlot()
		if err != nil {
			preflightErr = err
		} else {
			slot = s
		}
	}
	code := m.Run()
	closeShared(code != 0)
	if slot != nil {
		_ = slot.Release()
	}
	os.Exit(code)
}

// preflight checks what the suite needs: root and the ip and iptables tools.
func preflight() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the e2e suite needs root (network namespaces, iptables); running as uid %d", os.Geteuid())
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the e2e suite needs %s (Debian: apt-get install -y iproute2 iptables; test/all.sh installs them): %v", tool, err)
		}
	}
	return nil
}

// requireLab fails the test when the suite cannot run on this machine.
func requireLab(t *testing.T) {
	t.Helper()
	if preflightErr != nil {
		t.Fatalf("e2e preflight: %v", preflightErr)
	}
}

// newLab builds a topology of n networks for one test, removed when it ends.
func newLab(t *testing.T, n int) *netlab.Lab {
	t.Helper()
	requireLab(t)
	l, err := netlab.New(slot, n)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab close: %v", err)
		}
	})
	return l
}
