package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/xds/translate"
)

type explainFlags struct {
	in     translateFlags // offline: the input and the proxy, as translate's
	admin  adminFlags
	nodeID string
	q      translate.Query
	output string
	// labelsSet says --label was given (for a daemon's preview: else the
	// labels of the node's pod).
	labelsSet bool
}

func init() { register(newExplainCmd) }

func newExplainCmd() *cobra.Command {
	f := &explainFlags{}
	cmd := &cobra.Command{
		Use:   "explain (--node-id ID | -f PATH ...) (--host H | --cluster-name NAME | --endpoint IP:PORT | --sni SNI)",
		Short: "Say why a gateway has, or does not have, a host, cluster, endpoint or SNI route",
		Long: `explain answers, for one gateway, why it has a route for a host, a cluster, an endpoint or an
SNI route, naming the objects that produced it (kind, namespace/name, file or kube:<cluster>,
the cluster and the generation of its state), or why it does not: no Gateway selects the proxy,
no server admits the host, no VirtualService routes it (or it is bound elsewhere, or hidden by
exportTo), no Service or ServiceEntry has the host, the port or subset does not exist, the
endpoint is not ready, its network has no east-west gateway, or it is reached through its
network's east-west gateway instead (split horizon).

Against a daemon with gossip, what came from another cluster also says how it was learned:
through which peer, published by which daemon, at which generation and when; and what is
missing names the clusters that had it but are not served: withdrawn at a time T after
their last daemon went down, refused (not admitted), or whose newer record was refused
(fenced, bad signature). -o json carries the same (learned, unavailableClusters).

The answer comes from the translator's own lookups, on:
  --node-id ID   the daemon at --admin-address (a connected node as it connected; another
                 one previewed: its pod's labels, or --label/--network/--cluster-id);
  -f PATH        files, offline, with translate's flags for the proxy.
Exit status: 0 answered (present or not); 1 the daemon or files could not be read; 2 a bad flag.`,
		Example: `  # why does the quickstart's ingress gateway route httpbin.example.com?
  meshgate explain -f deploy/examples/quickstart --host httpbin.example.com
  # why does cluster1's ingress gateway reach reviews v2 through 198.51.100.2?
  meshgate explain -f deploy/examples/multicluster --cluster-id cluster1 --network network1 \
    --endpoint 198.51.100.2:15443
  # against a running daemon
  meshgate explain --node-id router~10.0.0.5~ingress-0.istio-system~istio-system.svc.cluster.local \
    --cluster-name 'outbound|8000|v1|httpbin.default.svc.cluster.local'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runExplain(cmd, f) },
	}
	fl := cmd.Flags()
	f.in.bindInput(fl)
	f.admin.bind(fl)
	cliflag.String(fl, &f.nodeID, cliflag.NodeID, "", "the node to explain, on the daemon at --admin-address (instead of -f)")
	fl.StringVar(&f.q.Host, "host", "", "a request host (HTTP Host, or TLS SNI at an ingress)")
	fl.StringVar(&f.q.Cluster, "cluster-name", "", "an Envoy cluster name, outbound|PORT|SUBSET|HOST")
	fl.StringVar(&f.q.Endpoint, "endpoint", "", "an endpoint, IP:PORT")
	fl.StringVar(&f.q.SNI, "sni", "", "a mesh SNI, outbound_.PORT_.SUBSET_.HOST (east-west gateways)")
	cliflag.OutputFlag(fl, &f.output, "text", "json")
	cliflag.Log(fl, &f.in.logLevel, &f.in.logFormat)
	return cmd
}

func runExplain(cmd *cobra.Command, f *explainFlags) error {
	if err := cliflag.CheckOutput(f.output, "text", "json"); err != nil {
		return rejected(err)
	}
	n := 0
	for _, s := range []string{f.q.Host, f.q.Cluster, f.q.Endpoint, f.q.SNI} {
		if s != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return rejected(errors.New("name exactly one of --host, --cluster-name, --endpoint or --sni"))
	case (f.nodeID == "") == (len(f.in.paths) == 0):
		return rejected(errors.New("name --node-id (a running daemon) or -f PATH (offline), not both"))
	}
	f.labelsSet = cliflag.Changed(cmd.Flags(), string(cliflag.Label))
	var x *translate.Explanation
	if f.nodeID != "" {
		var err error
		if x, err = explainRemote(cmdContext(cmd), f); err != nil {
			return err
		}
	} else {
		log, err := cliflag.Logger(f.in.logLevel, f.in.logFormat, cmd.ErrOrStderr())
		if err != nil {
			return rejected(err)
		}
		useLogger(log)
		in, cleanup, err := prepareTranslate(cmd.InOrStdin(), &f.in)
		defer cleanup()
		if err != nil {
			return err
		}
		for _, e := range in.objErrs {
			log.Warn("object rejected (not part of the answer)", "err", stdinNamed(e, in.paths))
		}
		if x, err = translate.Explain(in.mesh, in.proxy, in.opts, f.q); err != nil {
			return rejected(err)
		}
	}
	out := cmd.OutOrStdout()
	if f.output == "json" {
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return failed(err)
		}
		_, err = fmt.Fprintf(out, "%s\n", b)
		return err
	}
	_, err := fmt.Fprint(out, x.Text())
	return err
}

func explainRemote(ctx context.Context, f *explainFlags) (*translate.Explanation, error) {
	v := url.Values{"proxy": {f.nodeID}}
	for k, val := range map[string]string{"host": f.q.Host, "cluster": f.q.Cluster, "endpoint": f.q.Endpoint, "sni": f.q.SNI} {
		if val != "" {
			v.Set(k, val)
		}
	}
	// The preview's metadata, only when given (else the pod's labels).
	if f.labelsSet {
		for k, val := range f.in.labels {
			v.Add("label", k+"="+val)
		}
	}
	if f.in.network != "" {
		v.Set("network", f.in.network)
	}
	if f.in.clusterID != "" {
		v.Set("cluster-id", f.in.clusterID)
	}
	b, err := f.admin.get(ctx, "/debug/explain?"+v.Encode(), 16<<20)
	if err != nil {
		return nil, err
	}
	var x translate.Explanation
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, failed(fmt.Errorf("the daemon's answer: %w", err))
	}
	return &x, nil
}
