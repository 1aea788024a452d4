package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/identity/caclient"
	"github.com/meshgate/meshgate/xds/agent"
)

func init() { register(newAgentCmd) }

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
		Example: `  # beside Envoy in the gateway's pod (deploy/meshgate/30-deployment.yaml)
  meshgate agent --xds-address meshgate.istio-system.svc:15012 --cluster-id cluster1 \
    --token-file /var/run/secrets/tokens/istio-token --ca-root /etc/meshgate/root/root-cert.pem \
    --sds-socket /var/run/meshgate/sds/sds.sock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := fl.config()
			if err != nil {
				return rejected(fmt.Errorf("agent: %w", err))
			}
			useLogger(cfg.Logger)
			a, err := agent.New(cfg)
			if err != nil {
				return rejected(err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := a.Run(ctx); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	cliflag.String(f, &fl.ca.Address, cliflag.XDSAddress, "", "the daemon's secure port, host:port (e.g. meshgate.istio-system.svc:15012)")
	cliflag.String(f, &fl.ca.ServerName, cliflag.XDSServerName, "", "DNS name the daemon's certificate must carry (default: the --xds-address host)")
	cliflag.String(f, &fl.ca.TokenFile, cliflag.TokenFile, "/var/run/secrets/tokens/istio-token", "projected service-account token (audience istio-ca), re-read at each use")
	cliflag.String(f, &fl.caRoot, cliflag.CARoot, "/etc/meshgate/root-cert.pem", "PEM mesh root that signs the daemon's certificate and the SVID")
	cliflag.String(f, &fl.ca.ClusterID, cliflag.ClusterID, "", "this cluster's id, sent to the CA as ClusterID (empty: not sent; the daemon refuses a token of another cluster)")
	cliflag.Duration(f, &fl.ca.TTL, cliflag.SVIDTTL, 0, "lifetime to ask for (0: the CA's default); renewed at half life")
	f.StringVar(&fl.socket, "sds-socket", "/var/run/meshgate/sds.sock", "Unix socket of the SDS server Envoy reads default and ROOTCA from")
	cliflag.Log(f, &fl.logLevel, &fl.logFormat)
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
	if cfg.Logger, err = cliflag.Logger(fl.logLevel, fl.logFormat, os.Stderr); err != nil {
		return cfg, err
	}
	return cfg, nil
}
