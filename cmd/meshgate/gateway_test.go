package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestGatewayFlags(t *testing.T) {
	base := []string{"--xds-address", "127.0.0.1:15010", "--node-id", "router~10.0.0.7~gw-0.istio-system~istio-system.svc.cluster.local"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "bad label", args: append(base, "--label", "novalue"), wantErr: `invalid argument "novalue" for "--label" flag: "novalue": want key=value`},
		{name: "empty metadata key", args: append(base, "--metadata", "=x"), wantErr: `--metadata "=x": want key=value`},
		{name: "bad xds address", args: []string{"--xds-address", "nohostport", "--node-id", "n"}, wantErr: `xds address "nohostport"`},
		{name: "bad xds address, old flag name", args: []string{"--xds", "nohostport", "--node-id", "n"}, wantErr: `xds address "nohostport"`},
		{name: "network twice", args: append(base, "--network", "net1", "--metadata", "NETWORK=net2"), wantErr: `--network "net1" and --metadata NETWORK=net2 disagree`},
		{name: "missing ca file", args: append(base, "--xds-ca", "/nonexistent/ca.pem"), wantErr: "xds CA"},
		{name: "cert without key", args: append(base, "--xds-cert", "c.pem"), wantErr: "certificate and key must be given together"},
		{name: "bad log level", args: append(base, "--log-level", "loud"), wantErr: "--log-level"},
		{name: "malformed node id", args: []string{"--xds-address", "127.0.0.1:15010", "--node-id", "router~10.0.0.7~gw-0.istio-system~istio-system"},
			wantErr: `invalid node id "router~10.0.0.7~gw-0.istio-system~istio-system": domain`},
		{name: "no xds address", args: []string{"--node-id", "router~10.0.0.7~gw-0.istio-system~istio-system.svc.cluster.local"}, wantErr: "--xds-address: required"},
		{name: "token without root", args: append(base, "--token-file", "/var/run/secrets/tokens/istio-token"), wantErr: "--token-file and --ca-root go together"},
		{name: "root without token", args: append(base, "--ca-root", "root.pem"), wantErr: "--token-file and --ca-root go together"},
		{name: "missing root file", args: append(base, "--token-file", "t", "--ca-root", "/nonexistent/root.pem"), wantErr: "--ca-root: open /nonexistent/root.pem"},
		{name: "token and static cert", args: append(base, "--token-file", "t", "--ca-root", "r", "--xds-cert", "c.pem"), wantErr: "not with --token-file"},
		{name: "labels as metadata", args: append(base, "--metadata", "LABELS=app=gw"), wantErr: "LABELS: is a struct of labels, not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newRootCmd()
			cmd.SetArgs(append([]string{"gateway"}, tt.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want exit code 2 containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestGatewayFlagsMapOntoConfig(t *testing.T) {
	fl := &gatewayFlags{}
	fl.cfg.XDSAddress, fl.cfg.NodeID = "127.0.0.1:15010", "router~1.2.3.4~gw.ns~ns.svc.cluster.local"
	fl.labels = map[string]string{"istio": "eastwestgateway", "topology.istio.io/network": "net1"}
	fl.metadata = []string{"SERVICE_ACCOUNT=eastwest"}
	fl.network, fl.clusterID = "net1", "c1"
	fl.logLevel, fl.logFormat = "debug", "json"
	cfg, err := fl.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Labels["topology.istio.io/network"] != "net1" || cfg.Metadata["CLUSTER_ID"] != "c1" || cfg.Metadata["NETWORK"] != "net1" ||
		cfg.Metadata["SERVICE_ACCOUNT"] != "eastwest" || cfg.XDSTLS != nil {
		t.Fatalf("config = %+v", cfg)
	}
}
