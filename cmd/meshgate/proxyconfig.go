package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
)

// proxyConfigFlags are `meshgate proxy-config`'s: where the configuration
// comes from (a daemon's admin API and a node id, or a file) and what to show.
type proxyConfigFlags struct {
	admin                                 adminFlags
	files                                 []string
	labels                                map[string]string
	namespace, network, clusterID, flavor string
	output                                string
	name, fqdn, subset, direction, status string
	port                                  uint32
}

// maxConfigDump bounds what proxy-config reads from a daemon: a gateway of
// 100k routes is well below it.
const maxConfigDump = 1 << 30

func init() {
	pcKinds[0].show = showAll
	register(newProxyConfigCmd)
}

func newProxyConfigCmd() *cobra.Command {
	f := &proxyConfigFlags{}
	cmd := &cobra.Command{
		Use:     "proxy-config KIND [NODE_ID | -f FILE]",
		Aliases: []string{"pc"},
		Short:   "Show a gateway's listeners, routes, clusters, endpoints or secrets, as istioctl proxy-config does",
		Long: `proxy-config summarises the Envoy configuration of one gateway, in the columns of
istioctl proxy-config. The configuration comes from:

  NODE_ID   the daemon at --admin-address: what it sends that node (its /debug/config_dump).
            A node that has not connected is previewed: what it would receive if it
            connected now, with the pod labels of its IP (or --label), --namespace,
            --network, --cluster-id and --flavor as its metadata;
  -f FILE   the output of meshgate translate (json or yaml), a saved /debug/config_dump,
            or Envoy's own /config_dump (?include_eds for endpoints); - for standard input.

-o json or yaml prints the selected resources in full (secrets redacted by the daemon).
Exit status: 0 shown; 1 the daemon or file could not be read; 2 a bad flag or argument.`,
		Example: `  # the listeners a connected ingress gateway has
  meshgate proxy-config listeners router~10.0.0.5~ingress-7d9.istio-system~istio-system.svc.cluster.local
  # what a gateway that has not started yet would get (a preview)
  meshgate pc routes router~10.0.0.9~gw-0.istio-system~istio-system.svc.cluster.local --label istio=ingressgateway
  # offline, from translate's output, or from a real Envoy
  meshgate translate -f deploy/examples/quickstart | meshgate pc clusters -f -
  curl -s localhost:15000/config_dump?include_eds | meshgate pc endpoints -f - --fqdn httpbin.default.svc.cluster.local`,
	}
	pf := cmd.PersistentFlags()
	f.admin.bind(pf)
	cliflag.StringArray(pf, &f.files, cliflag.File, "read the configuration from a file instead of a daemon: translate's output, a /debug/config_dump or Envoy's /config_dump; - for standard input")
	cliflag.Labels(pf, &f.labels, nil, "preview only: label of the node's pod, k=v (repeatable; default the labels of the pod with the node id's IP)")
	cliflag.String(pf, &f.namespace, cliflag.Namespace, "", "preview only: the node's namespace (default the node id's)")
	cliflag.String(pf, &f.network, cliflag.Network, "", "preview only: the node's network")
	cliflag.String(pf, &f.clusterID, cliflag.ClusterID, "", "preview only: the node's cluster (default the daemon's)")
	pf.StringVar(&f.flavor, "flavor", "", "preview only: istio (Istio's proxy) or envoy (upstream Envoy, the default)")
	cliflag.OutputFlag(pf, &f.output, "short", "json", "yaml")
	pf.StringVar(&f.name, "resource", "", "only the resource with this name (listener, route configuration, cluster, secret)")
	pf.Uint32Var(&f.port, "port", 0, "only listeners on this port, or clusters of this service port")
	pf.StringVar(&f.fqdn, "fqdn", "", "only clusters (and their endpoints) of this service host")
	pf.StringVar(&f.subset, "subset", "", "only clusters (and their endpoints) of this subset")
	pf.StringVar(&f.direction, "direction", "", "only clusters (and their endpoints) of this direction: outbound or inbound")
	pf.StringVar(&f.status, "status", "", "only endpoints with this health status, e.g. HEALTHY or UNHEALTHY")
	for _, k := range pcKinds {
		cmd.AddCommand(&cobra.Command{
			Use:     k.name + " [NODE_ID | -f FILE]",
			Aliases: k.aliases,
			Short:   k.short,
			Example: "  meshgate proxy-config " + k.name + " -f translated.json",
			Args:    cobra.MaximumNArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				return runProxyConfig(c, f, k, args)
			},
		})
	}
	return cmd
}

