package kubetest

import (
	"fmt"

	"github.com/meshgate/meshgate/test/proc"
)

// process is one child (etcd or kube-apiserver) that can be started again
// with the same command line after it was stopped or killed.
type process = proc.Proc

// exitErr describes how the last run of p ended.
func exitErr(p *process) error {
	if err := p.ExitErr(); err != nil {
		return fmt.Errorf("%s exited: %w", p.Name, err)
	}
	return fmt.Errorf("%s exited with status 0", p.Name)
}
