package workload

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/identity"
)

func testIdentity(t *testing.T, ca *identity.CA, td spiffeid.TrustDomain, path string) *Identity {
	t.Helper()
	svid, err := ca.IssueX509SVID(spiffeid.RequireFromPath(td, path), identity.SVIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &Identity{SVID: svid, Bundle: ca.Bundle()}
}

// startTestEcho starts echo pod "echo-1" of cluster c1 on loopback (closed
// at the test's end) and returns its identity and a client's.
func startTestEcho(t *testing.T) (server, client *Identity, e *Echo) {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td, TTL: time.Hour}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	server, client = testIdentity(t, ca, td, "/ns/e2e/sa/echo"), testIdentity(t, ca, td, "/ns/e2e/sa/client")
	e, err = StartEcho(EchoConfig{Addr: netip.MustParseAddrPort("127.0.0.1:0"), Cluster: "c1", Pod: "echo-1",
		Service: "echo.e2e.svc.cluster.local", Version: "v1", ID: server})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return server, client, e
}

// TestEchoHTTP: the echo answers HTTP/1.1 (keep-alive) on the same mTLS
// port as its line protocol; x-echo-fail fails the first attempts of a key
// with 500, x-echo-delay delays the answer.
func TestEchoHTTP(t *testing.T) {
	server, client, e := startTestEcho(t)
	addr := e.l.Addr().String()
	tlsCfg := client.ClientTLS("echo", server.ID())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: false,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	defer hc.CloseIdleConnections()
	get := func(hdr map[string]string) (int, Reply, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/p", nil)
		req.Host = "h.example.com"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r Reply
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		return resp.StatusCode, r, resp.Header
	}
	st, r, h := get(nil)
	if st != 200 || r.Pod != "echo-1" || r.Host != "h.example.com" || r.Path != "/p" || r.Method != "GET" ||
		r.Peer != client.ID().String() || h.Get(HeaderPod) != "echo-1" {
		t.Fatalf("plain: %d %+v %v", st, r, h)
	}
	for i, want := range []int{500, 500, 200} {
		st, r, _ := get(map[string]string{HeaderFail: "k", HeaderFailTimes: "2"})
		if st != want || r.Attempt != i+1 {
			t.Errorf("fail attempt %d: status %d attempt %d, want %d", i+1, st, r.Attempt, want)
		}
	}
	start := time.Now()
	if st, _, _ := get(map[string]string{HeaderDelay: "200ms"}); st != 200 || time.Since(start) < 200*time.Millisecond {
		t.Errorf("delay: status %d after %s", st, time.Since(start))
	}
	// The line protocol still works on the same port.
	d := tls.Dialer{Config: tlsCfg}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "7\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, `"seq":"7"`) {
		t.Fatalf("line protocol: %q %v", line, err)
	}
}
