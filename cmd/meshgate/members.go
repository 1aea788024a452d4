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
cluster, state (alive or dead), the generation of the cluster state it holds
and its age (the owner's clock moved by the estimated offset), whether that
cluster is in its remote set ("refused": the operator has not admitted it, see
meshgate run --admit-cluster), the member's clock offset from this daemon
(its clock minus ours, ± the bound of the estimate's error; "-" until a timed
state request has been answered), the last convergence of a change of that
cluster (observed there until a gateway of this daemon ACKed it) and when,
and when it last heard of it. Then the clusters whose gossip the daemon
refuses, with how many messages.

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
	fmt.Fprintf(w, "NAME\tADDRESS\tCLUSTER\tSTATE\tGENERATION\tGEN AGE\tIN REMOTE SET\tLEADS\tCLOCK OFFSET\tLAST CONVERGENCE\tSTATE SINCE\tLAST SEEN\n")
	for _, m := range resp.Members {
		name, inSet := m.Name, fmt.Sprint(m.Visible)
		switch {
		case m.Local:
			name, inSet = name+" (self)", "-"
		case m.Refused:
			inSet = "refused"
		}
		leads := "-" // no lease: one daemon per cluster, or a replica that does not lead
		if m.Leader && m.Lease != nil {
			leads = fmt.Sprintf("%s (%s, term %d)", m.Cluster, m.Lease.Holder, m.Lease.Transitions)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, m.Address, m.Cluster, m.State, m.Generation,
			seconds(m.GenerationAgeSeconds), inSet, leads, clockOffset(m), convergence(now, m.LastConvergence),
			ago(now, m.StateSince), ago(now, m.LastSeen))
	}
	w.Flush()
	for _, m := range resp.Members {
		if m.Local && len(m.SealedFor) > 0 { // names only: the secret itself is never shown
			fmt.Fprintf(cmd.OutOrStdout(), "\nthis cluster's remote secret is sealed for: %s\n", strings.Join(m.SealedFor, ", "))
		}
	}
	if len(resp.Refused) == 0 {
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\nrefused clusters (not admitted: admit with --admit-cluster, --trust-pin or a joined remote secret):\n")
	w = tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "CLUSTER\tMESSAGES\tLAST FROM\tGENERATION\tFIRST SEEN\tLAST SEEN\n")
	for _, r := range resp.Refused {
		fmt.Fprintf(w, "%s\t%d\t%s\t%d\t%s\t%s\n", r.Cluster, r.Messages, r.From, r.Generation, ago(now, r.FirstSeen), ago(now, r.LastSeen))
	}
	w.Flush()
}

// seconds prints an optional number of seconds as a rounded duration.
func seconds(s *float64) string {
	if s == nil {
		return "-"
	}
	return roundDuration(time.Duration(*s * float64(time.Second))).String()
}

// roundDuration keeps three significant digits' worth: ms under a second.
func roundDuration(d time.Duration) time.Duration {
	if d.Abs() < time.Second {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// clockOffset prints a member's clock offset and its error bound ("-"
// before any timed exchange with it).
func clockOffset(m federation.Member) string {
	if m.ClockOffsetSeconds == nil {
		return "-"
	}
	s := seconds(m.ClockOffsetSeconds)
	if *m.ClockOffsetSeconds >= 0 {
		s = "+" + s
	}
	if m.ClockErrorSeconds != nil && !m.Local {
		s += "±" + seconds(m.ClockErrorSeconds)
	}
	return s
}

func convergence(now time.Time, c *federation.Convergence) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", seconds(&c.Seconds), ago(now, c.At))
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}
