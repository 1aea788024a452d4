// Package cliflag holds the flags that mean the same thing in several
// meshgate commands: one name, one value syntax and one default per meaning,
// so that `--xds-address`, `--label`, `--network`, `--namespace`,
// `--cluster-id`, `--ca-dir`, `--log-level`... read the same in `run`,
// `gateway`, `bootstrap`, `agent`, `translate` and the admin clients.
//
//	cmd/meshgate (each command) ─┐
//	cmd/internal/daemon.BindFlags ┴─▶ cliflag.String/Labels/... ─▶ pflag.FlagSet (+ annotation Shared)
//	                                  cliflag.Alias ─▶ old name: hidden, deprecated, same Value
//
// Every flag a helper defines carries the annotation Shared, so a test can
// walk the command tree and check that no command defines one of these names
// by hand. Old names stay as aliases (Alias): hidden from --help, still
// accepted, and WarnDeprecated (called by the root command before any
// command runs) prints "flag --old is deprecated, use --new instead" to
// stderr when one is used.
//
// Imports only: the standard library and github.com/spf13/pflag.
package cliflag
