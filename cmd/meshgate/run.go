package main

import (
	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/cmd/internal/daemon"
)

func init() { register(newRunCmd) }

func newRunCmd() *cobra.Command {
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
default 127.0.0.1:9901, or unix:PATH) serves /debug/proxies, /debug/config_dump?proxy=<node id>
(what a gateway was sent, or, before it connects, what it would receive), /debug/clusters and
/federation/ (meshgate keyring, meshgate members); off loopback it needs
--admin-allow ns/sa,... and then requires TLS and an allowed caller (client SVID, or a
service-account token for audience meshgate-admin).

With the Kubernetes source, the remote secrets in --namespace (label
istio/multiCluster=true, as made by 'meshgate create-remote-secret' and applied
with 'meshgate join') add the services and endpoints of other clusters, and
/debug/clusters shows the state of every watched cluster.

Settings can also come from --config FILE (YAML, keys named like the flags);
flags override the file. SIGTERM or SIGINT stops it gracefully. Exit status 2:
a setting or the config file was rejected (the error names the key).`,
		Example: `  # the quickstart: a watched directory of YAML, everything on loopback
  meshgate run --config-dir deploy/examples/quickstart
  # in a cluster (deploy/meshgate/30-deployment.yaml)
  meshgate run --in-cluster --namespace istio-system --cluster-id cluster1 --network network1 \
    --cacerts /etc/cacerts --gossip-address 0.0.0.0:7946 --gossip-key-file /var/run/meshgate/gossip.keys
  # settings from a file (keys named like the flags), one of them overridden
  meshgate run --config meshgate.yaml --log-level debug`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, notes, err := daemon.Resolve(cfg, file, cmd.Flags())
			if err != nil {
				return rejected(err)
			}
			if err := c.Validate(); err != nil {
				return rejected(err)
			}
			log := daemon.NewLogger(c, cmd.ErrOrStderr())
			useLogger(log)
			for _, n := range notes {
				log.Warn(n)
			}
			if err := daemon.RunUntilSignal(c, log, nil); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	daemon.BindFlags(cmd.Flags(), &cfg)
	cmd.Flags().StringVar(&file, "config", "", "YAML config file (keys named like the flags)")
	return cmd
}
