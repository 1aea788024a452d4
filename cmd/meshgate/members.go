package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/federation"
)

func init() { register(newMembersCmd) }

func newMembersCmd() *cobra.Command {
	var admin adminFlags
	cmd := &cobra.Command{
		Use:   "members [--admin-address ADDR]",
		Short: "List the mesh's daemons as one daemon sees them",
		Long: `List the gossip members known to the daemon at --admin-address: name, address,
cluster, state (alive or dead), the generation of the cluster state it holds,
whether that cluster is in its remote set, and when it last heard of it.

The admin API listens on loopback (default ` + defaultAdmin + `) or a Unix socket:
in Kubernetes, run it in the daemon's pod:

  kubectl -n istio-system exec deploy/istio-eastwestgateway -c meshgate -- meshgate members`,
		Example: `  meshgate members
  meshgate members --admin-address unix:/var/run/meshgate/admin.sock
  meshgate members --admin-address https://meshgate.istio-system.svc:9901 --ca-root root-cert.pem \
    --token-file token   # kubectl create token SA --audience meshgate-admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmdContext(cmd), 30*time.Second)
			defer cancel()
			c, err := admin.client()
			if err != nil {
				return rejected(err)
			}
			resp, err := c.Members(ctx)
			if err != nil {
				return failed(err)
			}
			printMembers(cmd, resp, time.Now())
			return nil
		},
	}
	admin.bind(cmd.Flags())
	return cmd
}

func printMembers(cmd *cobra.Command, resp federation.MembersResponse, now time.Time) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "NAME\tADDRESS\tCLUSTER\tSTATE\tGENERATION\tIN REMOTE SET\tLEADS\tSTATE SINCE\tLAST SEEN\n")
	for _, m := range resp.Members {
		name, inSet := m.Name, fmt.Sprint(m.Visible)
		if m.Local {
			name, inSet = name+" (self)", "-"
		}
		leads := "-" // no lease: one daemon per cluster, or a replica that does not lead
		if m.Leader && m.Lease != nil {
			leads = fmt.Sprintf("%s (%s, term %d)", m.Cluster, m.Lease.Holder, m.Lease.Transitions)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", name, m.Address, m.Cluster, m.State, m.Generation, inSet,
			leads, ago(now, m.StateSince), ago(now, m.LastSeen))
	}
	w.Flush()
	for _, m := range resp.Members {
		if m.Local && len(m.SealedFor) > 0 { // names only: the secret itself is never shown
			fmt.Fprintf(cmd.OutOrStdout(), "\nthis cluster's remote secret is sealed for: %s\n", strings.Join(m.SealedFor, ", "))
		}
	}
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}
