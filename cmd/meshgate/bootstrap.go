package main

import (
	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

func init() { register(newBootstrapCmd) }

func newBootstrapCmd() *cobra.Command {
	var (
		o      bootstrap.Options
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
		Example: `  # the quickstart's ingress gateway, on the daemon's loopback plaintext port
  meshgate bootstrap --label istio=ingressgateway \
    --node-id 'router~127.0.0.10~ingress-0.istio-system~istio-system.svc.cluster.local' > envoy.json
  # in a pod, beside meshgate agent: TLS to the secure port
  meshgate bootstrap --node-id "router~$POD_IP~$POD.istio-system~istio-system.svc.cluster.local" \
    --xds-address meshgate.istio-system.svc:15012 --sds-socket /var/run/meshgate/sds.sock -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cliflag.CheckOutput(output, "json", "yaml"); err != nil {
				return rejected(err)
			}
			var out []byte
			var err error
			if grpc {
				out, err = bootstrap.GRPC(o)
			} else {
				b, berr := bootstrap.Envoy(o)
				if berr != nil {
					return rejected(berr)
				}
				out, err = bootstrap.Marshal(b, output)
			}
			if err != nil {
				return rejected(err)
			}
			if _, err = cmd.OutOrStdout().Write(out); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	cliflag.String(f, &o.NodeID, cliflag.NodeID, "", "Istio node id, router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local (required)")
	cliflag.String(f, &o.XDSAddress, cliflag.XDSAddress, "127.0.0.1:15010", "the daemon's xDS address, host:port; for Envoy several, comma-separated (replicas without a Service in front: endpoints of xds-grpc)")
	cliflag.Labels(f, &o.Labels, nil, "gateway pod label k=v (repeatable), sent as LABELS; Gateways select on these")
	cliflag.String(f, &o.Namespace, cliflag.Namespace, "", "NAMESPACE metadata (default: the node id's namespace)")
	cliflag.String(f, &o.Network, cliflag.Network, "", "NETWORK metadata")
	cliflag.String(f, &o.ClusterID, cliflag.ClusterID, model.DefaultClusterID, "CLUSTER_ID metadata")
	cliflag.Var(f, localityFlag{&o.Locality}, cliflag.Locality, "the gateway's locality, region[/zone[/subzone]] (node.locality: locality load balancing is relative to it)")
	cliflag.String(f, &o.AdminAddress, cliflag.AdminAddress, "127.0.0.1:15000", "Envoy's admin listener, host:port")
	cliflag.OutputFlag(f, &output, "json", "yaml")
	f.BoolVar(&grpc, "grpc", false, "print a gRPC-Go xDS bootstrap (proxyless client) instead")
	f.StringVar(&o.SDSSocket, "sds-socket", "", "meshgate agent's SDS socket (absolute path): connect to the daemon's secure port over TLS with the pod's SVID from it")
	f.StringVar(&o.XDSCertDir, "xds-cert-dir", "", "instead of --sds-socket (tests, development): a directory written by 'meshgate cert issue', for TLS to the secure port (read once at Envoy's start)")
	cliflag.String(f, &o.XDSServerName, cliflag.XDSServerName, "", "with --sds-socket or --xds-cert-dir: the DNS name the daemon's certificate must carry (default: the --xds-address host)")
	f.StringVar(&o.CertDir, "cert-dir", "", "with --grpc: a directory written by 'meshgate cert issue', served by a file_watcher certificate provider for mesh mTLS")
	_ = cmd.MarkFlagRequired(string(cliflag.NodeID))
	return cmd
}

// localityFlag is a region[/zone[/subzone]] flag value.
type localityFlag struct{ l *model.Locality }

func (f localityFlag) String() string {
	if f.l == nil {
		return ""
	}
	return f.l.String()
}
func (f localityFlag) Set(s string) (err error) { *f.l, err = model.ParseLocality(s); return err }
func (f localityFlag) Type() string             { return "string" }
