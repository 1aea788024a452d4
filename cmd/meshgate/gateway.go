package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/identity/caclient"
	"github.com/meshgate/meshgate/xds/dataplane"
	"github.com/meshgate/meshgate/xds/node"
)

func init() { register(newGatewayCmd) }

// gatewayFlags are the command-line settings of `meshgate gateway`.
type gatewayFlags struct {
	cfg                                 dataplane.Config
	labels                              map[string]string
	metadata                            []string
	namespace, network, clusterID       string
	xdsCA, xdsCert, xdsKey, xdsServerID string
	tokenFile, caRoot                   string
	svidTTL                             time.Duration
	logLevel, logFormat                 string
}

func newGatewayCmd() *cobra.Command {
	fl := &gatewayFlags{cfg: dataplane.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "gateway --xds-address ADDR --node-id ID [--token-file F --ca-root F] [--label k=v ...] [--metadata k=v ...] [--admin-address ADDR]",
		Short: "Run meshgate's built-in L4 gateway (an xDS data plane for east-west and TLS passthrough)",
		Long: `Run meshgate's built-in L4 gateway: a small data plane that consumes listeners, clusters,
endpoints and secrets over ADS from the meshgate daemon (or any xDS server), as Envoy would,
and serves TCP/TLS passthrough (SNI routing, AUTO_PASSTHROUGH east-west) and mesh mTLS
origination. Unsupported configuration is NACKed and the previous config keeps serving.

The node id and metadata follow Istio: --node-id router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local,
--label k=v (sent as LABELS), --network net1 (NETWORK), --cluster-id cluster1 (CLUSTER_ID),
--namespace NS (NAMESPACE), and any other metadata string with --metadata KEY=VALUE.

In a cluster, connect to the daemon's secure port (15012) with --token-file (a projected
service-account token, audience istio-ca) and --ca-root (the mesh root): the gateway obtains
its SVID from the daemon's CA (CreateCertificate), renews it at half life, and runs ADS over
TLS with it. Without them it speaks plaintext, for a daemon on loopback (the quickstart).`,
		Example: `  # the quickstart's L4 gateway, on the daemon's loopback plaintext port
  meshgate gateway --xds-address 127.0.0.1:15010 --label app=l4-gateway \
    --node-id 'router~127.0.0.1~l4-gateway-0.istio-system~istio-system.svc.cluster.local'
  # in a pod: an SVID from the daemon's CA, ADS over TLS on the secure port
  meshgate gateway --xds-address meshgate.istio-system.svc:15012 \
    --token-file /var/run/secrets/tokens/istio-token --ca-root /etc/meshgate/root-cert.pem \
    --node-id "router~$POD_IP~$POD.istio-system~istio-system.svc.cluster.local" \
    --label istio=eastwestgateway --network network1 --cluster-id cluster1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := fl.config()
			if err != nil {
				return rejected(fmt.Errorf("gateway: %w", err))
			}
			useLogger(cfg.Logger)
			g, err := dataplane.New(cfg)
			if err != nil {
				return rejected(err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := g.Run(ctx); err != nil {
				return failed(fmt.Errorf("gateway: %w", err))
			}
			return nil
		},
	}
	f := cmd.Flags()
	cliflag.String(f, &fl.cfg.XDSAddress, cliflag.XDSAddress, "", "host:port of the ADS server: the daemon's secure port (with --token-file) or its loopback plaintext port; several, comma-separated, for replicas without a Service in front: one is used at a time, a lost stream moves at once to the next")
	cliflag.Alias(f, "xds", cliflag.XDSAddress)
	cliflag.String(f, &fl.tokenFile, cliflag.TokenFile, "", "projected service-account token (audience istio-ca), re-read at each use: get an SVID from the daemon's CA and connect over TLS")
	cliflag.String(f, &fl.caRoot, cliflag.CARoot, "", "PEM mesh root that signs the daemon's serving certificate (with --token-file)")
	cliflag.Duration(f, &fl.svidTTL, cliflag.SVIDTTL, 0, "lifetime to ask for the gateway's SVID (0: the CA's default); renewed at half life")
	cliflag.String(f, &fl.cfg.NodeID, cliflag.NodeID, "", "xDS node id, e.g. router~10.0.0.7~eastwest-0.istio-system~istio-system.svc.cluster.local")
	f.StringVar(&fl.cfg.NodeCluster, "node-cluster", "", "xDS node cluster (Envoy's --service-cluster)")
	cliflag.Labels(f, &fl.labels, nil, "gateway pod label k=v, sent as node metadata LABELS (repeatable)")
	cliflag.String(f, &fl.namespace, cliflag.Namespace, "", "NAMESPACE metadata (default: the node id's namespace)")
	cliflag.String(f, &fl.network, cliflag.Network, "", "NETWORK metadata: the gateway's network")
	cliflag.String(f, &fl.clusterID, cliflag.ClusterID, "", "CLUSTER_ID metadata: the gateway's cluster (default: the daemon's)")
	f.StringArrayVar(&fl.metadata, "metadata", nil, "other node metadata KEY=VALUE, e.g. SERVICE_ACCOUNT=eastwest (repeatable)")
	cliflag.String(f, &fl.cfg.AdminAddress, cliflag.AdminAddress, "127.0.0.1:15000", "the gateway's admin listener: /metrics, /healthz, /ready and /config_dump (empty: off)")
	f.DurationVar(&fl.cfg.DrainTimeout, "drain-timeout", fl.cfg.DrainTimeout, "how long connections of removed or changed listeners may live on")
	f.DurationVar(&fl.cfg.ShutdownTimeout, "shutdown-timeout", 0, "on SIGTERM, how long to wait for open connections before closing them")
	f.IntVar(&fl.cfg.ConnectAttempts, "connect-attempts", fl.cfg.ConnectAttempts, "upstream connect attempts when a tcp_proxy sets no max_connect_attempts")
	f.IntVar(&fl.cfg.MaxMessageBytes, "max-xds-message-bytes", fl.cfg.MaxMessageBytes, "largest xDS response accepted (the default has room for 100k routes)")
	f.StringVar(&fl.xdsCA, "xds-ca", "", "PEM CA of the ADS server's certificate (enables TLS to the control plane)")
	f.StringVar(&fl.xdsCert, "xds-cert", "", "PEM client certificate for mTLS to the control plane")
	f.StringVar(&fl.xdsKey, "xds-key", "", "PEM client key for mTLS to the control plane")
	cliflag.String(f, &fl.xdsServerID, cliflag.XDSServerName, "", "name to verify in the ADS server's certificate (default: the --xds-address host)")
	cliflag.Log(f, &fl.logLevel, &fl.logFormat)
	_ = cmd.MarkFlagRequired(string(cliflag.NodeID))
	return cmd
}

// config maps the flags onto a dataplane.Config.
func (fl *gatewayFlags) config() (dataplane.Config, error) {
	cfg := fl.cfg
	var err error
	cfg.Labels = fl.labels
	if cfg.Metadata, err = parseKV("--metadata", fl.metadata); err != nil {
		return cfg, err
	}
	for _, m := range []struct{ flag, key, value string }{
		{"--namespace", node.MetaNamespace, fl.namespace}, {"--network", node.MetaNetwork, fl.network}, {"--cluster-id", node.MetaClusterID, fl.clusterID},
	} {
		if m.value == "" {
			continue
		}
		if v, dup := cfg.Metadata[m.key]; dup && v != m.value {
			return cfg, fmt.Errorf("%s %q and --metadata %s=%s disagree", m.flag, m.value, m.key, v)
		}
		cfg.Metadata[m.key] = m.value
	}
	if cfg.XDSAddress == "" {
		return cfg, fmt.Errorf("--xds-address: required")
	}
	if fl.tokenFile != "" || fl.caRoot != "" {
		if fl.tokenFile == "" || fl.caRoot == "" {
			return cfg, fmt.Errorf("--token-file and --ca-root go together (the secure port)")
		}
		if fl.xdsCA != "" || fl.xdsCert != "" {
			return cfg, fmt.Errorf("--xds-ca/--xds-cert: not with --token-file (the SVID comes from the daemon's CA)")
		}
		pem, err := os.ReadFile(fl.caRoot)
		if err != nil {
			return cfg, fmt.Errorf("--ca-root: %w", err)
		}
		roots, err := identity.ParseCertificatesPEM(pem)
		if err != nil {
			return cfg, fmt.Errorf("--ca-root %s: %w", fl.caRoot, err)
		}
		cfg.Identity = &caclient.Config{Address: cfg.XDSAddress, ServerName: fl.xdsServerID, Roots: roots,
			TokenFile: fl.tokenFile, TTL: fl.svidTTL, ClusterID: cfg.Metadata["CLUSTER_ID"]}
	} else if fl.xdsCA != "" || fl.xdsCert != "" {
		if cfg.XDSTLS, err = dataplane.XDSClientTLS(fl.xdsCA, fl.xdsCert, fl.xdsKey, fl.xdsServerID); err != nil {
			return cfg, err
		}
	}
	if cfg.Logger, err = cliflag.Logger(fl.logLevel, fl.logFormat, os.Stderr); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// parseKV parses repeated k=v flags.
func parseKV(flag string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}
