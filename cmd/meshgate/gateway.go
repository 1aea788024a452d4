package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/xds/dataplane"
)

func init() {
	rootCmd.AddCommand(newGatewayCmd())
}

// gatewayFlags are the command-line settings of `meshgate gateway`.
type gatewayFlags struct {
	cfg                                 dataplane.Config
	labels, metadata                    []string
	xdsCA, xdsCert, xdsKey, xdsServerID string
	logLevel, logFormat                 string
}

func newGatewayCmd() *cobra.Command {
	fl := &gatewayFlags{cfg: dataplane.DefaultConfig()}
	cmd := &cobra.Command{
		Use:   "gateway --xds ADDR --node-id ID [--label k=v ...] [--metadata k=v ...] [--admin-address ADDR]",
		Short: "Run meshgate's built-in L4 gateway (an xDS data plane for east-west and TLS passthrough)",
		Long: `Run meshgate's built-in L4 gateway: a small data plane that consumes listeners, clusters,
endpoints and secrets over ADS from the meshgate daemon (or any xDS server), as Envoy would,
and serves TCP/TLS passthrough (SNI routing, AUTO_PASSTHROUGH east-west) and mesh mTLS
origination. Unsupported configuration is NACKed and the previous config keeps serving.

The node id and metadata follow Istio: --node-id router~<ip>~<pod>.<ns>~<ns>.svc.cluster.local,
--label k=v (sent as LABELS), --metadata NETWORK=net1 --metadata CLUSTER_ID=cluster1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := fl.config()
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("gateway: %w", err)}
			}
			g, err := dataplane.New(cfg)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := g.Run(ctx); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("gateway: %w", err)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.cfg.XDSAddress, "xds", "", "host:port of the ADS server (the meshgate daemon)")
	f.StringVar(&fl.cfg.NodeID, "node-id", "", "xDS node id, e.g. router~10.0.0.7~eastwest-0.istio-system~istio-system.svc.cluster.local")
	f.StringVar(&fl.cfg.NodeCluster, "node-cluster", "", "xDS node cluster (Envoy's --service-cluster)")
	f.StringArrayVar(&fl.labels, "label", nil, "gateway label k=v, sent as node metadata LABELS (repeatable)")
	f.StringArrayVar(&fl.metadata, "metadata", nil, "node metadata k=v, e.g. NETWORK=net1, CLUSTER_ID=cluster1 (repeatable)")
	f.StringVar(&fl.cfg.AdminAddress, "admin-address", "127.0.0.1:15000", "address of /metrics, /healthz, /ready and /config_dump (empty: off)")
	f.DurationVar(&fl.cfg.DrainTimeout, "drain-timeout", fl.cfg.DrainTimeout, "how long connections of removed or changed listeners may live on")
	f.DurationVar(&fl.cfg.ShutdownTimeout, "shutdown-timeout", 0, "on SIGTERM, how long to wait for open connections before closing them")
	f.IntVar(&fl.cfg.ConnectAttempts, "connect-attempts", fl.cfg.ConnectAttempts, "upstream connect attempts when a tcp_proxy sets no max_connect_attempts")
	f.StringVar(&fl.xdsCA, "xds-ca", "", "PEM CA of the ADS server's certificate (enables TLS to the control plane)")
	f.StringVar(&fl.xdsCert, "xds-cert", "", "PEM client certificate for mTLS to the control plane")
	f.StringVar(&fl.xdsKey, "xds-key", "", "PEM client key for mTLS to the control plane")
	f.StringVar(&fl.xdsServerID, "xds-server-name", "", "name to verify in the ADS server's certificate (default: the --xds host)")
	f.StringVar(&fl.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&fl.logFormat, "log-format", "text", "text or json")
	_ = cmd.MarkFlagRequired("xds")
	_ = cmd.MarkFlagRequired("node-id")
	return cmd
}

// config maps the flags onto a dataplane.Config.
func (fl *gatewayFlags) config() (dataplane.Config, error) {
	cfg := fl.cfg
	var err error
	if cfg.Labels, err = parseKV("--label", fl.labels); err != nil {
		return cfg, err
	}
	if cfg.Metadata, err = parseKV("--metadata", fl.metadata); err != nil {
		return cfg, err
	}
	if fl.xdsCA != "" || fl.xdsCert != "" {
		if cfg.XDSTLS, err = dataplane.XDSClientTLS(fl.xdsCA, fl.xdsCert, fl.xdsKey, fl.xdsServerID); err != nil {
			return cfg, err
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(fl.logLevel)); err != nil {
		return cfg, fmt.Errorf("--log-level %q: %v", fl.logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch fl.logFormat {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, opts))
	default:
		return cfg, fmt.Errorf("--log-format %q: want text or json", fl.logFormat)
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
