package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxSlots is the number of labs that can run on one machine at once.
const MaxSlots = 10

// lockDir holds one lock file per slot.
var lockDir = filepath.Join(os.TempDir(), "meshgate-e2e-slots")

// LabsPerSlot is the number of labs one slot can hold at once.
const LabsPerSlot = 5

// Slot is a held slot: its number and name prefix. Release frees it.
type Slot struct {
	N      int
	Prefix string // "mge2e<N>"; labs add a letter: "mge2e<N>a"
	f      *os.File

	mu   sync.Mutex
	labs [LabsPerSlot]bool
}

// takeLab reserves a lab index of the slot.
func (s *Slot) takeLab() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, used := range s.labs {
		if !used {
			s.labs[k] = true
			return k, nil
		}
	}
	return 0, fmt.Errorf("slot %d: all %d labs in use", s.N, LabsPerSlot)
}

func (s *Slot) releaseLab(k int) {
	s.mu.Lock()
	s.labs[k] = false
	s.mu.Unlock()
}

// SlotPrefix is the name prefix of slot n.
func SlotPrefix(n int) string { return "mge2e" + strconv.Itoa(n) }

// AcquireSlot takes the first free slot (flock, held until Release or the
// process exits). It first sweeps the leftovers of every free slot.
func AcquireSlot() (*Slot, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, err
	}
	var held *Slot
	for n := range MaxSlots {
		f, ok, err := tryLock(n)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue // another live run holds it
		}
		if err := Sweep(SlotPrefix(n)); err != nil {
			f.Close()
			return nil, fmt.Errorf("sweep leftovers of slot %d: %w", n, err)
		}
		if held == nil {
			held = &Slot{N: n, Prefix: SlotPrefix(n), f: f}
			continue
		}
		f.Close() // swept, not needed
	}
	if held == nil {
		return nil, fmt.Errorf("all %d e2e slots are taken (locks in %s)", MaxSlots, lockDir)
	}
	return held, nil
}

// Release frees the slot. The caller must have closed its lab.
func (s *Slot) Release() error { return s.f.Close() }

func tryLock(n int) (*os.File, bool, error) {
	f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("slot%d.lock", n)), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

// Sweep removes everything whose name starts with prefix followed by a lab
// letter, or is prefix followed by "-" (a lab of a slot, or one lab): it kills the
// processes inside such network namespaces (by pid, SIGKILL), deletes the
// namespaces, and deletes such links of the current namespace. Only call it
// for a prefix no live run holds.
func Sweep(prefix string) error {
	var errs []error
	nss, err := listNetns()
	if err != nil {
		return err
	}
	for _, ns := range nss {
		if !ownedBy(ns, prefix) {
			continue
		}
		if err := killNetnsPids(ns); err != nil {
			errs = append(errs, err)
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !gone(out) {
			errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", ns, err, out))
		}
	}
	links, err := listLinks()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range links {
		if ownedBy(l, prefix) {
			// Deleting a namespace takes the peers of its veths with it,
			// asynchronously: a link listed a moment ago may be gone.
			if out, err := exec.Command("ip", "link", "del", l).CombinedOutput(); err != nil && !gone(out) {
				errs = append(errs, fmt.Errorf("ip link del %s: %v: %s", l, err, out))
			}
		}
	}
	return errors.Join(errs...)
}

// gone reports whether ip's output says the object does not exist.
func gone(out []byte) bool {
	s := string(out)
	return strings.Contains(s, "Cannot find device") || strings.Contains(s, "No such file or directory")
}

// ownedBy reports whether name belongs to prefix: prefix + "-..." or, for a
// slot prefix, prefix + lab letter + "-...".
func ownedBy(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	if len(rest) > 1 && rest[0] >= 'a' && rest[0] <= 'z' {
		rest = rest[1:]
	}
	return strings.HasPrefix(rest, "-")
}

func listNetns() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

func listLinks() ([]string, error) {
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip link show: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		// "12: mge2e0-h@if11: <...>"
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		names = append(names, name)
	}
	return names, nil
}

// killNetnsPids kills, by pid, every process living in namespace ns.
func killNetnsPids(ns string) error {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return fmt.Errorf("ip netns pids %s: %w", ns, err)
	}
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}
