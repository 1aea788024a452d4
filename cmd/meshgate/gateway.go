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

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/identity/caclient"
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
--label k=v (sent as LABELS), --metadata NETWORK=net1 --metadata CLUSTER_ID=cluster1.

In a cluster, connect to the daemon's secure port (15012) with --token-file (a projected
service-account token, audience istio-ca) and --ca-root (the mesh root): the gateway obtains
its SVID from the daemon's CA (CreateCertificate), renews it at half life, and runs ADS over
TLS with it. Without them it speaks plaintext, for a daemon on loopback (the quickstart).`,
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
	f.StringVar(&fl.cfg.XDSAddress, "xds-address", "", "host:port of the ADS server: the daemon's secure port (with --token-file) or its loopback plaintext port")
	f.StringVar(&fl.cfg.XDSAddress, "xds", "", "old name of --xds-address")
	_ = f.MarkHidden("xds")
	f.StringVar(&fl.tokenFile, "token-file", "", "projected service-account token (audience istio-ca), re-read at each use: get an SVID from the daemon's CA and connect over TLS")
	f.StringVar(&fl.caRoot, "ca-root", "", "PEM mesh root that signs the daemon's serving certificate (with --token-file)")
	f.DurationVar(&fl.svidTTL, "svid-ttl", 0, "lifetime to ask for the gateway's SVID (0: the CA's default); renewed at half life")
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
	f.StringVar(&fl.xdsServerID, "xds-server-name", "", "name to verify in the ADS server's certificate (default: the --xds-address host)")
	f.StringVar(&fl.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&fl.logFormat, "log-format", "text", "text or json")
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
	if cfg.Logger, err = newLogger(fl.logLevel, fl.logFormat); err != nil {
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
