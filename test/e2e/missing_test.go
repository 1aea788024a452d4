//go:build e2e

package e2e

import (
	"fmt"
	"strings"
)

// pendingOn says which branch brings each capability the suite needs.
var pendingOn = map[string]string{
	"run":                  "`meshgate run` (xds-server branch)",
	"kubeconfig":           "`meshgate run --kubeconfig`, the Kubernetes source (kube branch)",
	"gossip":               "`meshgate run --gossip-address/--join/--gossip-key-file` (federation branch)",
	"identity":             "the daemon's identity CA (`--ca-dir`, SDS default/ROOTCA)",
	"create-remote-secret": "`meshgate create-remote-secret` (kube branch)",
	"join":                 "`meshgate join` (kube branch)",
	"keyring":              "`meshgate keyring` (federation branch)",
	"members":              "`meshgate members` (federation branch)",
}

func missingErr(miss []string) error {
	var parts []string
	for _, m := range miss {
		if p, ok := pendingOn[m]; ok {
			parts = append(parts, p)
		} else {
			parts = append(parts, "`meshgate "+m+"`")
		}
	}
	return fmt.Errorf("the meshgate binary lacks %s", strings.Join(parts, "; "))
}