type pcKind struct {
	name    string
	aliases []string
	short   string
	show    func(w io.Writer, d *pcDump, f *proxyConfigFlags) error
}

var pcKinds = []pcKind{
	{"all", nil, "Every kind, one table after another", nil}, // showAll, set in init (it walks this list)
	{"listeners", []string{"listener", "l"}, "Listeners and their filter chains: address, port, match, destination", showListeners},
	{"routes", []string{"route", "r"}, "Route configurations: virtual hosts, domains, matches and the VirtualService of each route", showRoutes},
	{"clusters", []string{"cluster", "c"}, "Clusters: service, port, subset, direction, discovery type and DestinationRule", showClusters},
	{"endpoints", []string{"endpoint", "ep"}, "Endpoints: address, health status, locality and cluster", showEndpoints},
	{"secrets", []string{"secret", "s"}, "Secrets: name, type and the certificate's serial number and validity", showSecrets},
}

func runProxyConfig(cmd *cobra.Command, f *proxyConfigFlags, k pcKind, args []string) error {
	if err := cliflag.CheckOutput(f.output, "short", "json", "yaml"); err != nil {
		return rejected(err)
	}
	file := ""
	if len(f.files) > 1 {
		return rejected(errors.New("-f: one file (the configuration of one proxy)"))
	} else if len(f.files) == 1 {
		file = f.files[0]
	}
	switch {
	case len(args) == 0 && file == "":
		return rejected(errors.New("name a node id (the daemon at --admin-address) or -f FILE"))
	case len(args) == 1 && file != "":
		return rejected(errors.New("a node id and -f FILE exclude each other"))
	case f.direction != "" && f.direction != "outbound" && f.direction != "inbound":
		return rejected(fmt.Errorf("--direction %q: want outbound or inbound", f.direction))
	case f.port > 65535:
		return rejected(fmt.Errorf("--port %d: want 1..65535", f.port))
	}
	var (
		data []byte
		src  string
		err  error
	)
	if file != "" {
		src = file
		if file == "-" {
			src = "standard input"
			data, err = io.ReadAll(cmd.InOrStdin())
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return failed(err)
		}
	} else {
		src = "node " + args[0]
		if data, err = fetchConfigDump(cmdContext(cmd), f, args[0]); err != nil {
			return err
		}
	}
	d, err := parseDump(data)
	if err != nil {
		return failed(fmt.Errorf("%s: %w", src, err))
	}
	if d.preview {
		slog.Info("the node is not connected: this is a preview of what it would receive now", "source", src)
	}
	for _, w := range d.warnings {
		slog.Warn(w, "source", src)
	}
	d.filter(f)
	out := cmd.OutOrStdout()
	if f.output != "short" {
		return printResources(out, d, k.name, f.output)
	}
	return k.show(out, d, f)
}

