package federation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/identity"
)

// A node's memberlist name is ClusterID-SUFFIX (Config.NodeName aside).
// With Config.NodeNameFile the suffix is kept in that file, so a restarted
// daemon comes back under its old name: memberlist then tells it its old
// incarnation (a peer's push/pull lists the name as alive, suspect or
// dead), the restarted node refutes it with a higher one, and every peer
// takes the new process as the same member at once. With a new random name
// the old one lingers as a separate member until memberlist calls it dead
// (suspicion: tens of seconds in the WAN profile, minutes after repeated
// restarts), and the cluster counts a dead member meanwhile.
//
// One file per replica: each replica of a cluster (issue 20) has its own
// file, so names stay unique per replica. A new pod (new address) with a
// new, empty state directory takes a new name, as it must: memberlist
// refuses a live name from another address (DeadNodeReclaimTime lets it
// come back from another address once dead).

const nodeSuffixBytes = 4 // 8 hex digits

func randomSuffix() string {
	b := make([]byte, nodeSuffixBytes)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return hex.EncodeToString(b)
}

// nodeName returns the node's memberlist name: cfg.NodeName when set, else
// ClusterID-SUFFIX with the suffix read from cfg.NodeNameFile (written
// with a new random one when the file is missing), or random at every
// start without a file. fresh reports a suffix made now.
func nodeName(cfg *Config) (name string, fresh bool, err error) {
	if cfg.NodeName != "" {
		return cfg.NodeName, false, nil
	}
	suffix := ""
	if cfg.NodeNameFile != "" {
		data, err := os.ReadFile(cfg.NodeNameFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return "", false, fmt.Errorf("federation: node name file: %w", err)
		default:
			suffix = strings.TrimSpace(string(data))
			if err := checkSuffix(suffix); err != nil {
				return "", false, fmt.Errorf("federation: node name file %s: %w", cfg.NodeNameFile, err)
			}
		}
	}
	if suffix == "" {
		suffix, fresh = randomSuffix(), true
		if cfg.NodeNameFile != "" {
			if err := identity.ReplaceFile(cfg.NodeNameFile, []byte(suffix+"\n"), 0o600); err != nil {
				return "", false, fmt.Errorf("federation: node name file: %w", err)
			}
		}
	}
	name = cfg.ClusterID + "-" + suffix
	if len(name) > wire.MaxNameLen {
		name = name[len(name)-wire.MaxNameLen:]
	}
	return name, fresh, nil
}

// checkSuffix accepts what randomSuffix makes: 8 lowercase hex digits.
func checkSuffix(s string) error {
	if len(s) != 2*nodeSuffixBytes {
		return fmt.Errorf("suffix %q: want %d hex digits", s, 2*nodeSuffixBytes)
	}
	if _, err := hex.DecodeString(s); err != nil || strings.ToLower(s) != s {
		return fmt.Errorf("suffix %q: want lowercase hex digits", s)
	}
	return nil
}
