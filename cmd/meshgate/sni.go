package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/sni"
)

func init() { register(newSNICmd) }

func newSNICmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sni",
		Short: "Build and read Istio SNI and cluster names",
		Long: `Build and read the names Istio derives from a service host, port and subset:

  SNI:          outbound_.<port>_.<subset>_.<host>   e.g. outbound_.9080_.v2_.reviews.default.svc.cluster.local
  cluster name: outbound|<port>|<subset>|<host>      e.g. outbound|9080||reviews.default.svc.cluster.local`,
		Example: `  meshgate sni encode --host reviews.default.svc.cluster.local --port 9080 --subset v2
  meshgate sni decode 'outbound|9080||reviews.default.svc.cluster.local'`,
	}
	cmd.AddCommand(newSNIEncodeCmd(), newSNIDecodeCmd())
	return cmd
}

func newSNIEncodeCmd() *cobra.Command {
	var (
		n       sni.Name
		cluster bool
	)
	cmd := &cobra.Command{
		Use:   "encode --host HOST --port PORT [--subset SUBSET] [--cluster]",
		Short: "Print the SNI (or, with --cluster, the cluster name) of a service port",
		Example: `  meshgate sni encode --host reviews.default.svc.cluster.local --port 9080 --subset v2
  meshgate sni encode --host reviews.default.svc.cluster.local --port 9080 --cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cluster {
				if err := n.ValidateCluster(); err != nil {
					return rejected(fmt.Errorf("sni encode: %w", err))
				}
				fmt.Fprintln(cmd.OutOrStdout(), n.ClusterName())
				return nil
			}
			if err := n.Validate(); err != nil {
				return rejected(fmt.Errorf("sni encode: %w", err))
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.SNI())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&n.Host, "host", "", "fully qualified service host, e.g. reviews.default.svc.cluster.local")
	f.Uint32Var(&n.Port, "port", 0, "service port (1-65535)")
	f.StringVar(&n.Subset, "subset", "", "DestinationRule subset name (empty for the whole service)")
	f.BoolVar(&cluster, "cluster", false, "print the cluster name outbound|port|subset|host instead of the SNI")
	_ = cmd.MarkFlagRequired("host")
	_ = cmd.MarkFlagRequired("port")
	return cmd
}

func newSNIDecodeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "decode NAME",
		Short: "Print the host, port and subset of an SNI or cluster name",
		Long: `Print the host, port and subset of an SNI (outbound_.<port>_.<subset>_.<host>)
or cluster name (outbound|<port>|<subset>|<host>). Exits 2 on malformed input.`,
		Example: `  meshgate sni decode outbound_.9080_.v2_.reviews.default.svc.cluster.local
  meshgate sni decode 'outbound|9080||reviews.default.svc.cluster.local'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, form, err := sni.ParseAny(args[0])
			if err != nil {
				return rejected(fmt.Errorf("sni decode: %w", err))
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "form:   %s\n", form)
			fmt.Fprintf(out, "host:   %s\n", n.Host)
			fmt.Fprintf(out, "port:   %d\n", n.Port)
			fmt.Fprintf(out, "subset: %s\n", n.Subset)
			return nil
		},
	}
}
