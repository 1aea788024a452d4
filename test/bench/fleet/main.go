// Command fleet connects a fleet of gateways to a running meshgate daemon
// (plaintext xDS) and measures how long one edit of its configuration
// directory takes to reach every gateway: one full adstest.Client learns
// what Envoy subscribes to, n adstest.Mirror streams (each on its own gRPC
// connection) ask for the same and ACK what they receive. Then the edit
// (-edit FILE: the first -from replaced by -to) is written, and the command
// prints, as "key value" lines, the time until every gateway has received
// and ACKed a new endpoint response, and the daemon's endpoint ACK count
// (meshgate_xds_config_ack_latency_seconds_count{type="endpoint"}) before
// and after. test/bench/server.sh runs it.
//
// Never imports: ./cmd/... (it drives the daemon from outside, like a
// gateway).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/xds/node"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("xds", "127.0.0.1:15010", "the daemon's plaintext xDS address")
	metrics := flag.String("metrics", "http://127.0.0.1:15014/metrics", "the daemon's metrics URL")
	n := flag.Int("gateways", 50, "gateways to connect")
	edit := flag.String("edit", "", "file to edit once every gateway holds its configuration")
	from := flag.String("from", "", "text of -edit to replace (first occurrence)")
	to := flag.String("to", "", "replacement")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	gw := func(i int) (*grpc.ClientConn, node.Node, error) {
		cc, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30))) // Envoy has no 4 MB limit
		return cc, node.Node{
			ID:       node.ID{Type: node.TypeRouter, IP: "10.1.0.7", Pod: "gw-" + strconv.Itoa(i), Namespace: "istio-system", DomainSuffix: "cluster.local"},
			Metadata: node.Metadata{Labels: map[string]string{"istio": "ingressgateway"}, Namespace: "istio-system"},
		}, err
	}
	cc, nd, err := gw(-1)
	if err != nil {
		return err
	}
	en, err := nd.Envoy()
	if err != nil {
		return err
	}
	full, err := adstest.Dial(ctx, cc, en, false)
	if err != nil {
		return err
	}
	st, err := full.WaitFor(ctx, func(s adstest.State) bool {
		return s.Count(resource.ListenerType) > 0 && s.Count(resource.EndpointType) > 0 && len(s.Resources[resource.RouteType]) > 0
	})
	if err != nil {
		return fmt.Errorf("first gateway: %w", err)
	}
	names := st.Subscriptions()
	start := time.Now()
	mirrors := make([]*adstest.Mirror, *n)
	for i := range mirrors {
		cc, nd, err := gw(i)
		if err != nil {
			return err
		}
		en, err := nd.Envoy()
		if err != nil {
			return err
		}
		if mirrors[i], err = adstest.DialMirror(ctx, cc, en, names); err != nil {
			return err
		}
	}
	for _, m := range mirrors {
		for _, t := range []string{resource.ClusterType, resource.ListenerType, resource.EndpointType} {
			if err := m.WaitCount(ctx, t, 1); err != nil {
				return fmt.Errorf("connecting: %w", err)
			}
		}
	}
	fmt.Printf("connect-all-ms %d\n", time.Since(start).Milliseconds())
	if *edit == "" {
		return nil
	}
	before := make([]int, len(mirrors))
	for i, m := range mirrors {
		before[i] = m.Count(resource.EndpointType)
	}
	acks0, err := endpointACKs(*metrics)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(*edit)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(*from)) {
		return fmt.Errorf("%s: no %q", *edit, *from)
	}
	start = time.Now()
	if err := os.WriteFile(*edit, bytes.Replace(b, []byte(*from), []byte(*to), 1), 0o644); err != nil {
		return err
	}
	for i, m := range mirrors {
		if err := m.WaitCount(ctx, resource.EndpointType, before[i]+1); err != nil {
			return fmt.Errorf("gateway %d: %w", i, err)
		}
	}
	fmt.Printf("edit-to-all-gateways-ms %d\n", time.Since(start).Milliseconds())
	// The last ACK may still be on its way to the daemon's histogram.
	var acks1 float64
	for deadline := time.Now().Add(5 * time.Second); ; {
		if acks1, err = endpointACKs(*metrics); err != nil || acks1-acks0 >= float64(*n+1) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling another process's metrics: no event to wait on
	}
	fmt.Printf("endpoint-acks-counted %.0f of %d\n", acks1-acks0, *n+1)
	return err
}

// endpointACKs reads meshgate_xds_config_ack_latency_seconds_count{type="endpoint"}.
func endpointACKs(url string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `meshgate_xds_config_ack_latency_seconds_count{type="endpoint"} `); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, nil // no series yet: nothing counted
}
