package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

func init() {
	var (
		o      bootstrap.Options
		labels []string
		output string
		grpc   bool
	)
	cmd := &cobra.Command{
		Use:   "bootstrap --node-id ID [--xds-address HOST:PORT] [--label k=v]...",
		Short: "Print an Envoy v3 bootstrap that connects a gateway to meshgate over ADS",
		Long: `Print an Envoy v3 bootstrap (JSON or YAML) for a gateway: node id and metadata
(LABELS, NAMESPACE, NETWORK, CLUSTER_ID) as meshgate reads them, an admin listener,
the xds-grpc cluster (HTTP/2) to the daemon, and listeners and clusters over ADS.
With --sds-socket (the socket of 'meshgate agent' beside Envoy), xds-grpc speaks TLS to the
daemon's secure port (15012): Envoy's client certificate is the pod's SVID and the daemon's
certificate is checked against the mesh root and --xds-server-name, both from the agent.
With --grpc, print the xDS bootstrap of a proxyless gRPC-Go client instead
(GENERATOR=grpc; point GRPC_XDS_BOOTSTRAP at it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Labels = map[string]string{}
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return &exitError{code: 2, err: fmt.Errorf("--label %q: want key=value", l)}
				}
				o.Labels[k] = v
			}
			var out []byte
			var err error
			if grpc {
				out, err = bootstrap.GRPC(o)
			} else {
				b, berr := bootstrap.Envoy(o)
				if berr != nil {
					return &exitError{code: 2, err: berr}
				}
				out, err = bootstrap.Marshal(b, output)
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			_, err = os.Stdout.Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.NodeID, "node-id", "", "Istio node id, router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local (required)")
	f.StringVar(&o.XDSAddress, "xds-address", "127.0.0.1:15010", "the daemon's xDS address, host:port")
	f.StringArrayVar(&labels, "label", nil, "gateway pod label k=v (repeatable); Gateways select on these")
	f.StringVar(&o.Namespace, "namespace", "", "NAMESPACE metadata (default: the node id's namespace)")
	f.StringVar(&o.Network, "network", "", "NETWORK metadata")
	f.StringVar(&o.ClusterID, "cluster-id", model.DefaultClusterID, "CLUSTER_ID metadata")
	f.StringVar(&o.AdminAddress, "admin-address", "127.0.0.1:15000", "Envoy admin listener, host:port")
	f.StringVarP(&output, "output", "o", "json", "json or yaml")
	f.BoolVar(&grpc, "grpc", false, "print a gRPC-Go xDS bootstrap (proxyless client) instead")
	f.StringVar(&o.SDSSocket, "sds-socket", "", "meshgate agent's SDS socket (absolute path): connect to the daemon's secure port over TLS with the pod's SVID from it")
	f.StringVar(&o.XDSCertDir, "xds-cert-dir", "", "instead of --sds-socket (tests, development): directory of `meshgate cert issue` output for TLS to the secure port, read once at Envoy's start")
	f.StringVar(&o.XDSServerName, "xds-server-name", "", "with --sds-socket or --xds-cert-dir: the DNS name the daemon's certificate must carry (default: the --xds-address host)")
	f.StringVar(&o.CertDir, "cert-dir", "", "with --grpc: directory of `meshgate cert issue` output, served by a file_watcher certificate provider for mesh mTLS")
	_ = cmd.MarkFlagRequired("node-id")
	rootCmd.AddCommand(cmd)
}