func fetchConfigDump(ctx context.Context, f *proxyConfigFlags, id string) ([]byte, error) {
	q := url.Values{"proxy": {id}}
	for _, k := range sortedKeys(f.labels) {
		q.Add("label", k+"="+f.labels[k])
	}
	for k, v := range map[string]string{"namespace": f.namespace, "network": f.network, "cluster-id": f.clusterID, "flavor": f.flavor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return f.admin.get(ctx, "/debug/config_dump?"+q.Encode(), maxConfigDump)
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// pcDump is one proxy's configuration, whatever form it came in.
type pcDump struct {
	listeners []*listenerv3.Listener
	routes    []*routev3.RouteConfiguration
	clusters  []*clusterv3.Cluster
	endpoints []*endpointv3.ClusterLoadAssignment
	secrets   []*tlsv3.Secret
	preview   bool
	warnings  []string
}

var pcUnmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// parseDump reads translate's output or the daemon's /debug/config_dump
// (objects with listeners, routes, clusters, endpoints and secrets arrays),
// JSON or YAML, or Envoy's /config_dump (a configs array of typed dumps).
func parseDump(data []byte) (*pcDump, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("neither JSON nor YAML: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return nil, fmt.Errorf("want a JSON object: %w", err)
	}
	d := &pcDump{}
	if configs, ok := top["configs"]; ok {
		return d, d.fromEnvoy(configs)
	}
	known := false
	for _, k := range []string{"listeners", "routes", "clusters", "endpoints", "secrets"} {
		if _, ok := top[k]; ok {
			known = true
		}
	}
	if !known {
		return nil, errors.New("no listeners, routes, clusters, endpoints or secrets: not translate's output, a /debug/config_dump or Envoy's /config_dump")
	}
	_ = json.Unmarshal(top["preview"], &d.preview)
	_ = json.Unmarshal(top["warnings"], &d.warnings)
	if err := decodeList(top["listeners"], "listeners", &d.listeners); err != nil {
		return nil, err
	}
	if err := decodeList(top["routes"], "routes", &d.routes); err != nil {
		return nil, err
	}
	if err := decodeList(top["clusters"], "clusters", &d.clusters); err != nil {
		return nil, err
	}
	if err := decodeList(top["endpoints"], "endpoints", &d.endpoints); err != nil {
		return nil, err
	}
	return d, decodeList(top["secrets"], "secrets", &d.secrets)
}

func decodeList[T any, P interface {
	*T
	proto.Message
}](raw json.RawMessage, field string, out *[]P) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("%s: want an array: %w", field, err)
	}
	for i, it := range items {
		m := P(new(T))
		if err := pcUnmarshal.Unmarshal(it, m); err != nil {
			return fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		*out = append(*out, m)
	}
	return nil
}

// fromEnvoy reads the dynamic and static resources of Envoy's /config_dump.
// Entries of a type this build does not know (an extension it lacks) are
// skipped with a warning rather than failing the whole dump.
func (d *pcDump) fromEnvoy(raw json.RawMessage) error {
	var configs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &configs); err != nil {
		return fmt.Errorf("configs: want an array: %w", err)
	}
	for _, c := range configs {
		var typ string
		_ = json.Unmarshal(c["@type"], &typ)
		switch typ[strings.LastIndex(typ, ".")+1:] {
		case "ListenersConfigDump":
			d.envoyItems(c, "static_listeners", "listener", func(b []byte) error { return appendMsg(b, &d.listeners) })
			d.envoyItems(c, "dynamic_listeners", "active_state.listener", func(b []byte) error { return appendMsg(b, &d.listeners) })
		case "RoutesConfigDump":
			d.envoyItems(c, "static_route_configs", "route_config", func(b []byte) error { return appendMsg(b, &d.routes) })
			d.envoyItems(c, "dynamic_route_configs", "route_config", func(b []byte) error { return appendMsg(b, &d.routes) })
		case "ClustersConfigDump":
			d.envoyItems(c, "static_clusters", "cluster", func(b []byte) error { return appendMsg(b, &d.clusters) })
			d.envoyItems(c, "dynamic_active_clusters", "cluster", func(b []byte) error { return appendMsg(b, &d.clusters) })
		case "EndpointsConfigDump":
			d.envoyItems(c, "static_endpoint_configs", "endpoint_config", func(b []byte) error { return appendMsg(b, &d.endpoints) })
			d.envoyItems(c, "dynamic_endpoint_configs", "endpoint_config", func(b []byte) error { return appendMsg(b, &d.endpoints) })
		case "SecretsConfigDump":
			d.envoyItems(c, "static_secrets", "secret", func(b []byte) error { return appendMsg(b, &d.secrets) })
			d.envoyItems(c, "dynamic_active_secrets", "secret", func(b []byte) error { return appendMsg(b, &d.secrets) })
		}
	}
	return nil
}

