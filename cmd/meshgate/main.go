// Command meshgate is the meshgate daemon and its tools. See README.md.
package main

import (
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
)

// commands are the constructors of meshgate's subcommands. Each subcommand
// lives in its own file and registers its constructor in an init function;
// newRootCmd builds a fresh tree (tests run several command lines).
var commands []func() *cobra.Command

func register(newCmd func() *cobra.Command) { commands = append(commands, newCmd) }

// newRootCmd returns the meshgate command with every subcommand.
func newRootCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "meshgate",
		Short: "meshgate: a control plane for multi-cluster, multi-network service meshes",
		Long: `meshgate: a control plane for multi-cluster, multi-network service meshes.

Exit status, for every command: 0 success; 1 the command line is malformed (unknown
command or flag, a flag without its value, a missing required flag, wrong arguments) or
the work failed (I/O, network, the daemon's answer); 2 input was rejected: a flag value,
a config file or objects that fail validation (the error names the flag, key or object).`,
		Example: `  meshgate run --config-dir deploy/examples/quickstart
  meshgate translate -f deploy/examples/quickstart -o yaml
  meshgate version`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			cliflag.WarnDeprecated(cmd.Flags(), cmd.ErrOrStderr())
			// Until a command with --log-level/--log-format sets its own,
			// whatever logs (client-go, gRPC, Go's log package) does so
			// through slog, text at info, on stderr.
			l, _ := cliflag.Logger("info", "text", cmd.ErrOrStderr())
			useLogger(l)
		},
	}
	// A flag value that does not parse (a bad duration, number or label) is
	// rejected input, like the values the commands check themselves.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		var bad *pflag.InvalidValueError
		if errors.As(err, &bad) {
			return rejected(err)
		}
		return err
	})
	for _, c := range commands {
		cmd.AddCommand(c())
	}
	// cobra's completion command, made now (not at Execute) so that it
	// gets examples like every other command.
	cmd.InitDefaultCompletionCmd()
	for _, c := range cmd.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = "  meshgate completion bash > /etc/bash_completion.d/meshgate\n  source <(meshgate completion zsh)"
		for _, sh := range c.Commands() {
			sh.Example = "  meshgate completion " + sh.Name() + " > meshgate-completion." + sh.Name()
		}
	}
	return cmd
}

// Exit codes (README "Exit status").
const (
	exitFailed   = 1 // malformed command line, or the work failed
	exitRejected = 2 // a flag value, config file or object was rejected
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// rejected is err as rejected input (exit 2).
func rejected(err error) error { return &exitError{code: exitRejected, err: err} }

// failed is err as a failure of the work (exit 1).
func failed(err error) error { return &exitError{code: exitFailed, err: err} }

// exitCode is the process exit code of Execute's error.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

// execute runs the command line args and returns the exit code, the error
// (if any) written to stderr.
func execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	if err.Error() != "" {
		io.WriteString(stderr, "meshgate: "+err.Error()+"\n")
	}
	return exitCode(err)
}

func main() {
	os.Exit(execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
