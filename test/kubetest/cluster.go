package kubetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Options configure a cluster. The zero value is a cluster on 127.0.0.1 with
// Istio's CRDs installed.
type Options struct {
	// Name names the cluster in its directory, kubeconfig and errors.
	// Default "cluster"; StartN appends "-1", "-2", ...
	Name string
	// BindAddress is the IP address etcd and kube-apiserver listen on and
	// the apiserver advertises (its serving certificate covers it).
	// Default 127.0.0.1. For a network namespace, use an address inside it
	// together with ExecPrefix, and make it reachable from this process.
	BindAddress string
	// ExecPrefix is prepended to both command lines, for example
	// []string{"ip", "netns", "exec", "ns1"}. Signals go to the process
	// group, so a wrapper that forks is fine.
	ExecPrefix []string
	// ExtraAPIServerArgs are appended to kube-apiserver's flags. A
	// single-valued flag given again overrides kubetest's value; a list flag
	// (such as --etcd-servers) is appended to.
	ExtraAPIServerArgs []string
	// Dir is the parent of the cluster's directory (certificates, etcd
	// data, logs, kubeconfig). Default os.TempDir(). The cluster's own
	// directory is removed by Close.
	Dir string
	// Binaries default to FindBinaries().
	Binaries *Binaries
	// SkipIstioCRDs leaves out Istio's CRDs (installed by default).
	SkipIstioCRDs bool
	// ReadyTimeout bounds each wait for etcd, kube-apiserver /readyz and the
	// CRDs. Default 2 minutes.
	ReadyTimeout time.Duration
	// Audit logs every request's metadata (no bodies) for
	// Cluster.AuditEvents: which user asked for what, and the answer.
	Audit bool
}

// serviceAccountIssuer is the issuer of the tokens every test cluster mints.
const serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// Cluster is one simulated Kubernetes cluster: an etcd and a kube-apiserver
// with their own ports, certificates and data. Methods are safe for
// concurrent use; a stopped component can be started again on the same
// port with the same certificates and data.
type Cluster struct {
	name    string
	dir     string
	host    string // BindAddress
	timeout time.Duration
	pki     *pki

	securePort, etcdPort, etcdPeerPort int
	etcd, apiserver                    *process

	mu             sync.Mutex
	servingCA      []byte // PEM, from --cert-dir; fixed after the first start
	restConfig     *rest.Config
	kubeconfigPath string
}

// Start starts one cluster and waits until its API server is ready and,
// unless opts.SkipIstioCRDs, Istio's CRDs are established. On error nothing
// is left running and the cluster's directory is removed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts = opts.withDefaults()
	bins := opts.Binaries
	if bins == nil {
		b, err := FindBinaries()
		if err != nil {
			return nil, err
		}
		bins = &b
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.Dir, "kubetest-"+opts.Name+"-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{name: opts.Name, dir: dir, host: opts.BindAddress, timeout: opts.ReadyTimeout}
	if err := c.boot(ctx, opts, *bins); err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	return c, nil
}