func appendMsg[T any, P interface {
	*T
	proto.Message
}](b []byte, out *[]P) error {
	m := P(new(T))
	if err := pcUnmarshal.Unmarshal(b, m); err != nil {
		return err
	}
	*out = append(*out, m)
	return nil
}

// envoyItems calls add with the object at path (dot-separated) of every
// element of c[list].
func (d *pcDump) envoyItems(c map[string]json.RawMessage, list, path string, add func([]byte) error) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(c[list], &items); err != nil {
		return
	}
	for i, it := range items {
		keys := strings.Split(path, ".")
		cur := it
		var leaf json.RawMessage
		for j, k := range keys {
			if j == len(keys)-1 {
				leaf = cur[k]
				break
			}
			var next map[string]json.RawMessage
			if json.Unmarshal(cur[k], &next) != nil {
				break
			}
			cur = next
		}
		if len(leaf) == 0 {
			continue // e.g. a listener still warming, without an active state
		}
		if err := add(leaf); err != nil {
			d.warnings = append(d.warnings, fmt.Sprintf("%s[%d]: skipped: %v", list, i, err))
		}
	}
}

// clusterName is Istio's cluster name, direction|port|subset|host.
type clusterName struct {
	direction, subset, fqdn string
	port                    int
	ok                      bool
}

func parseClusterName(n string) clusterName {
	parts := strings.Split(n, "|")
	if len(parts) != 4 {
		return clusterName{fqdn: n}
	}
	port, err := strconv.Atoi(parts[1])
	if err != nil {
		return clusterName{fqdn: n}
	}
	return clusterName{direction: parts[0], port: port, subset: parts[2], fqdn: parts[3], ok: true}
}

func (f *proxyConfigFlags) clusterMatches(n string) bool {
	cn := parseClusterName(n)
	switch {
	case f.fqdn != "" && cn.fqdn != f.fqdn,
		f.subset != "" && cn.subset != f.subset,
		f.direction != "" && cn.direction != f.direction,
		f.port != 0 && cn.port != int(f.port):
		return false
	}
	return true
}

