package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/federation"
)

func init() { register(newKeyringCmd) }

func newKeyringCmd() *cobra.Command {
	admin := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "keyring",
		Short: "Generate gossip keys and rotate a daemon's gossip keyring",
		Long: `Gossip between meshgate daemons is encrypted with AES-256 keys. A keyring
file holds base64 keys, one a line, the primary first.

Rotate without downtime, like consul keyring, one step at a time on EVERY
daemon of the mesh before the next step:

  meshgate keyring generate                           # prints NEW
  meshgate keyring install --admin-address ADDR NEW   # on every daemon
  meshgate keyring use     --admin-address ADDR NEW   # on every daemon
  meshgate keyring remove  --admin-address ADDR OLD   # on every daemon

use and remove take a key or the fingerprint list shows. KEY "-" reads the
key from standard input (keeps it out of the shell history).

--admin-address defaults to the daemon's loopback admin API (` + defaultAdmin + `); in
Kubernetes run the command in the daemon's pod:

  kubectl -n istio-system exec -i deploy/istio-eastwestgateway -c meshgate \
    -- meshgate keyring install - <new.key`,
		Example: `  meshgate keyring generate > new.key
  meshgate keyring install - < new.key
  meshgate keyring list --admin-address unix:/var/run/meshgate/admin.sock`,
	}
	admin.bind(cmd.PersistentFlags())
	cmd.AddCommand(&cobra.Command{
		Use:     "generate",
		Short:   "Print a new random base64 AES-256 gossip key",
		Example: "  meshgate keyring generate > new.key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := federation.GenerateKey()
			if err != nil {
				return failed(err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "list [--admin-address ADDR]",
		Short:   "List the daemon's keys by fingerprint (first 8 hex digits of their SHA-256)",
		Example: "  meshgate keyring list\n  meshgate keyring list --admin-address unix:/var/run/meshgate/admin.sock",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return keyringCall(cmd, admin, func(ctx context.Context, c *federation.AdminClient) (federation.KeyringResponse, error) {
				return c.Keys(ctx)
			})
		},
	})
	for _, op := range []struct {
		name, short, example string
		call                 func(*federation.AdminClient, context.Context, string) (federation.KeyringResponse, error)
	}{
		{"install", "Install a key for decryption (step 1)", "\"$(cat new.key)\"", (*federation.AdminClient).InstallKey},
		{"use", "Make an installed key the primary, used to encrypt (step 2)", "\"$(cat new.key)\"", (*federation.AdminClient).UseKey},
		{"remove", "Remove a key that is not the primary (step 3)", "3f2a9c1b   # a fingerprint that list shows", (*federation.AdminClient).RemoveKey},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:     op.name + " [--admin-address ADDR] KEY",
			Short:   op.short,
			Example: "  meshgate keyring " + op.name + " " + op.example + "\n  meshgate keyring " + op.name + " - < key.txt   # KEY from standard input",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				key, err := keyArg(cmd.InOrStdin(), args[0])
				if err != nil {
					return rejected(fmt.Errorf("keyring %s: %w", op.name, err))
				}
				return keyringCall(cmd, admin, func(ctx context.Context, c *federation.AdminClient) (federation.KeyringResponse, error) {
					return op.call(c, ctx, key)
				})
			},
		})
	}
	return cmd
}

// keyArg returns the KEY argument, reading it from in when it is "-".
func keyArg(in io.Reader, arg string) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("no key on standard input")
	}
	return line, nil
}

func keyringCall(cmd *cobra.Command, admin *adminFlags, call func(context.Context, *federation.AdminClient) (federation.KeyringResponse, error)) error {
	c, err := admin.client()
	if err != nil {
		return rejected(err)
	}
	ctx, cancel := context.WithTimeout(cmdContext(cmd), 30*time.Second)
	defer cancel()
	resp, err := call(ctx, c)
	if err != nil {
		return failed(err)
	}
	out := cmd.OutOrStdout()
	for _, k := range resp.Keys {
		primary := ""
		if k.Primary {
			primary = "  primary"
		}
		fmt.Fprintf(out, "%s%s\n", k.Fingerprint, primary)
	}
	if resp.Warning != "" {
		slog.Warn(resp.Warning)
	}
	return nil
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
