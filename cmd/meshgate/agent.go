package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/identity/caclient"
	"github.com/meshgate/meshgate/xds/agent"
)

func init() {
	rootCmd.AddCommand(newAgentCmd())
}

// agentFlags are the settings of `meshgate agent`.
type agentFlags struct {
	ca                  caclient.Config
	caRoot, socket      string
	logLevel, logFormat string
}

func newAgentCmd() *cobra.Command {
	fl := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent --xds-address HOST:15012 [--token-file F] [--ca-root F] [--sds-socket PATH]",
		Short: "Give an Envoy gateway its SVID: get it from meshgate's CA with the pod's token, serve it over SDS",
		Long: `Run beside an Envoy gateway (the role of Istio's pilot-agent, kept small): read the pod's
projected service-account token (audience istio-ca), obtain the pod's SVID from the daemon's
CA on its secure port (CreateCertificate), renew it at half life, and serve it to Envoy over
SDS on a Unix socket: "default" (the SVID) and "ROOTCA" (the mesh root). Point Envoy at it with
'meshgate bootstrap --sds-socket PATH --xds-address HOST:15012'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := fl.config()
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("agent: %w", err)}
			}
			a, err := agent.New(cfg)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := a.Run(ctx); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.ca.Address, "xds-address", "", "the daemon's secure port, host:port (e.g. meshgate.istio-system.svc:15012)")
	f.StringVar(&fl.ca.ServerName, "xds-server-name", "", "DNS name the daemon's certificate must carry (default: the --xds-address host)")
	f.StringVar(&fl.ca.TokenFile, "token-file", "/var/run/secrets/tokens/istio-token", "projected service-account token (audience istio-ca), re-read at each use")
	f.StringVar(&fl.caRoot, "ca-root", "/etc/meshgate/root-cert.pem", "PEM mesh root that signs the daemon's certificate and the SVID")
	f.StringVar(&fl.ca.ClusterID, "cluster-id", "", "this cluster's id, sent to the CA as ClusterID (empty: not sent; the daemon refuses a token of another cluster)")
	f.DurationVar(&fl.ca.TTL, "svid-ttl", 0, "lifetime to ask for (0: the CA's default); renewed at half life")
	f.StringVar(&fl.socket, "sds-socket", "/var/run/meshgate/sds.sock", "Unix socket of the SDS server Envoy reads default and ROOTCA from")
	f.StringVar(&fl.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&fl.logFormat, "log-format", "text", "text or json")
	return cmd
}

func (fl *agentFlags) config() (agent.Config, error) {
	cfg := agent.Config{CA: fl.ca, Socket: fl.socket}
	if cfg.CA.Address == "" {
		return cfg, fmt.Errorf("--xds-address: required (the daemon's secure port)")
	}
	pem, err := os.ReadFile(fl.caRoot)
	if err != nil {
		return cfg, fmt.Errorf("--ca-root: %w", err)
	}
	if cfg.CA.Roots, err = identity.ParseCertificatesPEM(pem); err != nil {
		return cfg, fmt.Errorf("--ca-root %s: %w", fl.caRoot, err)
	}
	if cfg.Logger, err = newLogger(fl.logLevel, fl.logFormat); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// newLogger builds the text or JSON logger of a command's --log-level and --log-format.
func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %v", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
