package meshlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// EnvBinary names a prebuilt meshgate binary to use instead of building one
// (for soak runs against a release build).
const EnvBinary = "MESHGATE_E2E_BINARY"

// BuildBinary builds ./cmd/meshgate of this repository into dir (once per
// test run), or returns $MESHGATE_E2E_BINARY.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	if b := os.Getenv(EnvBinary); b != "" {
		if _, err := os.Stat(b); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, b, err)
		}
		return b, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "meshgate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/meshgate")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/meshgate: %v\n%s", err, b)
	}
	return out, nil
}

func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("cannot locate the repository (built with -trimpath?): set " + EnvBinary)
	}
	return filepath.Join(filepath.Dir(file), "..", "..", ".."), nil
}

// Capabilities are what the meshgate binary offers, read from its help.
// The suite adapts its daemon command line to them and says what is missing.
type Capabilities struct {
	Run        bool // meshgate run
	Kubeconfig bool // meshgate run --kubeconfig (Kubernetes source)
	Gossip     bool // meshgate run --gossip-address (federation)
	IdentityCA bool // meshgate run --cacerts: SDS default/ROOTCA from a plugged-in CA
	Commands   map[string]bool
	RunFlags   string // help text of meshgate run, for messages
}

// Probe reads the capabilities of bin.
func Probe(bin string) (Capabilities, error) {
	c := Capabilities{Commands: map[string]bool{}}
	top, err := exec.Command(bin, "--help").Output()
	if err != nil {
		return c, fmt.Errorf("%s --help: %w", bin, err)
	}
	inCmds := false
	for _, line := range strings.Split(string(top), "\n") {
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			inCmds = true
		case inCmds && strings.TrimSpace(line) == "":
			inCmds = false
		case inCmds:
			if f := strings.Fields(line); len(f) > 0 {
				c.Commands[f[0]] = true
			}
		}
	}
	if !c.Commands["run"] {
		return c, nil
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "run", "--help")
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return c, fmt.Errorf("%s run --help: %w", bin, err)
	}
	c.Run = true
	c.RunFlags = out.String()
	c.Kubeconfig = strings.Contains(c.RunFlags, "--kubeconfig")
	c.Gossip = strings.Contains(c.RunFlags, "--gossip-address")
	c.IdentityCA = strings.Contains(c.RunFlags, "--cacerts")
	return c, nil
}

// Missing lists, for a message, what of want the binary lacks.
func (c Capabilities) Missing(want ...string) []string {
	var miss []string
	for _, w := range want {
		ok := false
		switch w {
		case "run":
			ok = c.Run
		case "kubeconfig":
			ok = c.Kubeconfig
		case "gossip":
			ok = c.Gossip && c.Commands["keyring"] && c.Commands["members"]
		case "identity":
			ok = c.IdentityCA
		default:
			ok = c.Commands[w]
		}
		if !ok {
			miss = append(miss, w)
		}
	}
	return miss
}