// StartN starts n independent clusters concurrently, named
// opts.Name-1 ... opts.Name-n. On error none is left running.
func StartN(ctx context.Context, n int, opts Options) ([]*Cluster, error) {
	opts = opts.withDefaults()
	if opts.Binaries == nil {
		b, err := FindBinaries()
		if err != nil {
			return nil, err
		}
		opts.Binaries = &b
	}
	clusters := make([]*Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		o := opts
		o.Name = fmt.Sprintf("%s-%d", opts.Name, i+1)
		wg.Go(func() { clusters[i], errs[i] = Start(ctx, o) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range clusters {
			if c != nil {
				c.Close()
			}
		}
		return nil, err
	}
	return clusters, nil
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "cluster"
	}
	if o.BindAddress == "" {
		o.BindAddress = "127.0.0.1"
	}
	if o.Dir == "" {
		o.Dir = os.TempDir()
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	return o
}

// maxPortAttempts bounds retries when a freshly picked port was taken by
// another process before etcd or kube-apiserver bound it.
const maxPortAttempts = 3

func (c *Cluster) boot(ctx context.Context, opts Options, bins Binaries) error {
	if net.ParseIP(opts.BindAddress) == nil {
		return fmt.Errorf("BindAddress %q is not an IP address", opts.BindAddress)
	}
	var err error
	if c.pki, err = newPKI(c.dir, c.name); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = c.bootOnce(ctx, opts, bins)
		if err == nil || !errors.Is(err, errAddrInUse) || attempt == maxPortAttempts {
			break
		}
		// Start afresh on other ports: the generated serving certificate,
		// etcd's member data and the client config name the old ones.
		c.Stop()
		c.mu.Lock()
		c.servingCA, c.restConfig, c.kubeconfigPath = nil, nil, ""
		c.mu.Unlock()
		for _, d := range []string{"certs", "etcd-data"} {
			if err := os.RemoveAll(filepath.Join(c.dir, d)); err != nil {
				return err
			}
		}
	}
	if err != nil {
		return err
	}
	if !opts.SkipIstioCRDs {
		if err := InstallIstioCRDs(ctx, c.RESTConfig(), c.timeout); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) bootOnce(ctx context.Context, opts Options, bins Binaries) error {
	ports, err := pickPorts(c.host, 3)
	if err != nil {
		return err
	}
	c.securePort, c.etcdPort, c.etcdPeerPort = ports[0], ports[1], ports[2]
	extra := opts.ExtraAPIServerArgs
	if opts.Audit {
		audit, err := c.auditArgs()
		if err != nil {
			return err
		}
		extra = append(audit, extra...)
	}
	c.etcd = &process{
		Name:    "etcd",
		Argv:    c.etcdArgv(opts.ExecPrefix, bins.Etcd),
		LogPath: filepath.Join(c.dir, "etcd.log"),
	}
	c.apiserver = &process{
		Name:    "kube-apiserver",
		Argv:    c.apiserverArgv(opts.ExecPrefix, bins.APIServer, extra),
		LogPath: filepath.Join(c.dir, "kube-apiserver.log"),
	}
	if err := c.StartEtcd(ctx); err != nil {
		return err
	}
	return c.StartAPIServer(ctx)
}

func (c *Cluster) etcdArgv(prefix []string, bin string) []string {
	argv := append(append([]string(nil), prefix...), bin,
		"--data-dir="+filepath.Join(c.dir, "etcd-data"),
		"--listen-client-urls="+c.EtcdURL(),
		"--listen-peer-urls=http://"+net.JoinHostPort(c.host, strconv.Itoa(c.etcdPeerPort)),
		"--log-level=error",
	)
	return argv
}

func (c *Cluster) apiserverArgv(prefix []string, bin string, extra []string) []string {
	advertise := c.host
	if net.ParseIP(c.host).IsUnspecified() {
		advertise = "127.0.0.1"
	}
	argv := append(append([]string(nil), prefix...), bin,
		"--etcd-servers="+c.EtcdURL(),
		"--bind-address="+c.host,
		"--advertise-address="+advertise,
		"--secure-port="+strconv.Itoa(c.securePort),
		"--cert-dir="+filepath.Join(c.dir, "certs"),
		"--client-ca-file="+c.pki.clientCAFile,
		"--service-account-issuer="+serviceAccountIssuer,
		"--service-account-key-file="+c.pki.saPubFile,
		"--service-account-signing-key-file="+c.pki.saKeyFile,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16",
		// Without it the apiserver exits on a loopback advertise address.
		"--endpoint-reconciler-type=none",
		// Close open watches on SIGTERM: without it a graceful stop with
		// an informer connected waits for --request-timeout (60 s).
		"--shutdown-watch-termination-grace-period=2s",
	)
	return append(argv, extra...)
}

// pickPorts is freePorts; a test replaces it to hand out a taken port.
var pickPorts = freePorts

// freePorts returns n distinct ports that were free on host (or on
// 127.0.0.1 when host is not an address of this network namespace).
func freePorts(host string, n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			l, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close() // held until all n are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var errAddrInUse = errors.New("address already in use")

// exitError explains why a component exited during startup, with its log
// tail. It wraps errAddrInUse when the log says the port was taken.
func exitError(p *process) error {
	tail := p.LogTail(40)
	err := fmt.Errorf("%w; last lines of %s:\n%s", exitErr(p), p.LogPath, tail)
	if strings.Contains(tail, "address already in use") {
		err = fmt.Errorf("%w: %w", errAddrInUse, err)
	}
	return err
}
