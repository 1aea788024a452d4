//go:build integration

package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/translate"
)

// TestRealEnvoyModifiedClusterAfterMove: a real Envoy (state of the world)
// served by one daemon moves to another one fed the same state that has
// never served its group (a replica it fails over to, or the same daemon
// restarted). Its cluster version is the one it holds (content versions),
// so no cluster response is due on the new stream; a later change that
// modifies a cluster it holds must still be followed by that cluster's
// endpoints, or Envoy warms the rebuilt cluster for ever (initial fetch
// timeout 0) and never ACKs the clusters. Before heldCDS the new daemon
// knew no clusters sent on that stream and re-sent nothing.
func TestRealEnvoyModifiedClusterAfterMove(t *testing.T) {
	envoy := envoytest.Path(t)
	w, mat := newEnvoyEnv(t)
	srvA, addrA := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate)
	srvB, addrB := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate)
	srvB.Update(w.mesh("backend-a"))

	fwd := newForwarder(t, addrA)
	srvA.Update(w.mesh("backend-a"))
	e := startEnvoy(t, envoy, fwd.addr(), corev3.ApiConfigSource_GRPC)
	onA := waitACKed(t, srvA, e, 30*time.Second, nil)
	fwd.moveTo(addrB)
	waitProxyStatus(t, srvB, "the moved Envoy connected to the other daemon", func(_ server.ProxyStatus, connected bool) bool { return connected })
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if body := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/", w.httpPort), ""); body != "backend-a" {
		t.Fatalf("GET through Envoy after the move = %q, want backend-a", body)
	}

	srvB.Update(w.mesh("backend-a", `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend-a, namespace: default}
spec:
  host: backend-a.default.svc.cluster.local
  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 3s}}}
`))
	waitProxyStatus(t, srvB, "Envoy ACKed the modified cluster on the other daemon (its endpoints re-sent)", func(st server.ProxyStatus, _ bool) bool {
		cl := st.Types["cluster"]
		return cl != nil && cl.Acked != "" && cl.Acked != onA["cluster"] && cl.Acked == cl.Sent
	})
	if body := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/", w.httpPort), ""); body != "backend-a" {
		t.Fatalf("GET through Envoy after the cluster change = %q, want backend-a", body)
	}
}

// forwarder is a TCP forwarder in front of an xDS server; moveTo closes
// every connection and sends new ones to another server (a gateway moving
// to another replica, as when the one it used goes away).
type forwarder struct {
	lis net.Listener

	mu     sync.Mutex
	target string
	conns  []net.Conn
}

func newForwarder(t *testing.T, target string) *forwarder {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{lis: lis, target: target}
	t.Cleanup(func() {
		_ = lis.Close()
		f.moveTo("")
	})
	go f.serve()
	return f
}

func (f *forwarder) addr() string { return f.lis.Addr().String() }

func (f *forwarder) serve() {
	for {
		c, err := f.lis.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		target := f.target
		f.mu.Unlock()
		up, err := net.Dial("tcp", target)
		if err != nil {
			_ = c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, up)
		f.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func (f *forwarder) moveTo(target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.target = target
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.conns = nil
}