// filter keeps what the flags select, sorted by name.
func (d *pcDump) filter(f *proxyConfigFlags) {
	named := func(n string) bool { return f.name == "" || n == f.name }
	d.listeners = slices.DeleteFunc(d.listeners, func(l *listenerv3.Listener) bool {
		return !named(l.GetName()) || (f.port != 0 && l.GetAddress().GetSocketAddress().GetPortValue() != f.port)
	})
	d.routes = slices.DeleteFunc(d.routes, func(r *routev3.RouteConfiguration) bool { return !named(r.GetName()) })
	d.clusters = slices.DeleteFunc(d.clusters, func(c *clusterv3.Cluster) bool {
		return !named(c.GetName()) || !f.clusterMatches(c.GetName())
	})
	d.endpoints = slices.DeleteFunc(d.endpoints, func(e *endpointv3.ClusterLoadAssignment) bool {
		return !named(e.GetClusterName()) || !f.clusterMatches(e.GetClusterName())
	})
	if f.status != "" {
		for _, e := range d.endpoints {
			for _, le := range e.GetEndpoints() {
				le.LbEndpoints = slices.DeleteFunc(le.LbEndpoints, func(ep *endpointv3.LbEndpoint) bool {
					return !strings.EqualFold(ep.GetHealthStatus().String(), f.status)
				})
			}
		}
	}
	d.secrets = slices.DeleteFunc(d.secrets, func(s *tlsv3.Secret) bool { return !named(s.GetName()) })
	// By name, as istioctl: the same configuration reads the same whether
	// it comes from the daemon or from Envoy (which orders its dump itself).
	slices.SortStableFunc(d.listeners, func(a, b *listenerv3.Listener) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortStableFunc(d.routes, func(a, b *routev3.RouteConfiguration) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortStableFunc(d.clusters, func(a, b *clusterv3.Cluster) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortStableFunc(d.endpoints, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return strings.Compare(a.GetClusterName(), b.GetClusterName())
	})
	slices.SortStableFunc(d.secrets, func(a, b *tlsv3.Secret) int { return strings.Compare(a.GetName(), b.GetName()) })
}

// printResources prints the selected kind(s) in full, as translate does.
func printResources(w io.Writer, d *pcDump, kind, format string) error {
	out := map[string][]json.RawMessage{}
	add := func(key string, ms []proto.Message) error {
		if kind != "all" && kind != key {
			return nil
		}
		list := make([]json.RawMessage, 0, len(ms))
		for _, m := range ms {
			b, err := protojson.Marshal(m)
			if err != nil {
				return err
			}
			list = append(list, b)
		}
		out[key] = list
		return nil
	}
	for _, e := range []struct {
		key string
		ms  []proto.Message
	}{
		{"listeners", asMessages(d.listeners)}, {"routes", asMessages(d.routes)}, {"clusters", asMessages(d.clusters)},
		{"endpoints", asMessages(d.endpoints)}, {"secrets", asMessages(d.secrets)},
	} {
		if err := add(e.key, e.ms); err != nil {
			return failed(err)
		}
	}
	var v any = out
	if kind != "all" {
		v = out[kind]
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return failed(err)
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return failed(err)
		}
		_, err = w.Write(b)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func asMessages[P proto.Message](in []P) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func showAll(w io.Writer, d *pcDump, f *proxyConfigFlags) error {
	for i, k := range pcKinds[1:] {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := k.show(w, d, f); err != nil {
			return err
		}
	}
	return nil
}

func showListeners(w io.Writer, d *pcDump, _ *proxyConfigFlags) error {
	var rows [][]string
	for _, l := range d.listeners {
		addrs := []string{listenerAddr(l.GetAddress())}
		for _, a := range l.GetAdditionalAddresses() {
			addrs = append(addrs, listenerAddr(a.GetAddress()))
		}
		port := strconv.Itoa(int(l.GetAddress().GetSocketAddress().GetPortValue()))
		chains := l.GetFilterChains()
		if dc := l.GetDefaultFilterChain(); dc != nil {
			chains = append(slices.Clip(chains), dc)
		}
		if len(chains) == 0 {
			rows = append(rows, []string{l.GetName(), strings.Join(addrs, ","), port, "-", "-"})
		}
		for _, fc := range chains {
			match := chainMatch(fc.GetFilterChainMatch())
			if fc == l.GetDefaultFilterChain() {
				match = "default"
			}
			rows = append(rows, []string{l.GetName(), strings.Join(addrs, ","), port, match, chainDestination(fc)})
		}
	}
	return table(w, "NAME\tADDRESSES\tPORT\tMATCH\tDESTINATION", rows)
}

func listenerAddr(a *corev3.Address) string {
	if p := a.GetPipe(); p != nil {
		return "unix:" + p.GetPath()
	}
	return a.GetSocketAddress().GetAddress()
}

func chainMatch(m *listenerv3.FilterChainMatch) string {
	var parts []string
	if len(m.GetServerNames()) > 0 {
		parts = append(parts, "SNI: "+strings.Join(m.GetServerNames(), ","))
	}
	if m.GetTransportProtocol() != "" {
		parts = append(parts, "Trans: "+m.GetTransportProtocol())
	}
	if len(m.GetApplicationProtocols()) > 0 {
		parts = append(parts, "App: "+strings.Join(m.GetApplicationProtocols(), ","))
	}
	if m.GetDestinationPort() != nil {
		parts = append(parts, "Port: "+strconv.Itoa(int(m.GetDestinationPort().GetValue())))
	}
	if len(parts) == 0 {
		return "ALL"
	}
	return strings.Join(parts, "; ")
}

// chainDestination names where a filter chain sends traffic: its route
// configuration, its TCP cluster(s), or the cluster its SNI names.
func chainDestination(fc *listenerv3.FilterChain) string {
	var parts []string
	for _, nf := range fc.GetFilters() {
		msg, err := nf.GetTypedConfig().UnmarshalNew()
		if err != nil {
			continue
		}
		switch c := msg.(type) {
		case *hcmv3.HttpConnectionManager:
			if rds := c.GetRds(); rds != nil {
				parts = append(parts, "Route: "+rds.GetRouteConfigName())
			} else if rc := c.GetRouteConfig(); rc != nil {
				parts = append(parts, "Inline Route: "+rc.GetName())
			}
		case *tcpproxyv3.TcpProxy:
			if cl := c.GetCluster(); cl != "" {
				parts = append(parts, "Cluster: "+cl)
			}
			for _, wc := range c.GetWeightedClusters().GetClusters() {
				parts = append(parts, fmt.Sprintf("Cluster: %s (weight %d)", wc.GetName(), wc.GetWeight()))
			}
		default:
			if strings.Contains(nf.GetName(), "sni_cluster") {
				parts = append(parts, "Cluster: from SNI")
			}
		}
	}
	if len(parts) == 0 {
		names := make([]string, 0, len(fc.GetFilters()))
		for _, nf := range fc.GetFilters() {
			names = append(names, nf.GetName())
		}
		if len(names) == 0 {
			return "-"
		}
		return strings.Join(names, ",")
	}
	return strings.Join(parts, "; ")
}

func showRoutes(w io.Writer, d *pcDump, _ *proxyConfigFlags) error {
	var rows [][]string
	for _, rc := range d.routes {
		if len(rc.GetVirtualHosts()) == 0 {
			rows = append(rows, []string{rc.GetName(), "-", "-", "-", "-", "-"})
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				rows = append(rows, []string{rc.GetName(), vh.GetName(), domains(vh.GetDomains()), routeMatch(r.GetMatch()), routeAction(r), istioConfig(r.GetMetadata())})
			}
			if len(vh.GetRoutes()) == 0 {
				rows = append(rows, []string{rc.GetName(), vh.GetName(), domains(vh.GetDomains()), "-", "-", "-"})
			}
		}
	}
	return table(w, "NAME\tVHOST NAME\tDOMAINS\tMATCH\tDESTINATION\tVIRTUAL SERVICE", rows)
}

// routeAction says what a route does: its cluster(s) with their weights,
// a redirect or a direct response.
func routeAction(r *routev3.Route) string {
	switch {
	case r.GetRoute() != nil:
		ra := r.GetRoute()
		if c := ra.GetCluster(); c != "" {
			return c
		}
		if h := ra.GetClusterHeader(); h != "" {
			return "cluster from header " + h
		}
		var cs []string
		for _, wc := range ra.GetWeightedClusters().GetClusters() {
			cs = append(cs, fmt.Sprintf("%s %d%%", wc.GetName(), wc.GetWeight().GetValue()))
		}
		return strings.Join(cs, ", ")
	case r.GetRedirect() != nil:
		return "redirect"
	case r.GetDirectResponse() != nil:
		return fmt.Sprintf("direct response %d", r.GetDirectResponse().GetStatus())
	}
	return "-"
}

func domains(ds []string) string {
	if len(ds) > 2 {
		return strings.Join(ds[:2], ",") + fmt.Sprintf(" + %d more", len(ds)-2)
	}
	return strings.Join(ds, ",")
}

func routeMatch(m *routev3.RouteMatch) string {
	var s string
	switch {
	case m.GetPrefix() != "":
		s = m.GetPrefix() + "*"
	case m.GetPath() != "":
		s = m.GetPath()
	case m.GetSafeRegex() != nil:
		s = "regex " + m.GetSafeRegex().GetRegex()
	case m.GetPathSeparatedPrefix() != "":
		s = m.GetPathSeparatedPrefix() + "/*"
	case m.GetConnectMatcher() != nil:
		s = "CONNECT"
	default:
		s = "/*"
	}
	if n := len(m.GetHeaders()) + len(m.GetQueryParameters()); n > 0 {
		s += fmt.Sprintf(" + %d header/query match(es)", n)
	}
	return s
}

// istioConfig names the Istio object a resource came from, from the
// metadata istiod (and meshgate) attach: istio.config =
// /apis/networking.istio.io/v1/namespaces/NS/KIND/NAME → NAME.NS.
func istioConfig(md *corev3.Metadata) string {
	v := md.GetFilterMetadata()["istio"].GetFields()["config"].GetStringValue()
	if v == "" {
		return "-"
	}
	parts := strings.Split(strings.Trim(v, "/"), "/")
	if len(parts) >= 6 && parts[3] == "namespaces" {
		return parts[len(parts)-1] + "." + parts[4]
	}
	return v
}

func showClusters(w io.Writer, d *pcDump, _ *proxyConfigFlags) error {
	var rows [][]string
	for _, c := range d.clusters {
		cn := parseClusterName(c.GetName())
		port, subset, dir := "-", "-", "-"
		if cn.ok {
			port, subset, dir = strconv.Itoa(cn.port), cn.subset, cn.direction
			if subset == "" {
				subset = "-"
			}
		}
		typ := c.GetType().String()
		if ct := c.GetClusterType(); ct != nil {
			typ = ct.GetName()
		}
		rows = append(rows, []string{cn.fqdn, port, subset, dir, typ, istioConfig(c.GetMetadata())})
	}
	return table(w, "SERVICE FQDN\tPORT\tSUBSET\tDIRECTION\tTYPE\tDESTINATION RULE", rows)
}

func showEndpoints(w io.Writer, d *pcDump, _ *proxyConfigFlags) error {
	var rows [][]string
	for _, cla := range d.endpoints {
		for _, le := range cla.GetEndpoints() {
			loc := localityString(le.GetLocality())
			for _, ep := range le.GetLbEndpoints() {
				rows = append(rows, []string{endpointAddr(ep.GetEndpoint().GetAddress()), ep.GetHealthStatus().String(), loc, cla.GetClusterName()})
			}
		}
	}
	return table(w, "ENDPOINT\tSTATUS\tLOCALITY\tCLUSTER", rows)
}

func endpointAddr(a *corev3.Address) string {
	if p := a.GetPipe(); p != nil {
		return "unix:" + p.GetPath()
	}
	if ia := a.GetEnvoyInternalAddress(); ia != nil {
		return "envoy://" + ia.GetServerListenerName() + "/" + ia.GetEndpointId()
	}
	sa := a.GetSocketAddress()
	return strings.TrimSuffix(sa.GetAddress()+":"+strconv.Itoa(int(sa.GetPortValue())), ":0")
}

func localityString(l *corev3.Locality) string {
	s := strings.TrimRight(strings.Join([]string{l.GetRegion(), l.GetZone(), l.GetSubZone()}, "/"), "/")
	if s == "" {
		return "-"
	}
	return s
}

func showSecrets(w io.Writer, d *pcDump, _ *proxyConfigFlags) error {
	var rows [][]string
	for _, s := range d.secrets {
		typ, pemData := "-", ""
		switch {
		case s.GetTlsCertificate() != nil:
			typ, pemData = "Cert Chain", s.GetTlsCertificate().GetCertificateChain().GetInlineString()+string(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes())
		case s.GetValidationContext() != nil:
			typ, pemData = "CA", s.GetValidationContext().GetTrustedCa().GetInlineString()+string(s.GetValidationContext().GetTrustedCa().GetInlineBytes())
		case s.GetGenericSecret() != nil:
			typ = "Generic"
		case s.GetSessionTicketKeys() != nil:
			typ = "Session Ticket Keys"
		}
		serial, notBefore, notAfter := "-", "-", "-"
		if blk, _ := pem.Decode([]byte(pemData)); blk != nil {
			if cert, err := x509.ParseCertificate(blk.Bytes); err == nil {
				serial = cert.SerialNumber.Text(16)
				notBefore, notAfter = cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339)
			}
		}
		rows = append(rows, []string{s.GetName(), typ, serial, notBefore, notAfter})
	}
	return table(w, "NAME\tTYPE\tSERIAL NUMBER\tNOT BEFORE\tNOT AFTER", rows)
}
