// Command e2e-workload runs the end-to-end suite's workloads outside the
// namespace lab, for the kind scripts (deploy/kind): an echo server and a
// load client, both from package workload.
//
//	e2e-workload echo --listen :8080 --cert-dir /etc/svid --cluster c1 --pod $POD --service echo.e2e.svc.cluster.local --version v1
//	e2e-workload call --xds meshgate.istio-system.svc:15012 --xds-server-name meshgate.istio-system.svc --cert-dir /etc/svid --ip $POD_IP --pod $POD --network net1 \
//	    --cluster-id c1 --target echo.e2e.svc.cluster.local:8080 [--subset v2] --server-id spiffe://... --n 200 --rate 50
//	e2e-workload call --plain INGRESS_IP:9000 --n 200
//	e2e-workload idle   (a client pod's main process)
//
// call prints one line of figures (sent, ok, failed, p50, p99, backends)
// and exits 1 when a request failed.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/e2e/netlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
	"github.com/meshgate/meshgate/xds/node"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: e2e-workload echo|call|idle [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "echo":
		err = echo(os.Args[2:])
	case "call":
		err = call(os.Args[2:])
	case "idle":
		// A client pod's main process: kubectl exec runs "call" beside it.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		<-ctx.Done()
		stop()
	default:
		err = fmt.Errorf("unknown command %q (want echo, call or idle)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-workload:", err)
		os.Exit(1)
	}
}

func echo(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	listen := fs.String("listen", "0.0.0.0:8080", "address to serve mesh mTLS on")
	certDir := fs.String("cert-dir", "/etc/svid", "directory written by meshgate cert issue")
	cluster := fs.String("cluster", "", "cluster id to report")
	pod := fs.String("pod", os.Getenv("POD_NAME"), "pod name to report")
	service := fs.String("service", "", "service host to report")
	version := fs.String("version", "", "version label to report")
	_ = fs.Parse(args)
	id, err := workload.LoadIdentity(*certDir)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddrPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	e, err := workload.StartEcho(workload.EchoConfig{Addr: addr, Cluster: *cluster, Pod: *pod, Service: *service,
		Version: *version, ID: id})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return e.Close()
}

func call(args []string) error {
	fs := flag.NewFlagSet("call", flag.ExitOnError)
	xds := fs.String("xds", "", "the daemon's ADS address")
	xdsServerName := fs.String("xds-server-name", "", "the daemon's DNS name: connect to its secure port over TLS with the --cert-dir SVID (empty: plaintext)")
	certDir := fs.String("cert-dir", "/etc/svid", "directory written by meshgate cert issue")
	nd := node.Node{
		ID:       node.ID{Type: node.TypeRouter, Namespace: "e2e", DomainSuffix: model.DefaultDomainSuffix},
		Metadata: node.Metadata{Namespace: "e2e", Labels: map[string]string{"app": "e2e-client"}},
	}
	fs.StringVar(&nd.ID.IP, "ip", os.Getenv("POD_IP"), "pod IP (node id)")
	fs.StringVar(&nd.ID.Pod, "pod", os.Getenv("POD_NAME"), "pod name (node id)")
	fs.StringVar(&nd.Metadata.Network, "network", "", node.MetaNetwork+" metadata")
	fs.StringVar(&nd.Metadata.ClusterID, "cluster-id", "", node.MetaClusterID+" metadata")
	target := fs.String("target", "", "host:port of the service to call")
	subset := fs.String("subset", "", "DestinationRule subset")
	serverID := fs.String("server-id", "", "SPIFFE ID the service's pods must prove")
	n := fs.Int("n", 200, "requests to send")
	rate := fs.Float64("rate", 50, "requests per second")
	wait := fs.Duration("wait", 2*time.Minute, "bound on the wait for endpoints")
	plain := fs.String("plain", "", "host:port: send plain TCP requests there (a north-south ingress) instead of mesh calls")
	_ = fs.Parse(args)
	if *plain != "" {
		return report(&workload.Load{Name: *plain, Rate: *rate, Call: func(ctx context.Context, seq string) (workload.Result, error) {
			return workload.PlainCall(ctx, netlab.Dialer{}, *plain, seq)
		}}, *n)
	}

	host, portStr, ok := strings.Cut(*target, ":")
	port, err := strconv.ParseUint(portStr, 10, 16)
	if !ok || err != nil {
		return fmt.Errorf("--target %q: want host:port", *target)
	}
	sid, err := spiffeid.FromString(*serverID)
	if err != nil {
		return fmt.Errorf("--server-id: %w", err)
	}
	tgt := workload.Target{Host: host, Port: uint32(port), Subset: *subset, ServerID: sid}
	id, err := workload.LoadIdentity(*certDir)
	if err != nil {
		return err
	}
	var xdsTLS *tls.Config
	if *xdsServerName != "" {
		xdsTLS = id.XDSClientTLS(*xdsServerName)
	}
	x, err := workload.StartXDSTLS(*xds, netlab.Dialer{}, nd, xdsTLS)
	if err != nil {
		return err
	}
	defer x.Close()
	cl := workload.NewClient(netlab.Dialer{}, id, x)
	if err := waitEndpoints(cl, tgt, *wait); err != nil {
		return err
	}
	return report(&workload.Load{Name: tgt.String(), Rate: *rate, Call: func(ctx context.Context, seq string) (workload.Result, error) {
		return cl.Call(ctx, tgt, seq)
	}}, *n)
}

// report runs l for n requests and prints its figures.
func report(l *workload.Load, n int) error {
	l.Start()
	_, _ = l.WaitFor(context.Background(), time.Time{}, func(s workload.Stats) bool { return s.Sent >= n })
	st := l.Stop()
	fmt.Println(st)
	if st.Failed > 0 {
		return fmt.Errorf("%d of %d requests failed: %v", st.Failed, st.Sent, st.Errors)
	}
	return nil
}

// waitEndpoints waits (bounded) until the client has endpoints for tgt.
func waitEndpoints(cl *workload.Client, tgt workload.Target, bound time.Duration) error {
	deadline := time.After(bound)
	for {
		ch := cl.XDS.Changed()
		if eps, err := cl.Endpoints(tgt); err == nil && len(eps) > 0 {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("no endpoints for %s from %s within %s", tgt, "the daemon", bound)
		}
	}
}
