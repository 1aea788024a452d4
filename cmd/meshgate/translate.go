package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

type translateFlags struct {
	paths        []string
	labels       map[string]string
	namespace    string
	ip           string
	network      string
	clusterID    string
	output       string
	domainSuffix string
	trustDomain  string
	mysql, redis bool
	quic         bool
	flavor       string
}

func init() {
	f := &translateFlags{}
	cmd := &cobra.Command{
		Use:   "translate -f PATH [-f PATH ...]",
		Short: "Print the Envoy configuration istiod would give a gateway, from YAML files (offline)",
		Long: `translate reads Kubernetes and Istio objects (Service, Pod, Namespace, Secret, Endpoints,
EndpointSlice, Gateway, VirtualService, DestinationRule, ServiceEntry) from files or directories and
prints the listeners, routes, clusters, endpoints and secrets of one gateway proxy as a single JSON
(or YAML) object of Envoy v3 resources. Secrets are redacted.

Exit status: 0 when everything translated; 2 when some objects were rejected (errors on stderr, the
rest printed); 1 when the input could not be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTranslate(cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.paths, "file", "f", nil, "YAML/JSON file or directory (repeatable)")
	fl.StringToStringVar(&f.labels, "proxy-labels", map[string]string{"istio": "ingressgateway"}, "labels of the gateway proxy")
	fl.StringVar(&f.namespace, "proxy-namespace", model.IstioSystemNamespace, "namespace of the gateway proxy")
	fl.StringVar(&f.ip, "proxy-ip", "", "IP of the gateway pod (default: the address of a pod in the proxy namespace with the proxy labels)")
	fl.StringVar(&f.network, "proxy-network", "", "network of the gateway proxy (default: its cluster's network)")
	fl.StringVar(&f.clusterID, "cluster-id", "", "cluster of the gateway proxy and of single-cluster input (default Kubernetes)")
	fl.StringVarP(&f.output, "output", "o", "json", "output format: json or yaml")
	fl.StringVar(&f.domainSuffix, "domain-suffix", model.DefaultDomainSuffix, "cluster DNS domain")
	fl.StringVar(&f.trustDomain, "trust-domain", model.DefaultTrustDomain, "SPIFFE trust domain")
	fl.BoolVar(&f.mysql, "enable-mysql-filter", false, "put Envoy's mysql_proxy before tcp_proxy on MYSQL servers (Istio: PILOT_ENABLE_MYSQL_FILTER)")
	fl.BoolVar(&f.redis, "enable-redis-filter", false, "use Envoy's redis_proxy for REDIS servers (Istio: PILOT_ENABLE_REDIS_FILTER)")
	fl.BoolVar(&f.quic, "enable-quic-listeners", false, "add HTTP/3 (QUIC) listeners for HTTPS servers with a UDP gateway port (Istio: PILOT_ENABLE_QUIC_LISTENERS)")
	fl.StringVar(&f.flavor, "proxy-flavor", string(translate.FlavorIstio), "proxy build: istio (Istio's proxy: what istiod would give, Istio's own filters included) or envoy (upstream Envoy: its own extensions only)")
	_ = cmd.MarkFlagRequired("file")
	rootCmd.AddCommand(cmd)
}

func runTranslate(stdout, stderr io.Writer, f *translateFlags) error {
	if f.output != "json" && f.output != "yaml" {
		return &exitError{code: 1, err: fmt.Errorf("--output must be json or yaml, not %q", f.output)}
	}
	flavor, err := translate.ParseFlavor(f.flavor)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("--proxy-flavor: %w", err)}
	}
	mesh, objErrs, err := file.LoadMesh(file.Config{Paths: f.paths, ClusterID: f.clusterID, Network: f.network, DomainSuffix: f.domainSuffix})
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	proxy := translate.Proxy{
		Type: node.TypeRouter, Namespace: f.namespace, Labels: f.labels,
		Network: f.network, ClusterID: mesh.LocalCluster, IP: f.ip, Flavor: flavor,
	}
	if proxy.IP == "" {
		proxy.IP = translate.InferProxyIP(mesh, f.namespace, f.labels)
	}
	opts := translate.DefaultOptions()
	opts.DomainSuffix, opts.TrustDomain = f.domainSuffix, f.trustDomain
	opts.EnableMySQLFilter, opts.EnableRedisFilter, opts.EnableQUICListeners = f.mysql, f.redis, f.quic
	res, err := translate.Translate(mesh, proxy, opts)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	doc, err := translate.NewDocument(res)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	out, err := doc.MarshalIndent()
	if err == nil && f.output == "yaml" {
		out, err = yaml.JSONToYAML(out)
	}
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	if _, err := stdout.Write(out); err != nil {
		return &exitError{code: 1, err: err}
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	rejected := append(objErrs, res.Errors...)
	for _, e := range rejected {
		fmt.Fprintln(stderr, "error:", e)
	}
	if len(rejected) > 0 {
		return &exitError{code: 2, err: errors.New(strings.TrimSpace(fmt.Sprintf("%d object(s) rejected", len(rejected))))}
	}
	return nil
}
