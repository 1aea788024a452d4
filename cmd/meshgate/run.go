package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/cmd/internal/daemon"
)

func init() {
	cfg := daemon.DefaultConfig()
	var file string
	cmd := &cobra.Command{
		Use:   "run (--config-dir DIR | --kubeconfig FILE | --in-cluster) [flags]",
		Short: "Run the control plane: serve xDS to gateways from Kubernetes or a directory of YAML",
		Long: `Run the meshgate control plane. It reads Kubernetes and Istio objects from
--config-dir (watched for changes), or from the API server of --kubeconfig or of
the cluster it runs in (--in-cluster), translates them for each connected
gateway, and serves the result over ADS (xDS, state of the world and delta) on
--xds-address (plaintext: loopback only unless --insecure-xds) and, in-cluster
or with --secure-xds-address, on a TLS port where every caller proves its
identity (SVID or service-account token) and Istio's CA service
(CreateCertificate) is served too. The monitoring port (--monitoring-address, default
127.0.0.1:15014) serves only /metrics, /healthz and /readyz. The admin API (--admin-address,
default 127.0.0.1:9901, or unix:PATH) serves /debug/proxies, /debug/config_dump?proxy=<node id>,
/debug/clusters and /federation/ (meshgate keyring, meshgate members); off loopback it needs
--admin-allow ns/sa,... and then requires TLS and an allowed caller (client SVID, or a
service-account token for audience meshgate-admin).

With the Kubernetes source, the remote secrets in --namespace (label
istio/multiCluster=true, as made by 'meshgate create-remote-secret' and applied
with 'meshgate join') add the services and endpoints of other clusters, and
/debug/clusters shows the state of every watched cluster.

Settings can also come from --config FILE (YAML, same names as the flags);
flags override the file. SIGTERM or SIGINT stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemon.Resolve(cfg, file, cmd.Flags())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := c.Validate(); err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := daemon.RunUntilSignal(c, daemon.NewLogger(c, os.Stderr), nil); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	daemon.BindFlags(cmd.Flags(), &cfg)
	cmd.Flags().StringVar(&file, "config", "", "YAML config file (keys named like the flags)")
	rootCmd.AddCommand(cmd)
}
