package envoytest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ValidateTimeout bounds one `envoy --mode validate` run (it takes ~0.2 s).
const ValidateTimeout = 30 * time.Second

// Validate runs `envoy --mode validate` on bootstrap (JSON), written to
// dir/bootstrap.json. Validation mode builds every listener, cluster, route
// and secret without binding a port or opening a connection. A rejection is
// an error holding Envoy's message (without the configuration it echoes).
// warnings are the distinct messages Envoy logged at level warning (e.g. a
// deprecated field).
func Validate(envoy string, bootstrap []byte, dir string) (warnings []string, err error) {
	path := filepath.Join(dir, "bootstrap.json")
	if err := os.WriteFile(path, bootstrap, 0o600); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ValidateTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, envoy, "--mode", "validate", "-c", path,
		// No shared memory, no hot-restart socket: validations may run side by side.
		"--disable-hot-restart", "--log-level", "warning")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	seen := map[string]bool{}
	for _, m := range warningRE.FindAllStringSubmatch(out.String(), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			warnings = append(warnings, m[1])
		}
	}
	if err == nil && strings.Contains(out.String(), "OK") {
		return warnings, nil
	}
	if err == nil {
		err = fmt.Errorf("exit status 0 without OK")
	}
	return warnings, fmt.Errorf("envoy --mode validate: %v: %s", err, rejection(out.String()))
}

var warningRE = regexp.MustCompile(`(?m)^\[[^\]]*\]\[\d+\]\[warning\]\[[a-z]+\] \[[^\]]*\] (.*)$`)

var criticalRE = regexp.MustCompile(`(?m)^\[[^\]]*\]\[\d+\]\[critical\]\[[a-z]+\] \[[^\]]*\] (.*)$`)

// rejection extracts Envoy's message from its log: the critical line, cut
// before the configuration that a JSON parse error echoes.
func rejection(log string) string {
	m := criticalRE.FindStringSubmatch(log)
	if m == nil {
		return strings.TrimSpace(log)
	}
	msg := m[1]
	if i := strings.Index(msg, "): {"); i >= 0 {
		msg = msg[:i+1]
	}
	return msg
}
