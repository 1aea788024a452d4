package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/discovery/remote"
)

func init() { register(newJoinCmd) }

type joinFlags struct {
	secretFile          string
	namespace           string
	verify              bool
	allowInsecure       bool
	kubeconfig, context string
}

func newJoinCmd() *cobra.Command {
	var f joinFlags
	cmd := &cobra.Command{
		Use:   "join --remote-secret FILE [--kubeconfig F] [--context X] [--namespace NS]",
		Short: "Validate another cluster's remote secret and apply it to this cluster",
		Long: `Read a remote secret (from 'meshgate create-remote-secret' or 'istioctl
create-remote-secret'; FILE "-" is stdin), check it and create or update it in
this cluster's --namespace, where the daemon watches remote secrets.

Checks: a v1 Secret named istio-remote-secret-<cluster>, label
istio/multiCluster: "true", annotation networking.istio.io/cluster: <cluster>,
exactly one key <cluster> holding a kubeconfig without exec plugins, auth
providers or file references, whose server is https with certificate-authority-data,
without insecure-skip-tls-verify or proxy-url (unless --allow-insecure-remote,
for development: each field it lets through is printed as a warning, and the
daemon needs the same setting to use the secret); and (unless --verify=false)
that the remote API server lists services with its credentials. A secret that
fails a check is not applied (exit 2).`,
		Example: `  meshgate join --remote-secret cluster-b.yaml
  meshgate create-remote-secret --context kind-b --cluster-id cluster-b | meshgate join --context kind-a --remote-secret -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runJoin(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.secretFile, "remote-secret", "", "the remote secret file (- for stdin)")
	cliflag.String(fl, &f.namespace, cliflag.Namespace, "", "namespace to apply it in (default: the secret's, else istio-system)")
	fl.BoolVar(&f.verify, "verify", true, "check that the remote API server accepts the secret's credentials")
	fl.BoolVar(&f.allowInsecure, "allow-insecure-remote", false, "accept an http:// server, insecure-skip-tls-verify, proxy-url or no CA data (development only; warned)")
	cliflag.KubeconfigFlags(fl, &f.kubeconfig, &f.context)
	_ = cmd.MarkFlagRequired("remote-secret")
	return cmd
}

func runJoin(cmd *cobra.Command, f joinFlags) error {
	var data []byte
	var err error
	if f.secretFile == "-" {
		data, err = io.ReadAll(cmd.InOrStdin())
	} else {
		data, err = os.ReadFile(f.secretFile)
	}
	if err != nil {
		return failed(fmt.Errorf("join: %w", err))
	}
	s, err := remote.ReadRemoteSecret(data)
	if err != nil {
		return rejected(fmt.Errorf("join: %s: %w", f.secretFile, err))
	}
	policy := remote.Policy{AllowInsecure: f.allowInsecure}
	if _, err := policy.ValidateRemoteSecret(s); err != nil {
		return rejected(fmt.Errorf("join: %w", err)) // before touching the local cluster
	}
	cfg, err := loadRESTConfig(f.kubeconfig, f.context)
	if err != nil {
		return failed(fmt.Errorf("join: %w", err))
	}
	res, err := remote.Join(cmd.Context(), cfg, s, remote.JoinOptions{Namespace: f.namespace, Verify: f.verify, AllowInsecure: f.allowInsecure})
	if err != nil {
		return failed(fmt.Errorf("join: %w", err))
	}
	for _, field := range res.Insecure {
		slog.Warn("an insecure field of the remote secret is admitted by --allow-insecure-remote (the daemon needs allow-insecure-remote too)", "secret", res.Secret, "field", field)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "remote secret %s for cluster %s (%s): %s\n", res.Secret, res.Cluster, res.Server, res.Action)
	return nil
}
