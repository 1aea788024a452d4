package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/cmd/internal/cliflag"
	"github.com/meshgate/meshgate/discovery/convert"
	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

type translateFlags struct {
	paths               []string
	labels              map[string]string
	namespace           string
	ip                  string
	network             string
	clusterID           string
	output              string
	domainSuffix        string
	trustDomain         string
	mysql, redis        bool
	quic                bool
	exportTo            []string
	flavor              string
	logLevel, logFormat string
	locality            string
}

func init() { register(newTranslateCmd) }

func newTranslateCmd() *cobra.Command {
	f := &translateFlags{}
	cmd := &cobra.Command{
		Use:   "translate -f PATH [-f PATH ...] [--label k=v ...] [--namespace NS] [-o json|yaml]",
		Short: "Print the Envoy configuration istiod would give a gateway, from YAML files (offline)",
		Long: `translate reads Kubernetes and Istio objects (Service, Pod, Namespace, Secret, Endpoints,
EndpointSlice, Gateway, VirtualService, DestinationRule, ServiceEntry, and the Multi-Cluster
Services API's ServiceExport: <svc>.<ns>.svc.clusterset.local hosts) from files or directories
(-f -: standard input) and prints the listeners, routes, clusters, endpoints and secrets of one
gateway proxy as a single JSON (or YAML) object of Envoy v3 resources. Secrets are redacted.

The proxy is the pod with --label in --namespace (default istio=ingressgateway in istio-system).
Warnings (no Gateway selects the proxy, an empty output, a route to a missing service) and
rejected objects (including documents of a kind no API serves, named as kubectl names them)
are logged on stderr (--log-format text or json).

Exit status: 0 when everything translated (warnings included); 2 when some objects were
rejected (errors on stderr, the rest printed) or a flag value is invalid (--proxy-ip,
--locality, --cluster-id, --default-service-export-to, -o); 1 when the input could not be read.`,
		Example: `  # the quickstart's ingress gateway
  meshgate translate -f deploy/examples/quickstart
  # its L4 gateway, as YAML
  meshgate translate -f deploy/examples/quickstart --label app=l4-gateway -o yaml
  # objects from standard input
  kubectl get gateway,virtualservice,service -A -o yaml | meshgate translate -f -
  # a multi-cluster input: the east-west gateway of network1
  meshgate translate -f deploy/examples/multicluster --label istio=eastwestgateway --network network1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTranslate(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	f.bindInput(fl)
	cliflag.OutputFlag(fl, &f.output, "json", "yaml")
	cliflag.Log(fl, &f.logLevel, &f.logFormat)
	_ = cmd.MarkFlagRequired(string(cliflag.File))
	return cmd
}

func runTranslate(stdin io.Reader, stdout, stderr io.Writer, f *translateFlags) error {
	log, err := cliflag.Logger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return rejected(err)
	}
	useLogger(log)
	if err := cliflag.CheckOutput(f.output, "json", "yaml"); err != nil {
		return rejected(err)
	}
	// Long work shows progress: the file source logs a long load's progress
	// itself; once the load took that long, each later phase gets an info line
	// too. Every phase's duration is a debug line (test/bench/perf.sh reads them).
	ph := phases{log: log, start: time.Now()}
	in, cleanup, err := prepareTranslate(stdin, f)
	defer cleanup()
	if err != nil {
		return err
	}
	mesh, proxy, opts, objErrs, paths := in.mesh, in.proxy, in.opts, in.objErrs, in.paths
	services, endpoints := 0, 0
	for _, c := range mesh.Clusters {
		services += len(c.Services)
		for _, svc := range c.Services {
			endpoints += len(svc.Endpoints)
		}
	}
	ph.done("loaded the input", "services", services, "endpoints", endpoints)
	// The input's decoded objects are garbage now, but the heap's goal
	// still counts them (twice the heap live at the last collection, during
	// the load): one collection here makes the translation's heap follow
	// the mesh instead (53 MB input: peak RSS 531–602 → 422–473 MB, for one
	// mark of the mesh, some 76 MB live).
	runtime.GC()
	ph.begin("translating")
	res, err := translate.Translate(mesh, proxy, opts)
	if err != nil {
		return failed(err)
	}
	ph.done("translated", "listeners", len(res.Listeners), "routes", len(res.Routes), "clusters", len(res.Clusters), "endpoints", len(res.Endpoints))
	// What the warnings and errors need is taken now: nothing below uses the
	// mesh, which the GC takes while the output is written (a large output's
	// peak memory is then the result, not the mesh as well).
	warnings := unselectedWarnings(mesh, proxy, res)
	rejectedObjs := objErrs
	for _, e := range res.Errors {
		rejectedObjs = append(rejectedObjs, mesh.Locate(e))
	}
	ph.begin("writing the output")
	if f.output == "yaml" {
		doc, err := translate.NewDocument(res)
		if err != nil {
			return failed(err)
		}
		out, err := doc.MarshalIndent()
		if err == nil {
			out, err = yaml.JSONToYAML(out)
		}
		if err == nil {
			_, err = stdout.Write(out)
		}
		if err != nil {
			return failed(err)
		}
	} else if err := translate.WriteResult(stdout, res); err != nil { // streamed, resources freed as written
		return failed(err)
	}
	ph.done("wrote the output")
	for _, w := range warnings {
		log.Warn(w.msg, w.args...)
	}
	for _, w := range res.Warnings {
		log.Warn(w.Error())
	}
	for _, e := range rejectedObjs {
		log.Error("object rejected", "err", stdinNamed(e, paths))
	}
	if len(rejectedObjs) > 0 {
		return rejected(fmt.Errorf("%d object(s) rejected", len(rejectedObjs)))
	}
	return nil
}

// bindInput defines the flags of the input and of the proxy (translate's,
// and explain's offline mode).
func (f *translateFlags) bindInput(fl *pflag.FlagSet) {
	cliflag.StringArray(fl, &f.paths, cliflag.File, "YAML/JSON file or directory, - for standard input (repeatable)")
	cliflag.Labels(fl, &f.labels, map[string]string{"istio": "ingressgateway"}, "label of the gateway proxy's pod, k=v (repeatable)")
	cliflag.Alias(fl, "proxy-labels", cliflag.Label)
	cliflag.String(fl, &f.namespace, cliflag.Namespace, model.IstioSystemNamespace, "namespace of the gateway proxy")
	cliflag.Alias(fl, "proxy-namespace", cliflag.Namespace)
	fl.StringVar(&f.ip, "proxy-ip", "", "IP of the gateway pod (default: the address of a pod in --namespace with the --label labels)")
	cliflag.String(fl, &f.network, cliflag.Network, "", "network of the gateway proxy (default: its cluster's network)")
	cliflag.Alias(fl, "proxy-network", cliflag.Network)
	cliflag.String(fl, &f.locality, cliflag.Locality, "", "locality of the gateway proxy, region[/zone[/subzone]] (locality load balancing is relative to it)")
	cliflag.String(fl, &f.clusterID, cliflag.ClusterID, "", "cluster of the gateway proxy and of single-cluster input (default "+model.DefaultClusterID+"); with a multi-cluster input, one of its clusters")
	cliflag.String(fl, &f.domainSuffix, cliflag.DomainSuffix, model.DefaultDomainSuffix, "cluster DNS domain")
	cliflag.String(fl, &f.trustDomain, cliflag.TrustDomain, model.DefaultTrustDomain, "SPIFFE trust domain")
	fl.BoolVar(&f.mysql, "enable-mysql-filter", false, "put Envoy's mysql_proxy before tcp_proxy on MYSQL servers (Istio: PILOT_ENABLE_MYSQL_FILTER)")
	fl.BoolVar(&f.redis, "enable-redis-filter", false, "use Envoy's redis_proxy for REDIS servers (Istio: PILOT_ENABLE_REDIS_FILTER)")
	fl.BoolVar(&f.quic, "enable-quic-listeners", false, "add HTTP/3 (QUIC) listeners for HTTPS servers with a UDP gateway port (Istio: PILOT_ENABLE_QUIC_LISTENERS)")
	fl.StringSliceVar(&f.exportTo, "default-service-export-to", nil, "namespaces where Services and ServiceEntries without exportTo are visible: *, ., ~ or names (Istio: meshConfig.defaultServiceExportTo; default *)")
	fl.StringVar(&f.flavor, "proxy-flavor", string(translate.FlavorIstio), "proxy build: istio (Istio's proxy: what istiod would give, Istio's own filters included) or envoy (upstream Envoy: its own extensions only)")
}

// translateInput is what translate (and explain, offline) work on: the
// loaded mesh, the proxy the flags describe, the options, and the objects
// rejected while loading.
type translateInput struct {
	mesh    *model.MeshState
	proxy   translate.Proxy
	opts    translate.Options
	objErrs []error
	paths   []string
}

// prepareTranslate checks the flags, loads the input (-f, - for standard
// input) and builds the proxy. cleanup removes the copy of standard input;
// call it even on error.
func prepareTranslate(stdin io.Reader, f *translateFlags) (_ *translateInput, cleanup func(), _ error) {
	flavor, err := translate.ParseFlavor(f.flavor)
	if err != nil {
		return nil, func() {}, rejected(fmt.Errorf("--proxy-flavor: %w", err))
	}
	if f.ip != "" && net.ParseIP(f.ip) == nil {
		return nil, func() {}, rejected(fmt.Errorf("--proxy-ip %q: not an IP address", f.ip))
	}
	var locality model.Locality
	if f.locality != "" {
		if locality, err = model.ParseLocality(f.locality); err != nil {
			return nil, func() {}, rejected(fmt.Errorf("--%s: %w", cliflag.Locality, err))
		}
	}
	if err := convert.ValidateDefaultExportTo(f.exportTo); err != nil {
		return nil, func() {}, rejected(fmt.Errorf("--default-service-export-to: %w", err))
	}
	paths, cleanup, err := stdinPaths(f.paths, stdin)
	if err != nil {
		return nil, func() {}, failed(err)
	}
	// through the process's logger: a long load logs its progress
	loaded, err := file.LoadWith(file.Config{Paths: paths, ClusterID: f.clusterID, Network: f.network, DomainSuffix: f.domainSuffix}, file.Options{Logger: slog.Default()})
	if err != nil {
		return nil, cleanup, failed(stdinNamed(err, paths))
	}
	mesh, objErrs := loaded.Mesh, loaded.ObjErrs
	for _, ig := range loaded.Ignored {
		if ig.Unknown { // a kind no API serves, most often misspelled: rejected, as kubectl would
			objErrs = append(objErrs, errors.New(ig.String()))
		}
	}
	clusterID := mesh.LocalCluster
	if f.clusterID != "" {
		if mesh.Cluster(f.clusterID) == nil {
			ids := make([]string, len(mesh.Clusters))
			for i, c := range mesh.Clusters {
				ids[i] = c.ID
			}
			return nil, cleanup, rejected(fmt.Errorf("--cluster-id %q: not a cluster of the input (its clusters: %s)", f.clusterID, strings.Join(ids, ", ")))
		}
		clusterID = f.clusterID
	}
	proxy := translate.Proxy{
		Type: node.TypeRouter, Namespace: f.namespace, Labels: f.labels,
		Network: f.network, ClusterID: clusterID, IP: f.ip, Flavor: flavor,
	}
	proxy.Locality = locality
	if proxy.IP == "" {
		proxy.IP = translate.InferProxyIP(mesh, f.namespace, f.labels)
	}
	opts := translate.DefaultOptions()
	opts.DomainSuffix, opts.TrustDomain = f.domainSuffix, f.trustDomain
	opts.EnableMySQLFilter, opts.EnableRedisFilter, opts.EnableQUICListeners = f.mysql, f.redis, f.quic
	opts.DefaultServiceExportTo = f.exportTo
	return &translateInput{mesh: mesh, proxy: proxy, opts: opts, objErrs: objErrs, paths: paths}, cleanup, nil
}

// phases logs the duration of each phase of translate at debug, and when
// the run is long (its load took file.ProgressAfter or more), an info line
// when each phase begins and ends, so a large input never looks hung.
type phases struct {
	log         *slog.Logger
	start, last time.Time
	long        bool
}

func (p *phases) begin(what string) {
	if p.long {
		p.log.Info(what + "...")
	}
}

// done ends the phase that began last (the first: at start).
func (p *phases) done(what string, args ...any) {
	now := time.Now()
	if p.last.IsZero() {
		p.last = p.start
		p.long = now.Sub(p.start) >= file.ProgressAfter
	}
	args = append(args, "seconds", now.Sub(p.last).Seconds())
	p.last = now
	level := slog.LevelDebug
	if p.long {
		level = slog.LevelInfo
	}
	p.log.Log(context.Background(), level, what, args...)
}

// warning is a log line to write later.
type warning struct {
	msg  string
	args []any
}

// unselectedWarnings says when no Gateway selects the proxy (so it gets no
// listeners) and when the output is empty: both exit 0, as istiod would
// serve them, but are rarely what was meant.
func unselectedWarnings(mesh *model.MeshState, p translate.Proxy, res *translate.Result) []warning {
	var out []warning
	if selectors, unselected := translate.Unselected(mesh, p); unselected {
		if len(selectors) == 0 {
			out = append(out, warning{"no Gateway selects the proxy: the input has no valid Gateway", []any{"labels", translate.LabelString(p.Labels)}})
		} else {
			out = append(out, warning{"no Gateway selects the proxy: it gets no listeners; pick one with --label", []any{"labels", translate.LabelString(p.Labels), "gateways", strings.Join(selectors, "; ")}})
		}
	}
	if len(res.Listeners)+len(res.Routes)+len(res.Clusters)+len(res.Endpoints)+len(res.Secrets) == 0 {
		out = append(out, warning{"the output is empty: no listeners, routes, clusters, endpoints or secrets", nil})
	}
	return out
}

// stdinName stands for standard input in messages.
const stdinName = "<stdin>"

// stdinPaths replaces a "-" among paths by a temporary file holding stdin
// (the file source reads paths); cleanup removes it.
func stdinPaths(paths []string, stdin io.Reader) (out []string, cleanup func(), err error) {
	cleanup = func() {}
	i := slices.Index(paths, "-")
	if i < 0 {
		return paths, cleanup, nil
	}
	if slices.Index(paths[i+1:], "-") >= 0 {
		return nil, cleanup, errors.New("-f -: standard input can be read once")
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		return nil, cleanup, fmt.Errorf("-f -: %w", err)
	}
	dir, err := os.MkdirTemp("", "meshgate-stdin-")
	if err != nil {
		return nil, cleanup, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	name := filepath.Join(dir, "stdin.yaml")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		cleanup()
		return nil, func() {}, err
	}
	out = slices.Clone(paths)
	out[i] = name
	return out, cleanup, nil
}

// stdinNamed is err with the temporary file of stdinPaths called <stdin>.
func stdinNamed(err error, paths []string) error {
	for _, p := range paths {
		if filepath.Base(p) == "stdin.yaml" && strings.HasPrefix(filepath.Base(filepath.Dir(p)), "meshgate-stdin-") {
			return namedError{err, strings.ReplaceAll(err.Error(), p, stdinName)}
		}
	}
	return err
}

// namedError is an error with a rewritten message; errors.Is/As still see the original.
type namedError struct {
	err error
	msg string
}

func (e namedError) Error() string { return e.msg }
func (e namedError) Unwrap() error { return e.err }
