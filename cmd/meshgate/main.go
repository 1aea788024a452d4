// Command meshgate is the meshgate daemon and its tools. See README.md.
package main

import (
	"os"

	"github.com/spf13/cobra"
)

// rootCmd is the meshgate command. Each subcommand lives in its own file and
// registers itself with rootCmd in an init function.
var rootCmd = &cobra.Command{
	Use:           "meshgate",
	Short:         "meshgate: a control plane for multi-cluster, multi-network service meshes",
	SilenceUsage:  true,
	SilenceErrors: true,
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	if err := rootCmd.Execute(); err != nil {
		code := 1
		if ee, ok := err.(*exitError); ok {
			code = ee.code
		}
		if err.Error() != "" {
			os.Stderr.WriteString("meshgate: " + err.Error() + "\n")
		}
		os.Exit(code)
	}
}
