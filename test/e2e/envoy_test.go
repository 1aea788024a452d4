//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/e2e/meshlab"
	"github.com/meshgate/meshgate/test/e2e/workload"
	"github.com/meshgate/meshgate/test/envoytest"
)

// The Envoy world: two clusters whose east-west gateways are real Envoy
// processes (bootstrapped like `meshgate bootstrap`), and a real Envoy
// ingress gateway in cluster1 beside the built-in one.
//
//	cluster1 (net1): echo v1; Envoy ingress (HTTP :8000, HTTPS :8443 SIMPLE, :8444 MUTUAL)
//	cluster2 (net2): echo v2, only-b v1
//
// The ingress's routes (envoyRoutes) exercise weights, header matches,
// redirects, retries, timeouts and fault injection; its upstreams are the
// echo pods over ISTIO_MUTUAL (auto mTLS), local or through cluster2's
// Envoy east-west gateway (AUTO_PASSTHROUGH, by SNI).

// envoyRoutes are the Envoy ingress's VirtualServices (one per host).
func envoyRoutes() string {
	echo, onlyB := meshlab.Host("echo"), meshlab.Host("only-b")
	vs := ingressVirtualService
	dst := func(host, subset string) string {
		s := fmt.Sprintf("{host: %s, port: {number: %d}", host, meshlab.EchoPort)
		if subset != "" {
			s += ", subset: " + subset
		}
		return s + "}"
	}
	return strings.Join([]string{
		vs("local", "local.example.com", "  - route: [{destination: "+dst(echo, "v1")+"}]\n"),
		vs("remote", "remote.example.com", "  - route: [{destination: "+dst(onlyB, "")+"}]\n"),
		vs("split", "split.example.com", "  - route:\n    - {destination: "+dst(echo, "v1")+", weight: 50}\n    - {destination: "+dst(echo, "v2")+", weight: 50}\n"),
		vs("match", "match.example.com", "  - match: [{headers: {x-version: {exact: v2}}}]\n    route: [{destination: "+dst(echo, "v2")+"}]\n  - route: [{destination: "+dst(echo, "v1")+"}]\n"),
		vs("redirect", "redirect.example.com", "  - redirect: {uri: /moved, authority: local.example.com, redirectCode: 301}\n"),
		vs("retry", "retry.example.com", "  - route: [{destination: "+dst(echo, "v1")+"}]\n    retries: {attempts: 3, retryOn: 5xx, perTryTimeout: 2s}\n"),
		vs("timeout", "timeout.example.com", "  - route: [{destination: "+dst(echo, "v1")+"}]\n    timeout: 500ms\n"),
		vs("abort", "abort.example.com", "  - route: [{destination: "+dst(echo, "v1")+"}]\n    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n"),
		vs("delay", "delay.example.com", "  - route: [{destination: "+dst(echo, "v1")+"}]\n    fault: {delay: {fixedDelay: 300ms, percentage: {value: 100}}}\n"),
		vs("secure", meshlab.EnvoySecureHost, "  - route: [{destination: "+dst(echo, "v1")+"}]\n"),
		vs("mutual", meshlab.EnvoyMutualHost, "  - route: [{destination: "+dst(echo, "v1")+"}]\n"),
	}, "")
}

// ingressVirtualService is a VirtualService (name) of the Envoy ingress for
// host with the given http routes (YAML, indented as items of http).
func ingressVirtualService(name, host, http string) string {
	return fmt.Sprintf(`---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %s, namespace: %s}
spec:
  hosts: [%s]
  gateways: [%s/envoy-ingress]
  http:
%s`, name, meshlab.Namespace, host, meshlab.SystemNS, http)
}

// envoyMesh builds the Envoy world for one test; it is closed when the test
// ends. Clusters in builtinEastWest keep the built-in east-west gateway.
// Beside the pods above, cluster1 runs only-a (called from cluster2 through
// cluster1's east-west gateway).
func envoyMesh(t *testing.T, builtinEastWest ...string) *meshlab.Mesh {
	t.Helper()
	return newEnvoyMesh(t, envoyWorld{builtinEastWest: builtinEastWest})
}

// envoyWorld are the variations of the Envoy world.
type envoyWorld struct {
	builtinEastWest []string
	// egress adds an Envoy egress gateway in cluster1 and the external
	// service on cluster2's node address (meshlab.Mesh.External).
	egress bool
}

func newEnvoyMesh(t *testing.T, w envoyWorld) *meshlab.Mesh {
	t.Helper()
	builtinEastWest := w.builtinEastWest
	requireLab(t)
	envoy := envoytest.Path(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "meshgate-e2e-envoy-")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bin, err := meshlab.BuildBinary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	caps, err := meshlab.Probe(bin)
	if err != nil {
		t.Fatal(err)
	}
	if miss := caps.Missing("run", "gateway", "cert", "identity", "gossip"); len(miss) > 0 {
		t.Fatal(missingErr(miss))
	}
	opts := meshlab.Options{
		Clusters: 2, Dir: filepath.Join(dir, "mesh"), Bin: bin, Caps: caps, Envoy: envoy,
		Services:        map[string][]string{"cluster1": {"echo", "only-a"}, "cluster2": {"echo", "only-b"}},
		ClientRoutes:    []meshlab.ClientRoute{{Service: "echo"}, {Service: "echo", Subset: "v1"}, {Service: "only-a"}, {Service: "only-b"}},
		IngressCluster:  "cluster1",
		BuiltinEastWest: builtinEastWest,
		Logf:            t.Logf,
	}
	if w.egress {
		opts.EgressCluster, opts.ExternalCluster = "cluster1", "cluster2"
	}
	m, err := meshlab.New(ctx, slot, opts)
	t.Cleanup(func() {
		if m != nil {
			_ = m.Close()
		}
		if t.Failed() {
			fmt.Fprintf(os.Stderr, "e2e: %s failed; logs kept in %s\n", t.Name(), dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("building the Envoy mesh: %v", err)
	}
	for _, p := range []struct{ cluster, svc, version string }{
		{"cluster1", "echo", "v1"}, {"cluster1", "only-a", "v1"}, {"cluster2", "echo", "v2"}, {"cluster2", "only-b", "v1"},
	} {
		if _, err := m.Cluster(p.cluster).AddEchoPod(ctx, p.svc, p.version); err != nil {
			t.Fatal(err)
		}
	}
	c1 := m.Cluster("cluster1")
	if err := c1.Store.Set(envoyRoutes()); err != nil {
		t.Fatal(err)
	}
	if err := c1.Store.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Envoy mesh: 2 clusters, Envoy ingress, built-in east-west gateways in %v, source %s, ready in %s (work dir %s)",
		builtinEastWest, m.Opts.Source, time.Since(start).Round(time.Millisecond), dir)
	return m
}

// ingressClient sends HTTP(S) requests to the Envoy ingress from the test
// process (outside every network, like a user); the egress tests use it
// with a pod's client towards the egress gateway (egressClient).
type ingressClient struct {
	base  netip.Addr // the ingress address
	plain *http.Client
}

func newIngressClient(c *meshlab.Cluster) *ingressClient {
	return &ingressClient{base: c.Net.IngressIP, plain: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// httpAnswer is one HTTP exchange through the ingress.
type httpAnswer struct {
	Status  int
	Header  http.Header
	Body    string
	Reply   workload.Reply // when the echo answered
	Latency time.Duration
}

// do sends method to host (Host header) and path on the ingress's HTTP
// port through client hc (nil: plain HTTP) and url scheme/port.
func (ic *ingressClient) do(ctx context.Context, hc *http.Client, scheme string, port int, host, path string, hdr map[string]string) (httpAnswer, error) {
	if hc == nil {
		hc = ic.plain
	}
	url := fmt.Sprintf("%s://%s%s", scheme, netip.AddrPortFrom(ic.base, uint16(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return httpAnswer{}, err
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return httpAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpAnswer{}, err
	}
	a := httpAnswer{Status: resp.StatusCode, Header: resp.Header, Body: string(b), Latency: time.Since(start)}
	if resp.Header.Get(workload.HeaderPod) != "" {
		if err := json.Unmarshal(b, &a.Reply); err != nil {
			return a, fmt.Errorf("echo body %q: %w", b, err)
		}
	}
	return a, nil
}

func (ic *ingressClient) get(t *testing.T, host string, hdr map[string]string) httpAnswer {
	t.Helper()
	a, err := ic.do(context.Background(), nil, "http", meshlab.EnvoyHTTPPort, host, "/", hdr)
	if err != nil {
		t.Fatalf("GET http://%s/: %v", host, err)
	}
	return a
}

// load makes a paced load of GETs to host whose success is a 200 from an
// echo pod.
func (ic *ingressClient) load(name string, hc *http.Client, scheme string, port int, host string, hdr map[string]string) *workload.Load {
	return &workload.Load{Name: name, Rate: 50, Call: func(ctx context.Context, seq string) (workload.Result, error) {
		h := map[string]string{"x-echo-seq": seq}
		for k, v := range hdr {
			h[k] = v
		}
		a, err := ic.do(ctx, hc, scheme, port, host, "/", h)
		if err != nil {
			return workload.Result{}, err
		}
		if a.Status != http.StatusOK || a.Reply.Pod == "" {
			return workload.Result{}, fmt.Errorf("status %d: %.200s", a.Status, a.Body)
		}
		return workload.Result{Reply: a.Reply, Endpoint: "envoy-ingress"}, nil
	}}
}

// waitHost waits until the ingress routes host (its first answer from an
// echo pod): the daemon has translated the routes and Envoy accepted them.
func waitHost(t *testing.T, ic *ingressClient, host string) time.Duration {
	t.Helper()
	return waitUntil(t, "Envoy ingress routes "+host, nil, func() (bool, string) {
		a, err := ic.do(context.Background(), nil, "http", meshlab.EnvoyHTTPPort, host, "/", nil)
		if err != nil {
			return false, err.Error()
		}
		return a.Status == http.StatusOK && a.Reply.Pod != "", fmt.Sprintf("status %d: %.200s", a.Status, a.Body)
	})
}

// TestEnvoyGateways runs the HTTP, TLS and east-west scenarios through real
// Envoy gateways (one mesh for all of them; each subtest is one scenario).
func TestEnvoyGateways(t *testing.T) {
	m := envoyMesh(t)
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	ic := newIngressClient(c1)
	ingressID := m.PKI.WorkloadID(meshlab.SystemNS, meshlab.IngressGatewaySA).String()
	took := waitHost(t, ic, "local.example.com")
	t.Logf("Envoy ingress serves its routes %s after the mesh was ready", took.Round(time.Millisecond))

	t.Run("IngressLocalISTIOMutual", func(t *testing.T) {
		st := runLoad(ic.load("local", nil, "http", meshlab.EnvoyHTTPPort, "local.example.com", nil), 200)
		requireAllOK(t, st, ingressID, "cluster1/echo-cluster1-v1-")
		figure(t, "%s", st)
	})
	t.Run("IngressRemoteThroughEnvoyEastWest", func(t *testing.T) {
		waitHost(t, ic, "remote.example.com")
		st := runLoad(ic.load("remote", nil, "http", meshlab.EnvoyHTTPPort, "remote.example.com", nil), 200)
		requireAllOK(t, st, ingressID, "cluster2/only-b-")
		want := workload.Target{Host: meshlab.Host("only-b"), Port: meshlab.EchoPort}.Name().SNI()
		for _, s := range st.Samples {
			if s.OK() && s.Result.SNI != want {
				t.Fatalf("only-b saw SNI %q, want %q (AUTO_PASSTHROUGH by SNI)", s.Result.SNI, want)
			}
		}
		figure(t, "%s", st)
	})
	t.Run("Weights", func(t *testing.T) {
		waitHost(t, ic, "split.example.com")
		st := runLoad(ic.load("split 50/50", nil, "http", meshlab.EnvoyHTTPPort, "split.example.com", nil), 400)
		requireAllOK(t, st, ingressID, "cluster1/echo-", "cluster2/echo-")
		v1, v2 := 0, 0
		for _, s := range st.Samples {
			switch s.Result.Version {
			case "v1":
				v1++
			case "v2":
				v2++
			}
		}
		// 400 fair coin flips: outside 35–65% has probability < 1e-8.
		if n := v1 + v2; n == 0 || v1*100 < n*35 || v1*100 > n*65 {
			t.Errorf("split v1=%d v2=%d, want about 50/50", v1, v2)
		}
		figure(t, "%s; v1=%d v2=%d", st, v1, v2)
	})
	t.Run("HeaderMatch", func(t *testing.T) {
		waitHost(t, ic, "match.example.com")
		for _, tc := range []struct {
			hdr  map[string]string
			want string
		}{{map[string]string{"x-version": "v2"}, "v2"}, {nil, "v1"}, {map[string]string{"x-version": "v3"}, "v1"}} {
			for range 20 {
				a := ic.get(t, "match.example.com", tc.hdr)
				if a.Status != http.StatusOK || a.Reply.Version != tc.want {
					t.Fatalf("headers %v: status %d version %q, want 200 from %s: %.200s", tc.hdr, a.Status, a.Reply.Version, tc.want, a.Body)
				}
			}
		}
	})
	t.Run("Redirect", func(t *testing.T) {
		var a httpAnswer
		waitUntil(t, "redirect", nil, func() (bool, string) {
			a = ic.get(t, "redirect.example.com", nil)
			return a.Status == http.StatusMovedPermanently, fmt.Sprintf("status %d", a.Status)
		})
		if loc := a.Header.Get("Location"); loc != "http://local.example.com/moved" {
			t.Errorf("Location %q, want http://local.example.com/moved", loc)
		}
	})
	t.Run("Retries", func(t *testing.T) {
		waitHost(t, ic, "retry.example.com")
		// Each key fails twice with 500 at the pod, then succeeds: the
		// route's retries (5xx, 3 attempts) turn that into a 200 on the
		// third attempt.
		for i := range 20 {
			a := ic.get(t, "retry.example.com", map[string]string{workload.HeaderFail: fmt.Sprintf("retry-%d", i), workload.HeaderFailTimes: "2"})
			if a.Status != http.StatusOK || a.Reply.Attempt != 3 {
				t.Fatalf("request %d: status %d attempt %d, want 200 on attempt 3: %.200s", i, a.Status, a.Reply.Attempt, a.Body)
			}
		}
		// Without the route's retry policy the same failure reaches the caller.
		a := ic.get(t, "local.example.com", map[string]string{workload.HeaderFail: "no-retry", workload.HeaderFailTimes: "2"})
		if a.Status != http.StatusInternalServerError {
			t.Errorf("local.example.com (default retries): status %d, want the pod's 500", a.Status)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		waitHost(t, ic, "timeout.example.com")
		start := time.Now()
		a := ic.get(t, "timeout.example.com", map[string]string{workload.HeaderDelay: "3s"})
		took := time.Since(start)
		// Envoy's timers fire to within a millisecond or so of their
		// deadline (one was seen at 499.7ms): envoyTimerSlack.
		if a.Status != http.StatusGatewayTimeout || !strings.Contains(a.Body, "upstream request timeout") ||
			took < 500*time.Millisecond-envoyTimerSlack || took > 2500*time.Millisecond {
			t.Errorf("slow backend: status %d (%.100q) after %s, want Envoy's 504 after the route's 500ms", a.Status, a.Body, took)
		}
		if a := ic.get(t, "timeout.example.com", map[string]string{workload.HeaderDelay: "50ms"}); a.Status != http.StatusOK {
			t.Errorf("fast backend: status %d, want 200", a.Status)
		}
		figure(t, "504 after %s (route timeout 500ms)", took.Round(time.Millisecond))
	})
	t.Run("FaultAbort", func(t *testing.T) {
		var a httpAnswer
		waitUntil(t, "abort fault", nil, func() (bool, string) {
			a = ic.get(t, "abort.example.com", nil)
			return a.Status == http.StatusTeapot, fmt.Sprintf("status %d", a.Status)
		})
		for range 20 {
			if a := ic.get(t, "abort.example.com", nil); a.Status != http.StatusTeapot || a.Reply.Pod != "" {
				t.Fatalf("status %d (pod %q), want 418 from Envoy, never a pod", a.Status, a.Reply.Pod)
			}
		}
	})
	t.Run("FaultDelay", func(t *testing.T) {
		waitHost(t, ic, "delay.example.com")
		st := runLoad(ic.load("delay 300ms", nil, "http", meshlab.EnvoyHTTPPort, "delay.example.com", nil), 50)
		requireAllOK(t, st, ingressID, "cluster1/echo-")
		for _, s := range st.Samples {
			if s.OK() && s.Latency < 300*time.Millisecond-envoyTimerSlack {
				t.Fatalf("request answered in %s, want ≥ the injected 300ms", s.Latency)
			}
		}
		figure(t, "%s", st)
	})
	t.Run("TLSSimpleCredentialName", func(t *testing.T) {
		hc := tlsClient(m, meshlab.EnvoySecureHost, nil)
		var st workload.Stats
		waitUntil(t, "HTTPS SIMPLE", nil, func() (bool, string) {
			a, err := ic.do(context.Background(), hc, "https", meshlab.EnvoyHTTPSPort, meshlab.EnvoySecureHost, "/", nil)
			if err != nil {
				return false, err.Error()
			}
			return a.Status == http.StatusOK, fmt.Sprintf("status %d", a.Status)
		})
		st = runLoad(ic.load("https simple", hc, "https", meshlab.EnvoyHTTPSPort, meshlab.EnvoySecureHost, nil), 200)
		requireAllOK(t, st, ingressID, "cluster1/echo-")
		figure(t, "%s", st)
	})
	t.Run("TLSMutualCredentialName", func(t *testing.T) {
		cert, key, err := m.IngressPKI.Issue("user")
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		hc := tlsClient(m, meshlab.EnvoyMutualHost, &pair)
		waitUntil(t, "HTTPS MUTUAL", nil, func() (bool, string) {
			a, err := ic.do(context.Background(), hc, "https", meshlab.EnvoyMTLSPort, meshlab.EnvoyMutualHost, "/", nil)
			if err != nil {
				return false, err.Error()
			}
			return a.Status == http.StatusOK, fmt.Sprintf("status %d", a.Status)
		})
		st := runLoad(ic.load("https mutual", hc, "https", meshlab.EnvoyMTLSPort, meshlab.EnvoyMutualHost, nil), 200)
		requireAllOK(t, st, ingressID, "cluster1/echo-")
		// Without a client certificate the handshake (or the first read) fails.
		if a, err := ic.do(context.Background(), tlsClient(m, meshlab.EnvoyMutualHost, nil), "https", meshlab.EnvoyMTLSPort,
			meshlab.EnvoyMutualHost, "/", nil); err == nil {
			t.Errorf("no client certificate: status %d, want a TLS failure", a.Status)
		}
		figure(t, "%s", st)
	})
	t.Run("EastWestAutoPassthrough", func(t *testing.T) {
		cl := newClient(t, c1, "client-envoy-ew")
		tgt := target(m, tgtOnlyB, "only-b")
		took := waitEndpoints(t, cl, tgt, gw(c2))
		before := envoyStat(t, c2.EnvoyEastWest, "listener.0.0.0.0_15443.downstream_cx_total")
		st := runLoad(callLoad("only-b via Envoy east-west", cl, tgt, 50), 200)
		requireAllOK(t, st, cl.ID.ID().String(), "cluster2/only-b-")
		for _, s := range st.Samples {
			if s.OK() && s.Result.SNI != tgt.Name().SNI() {
				t.Fatalf("echo saw SNI %q, want %q", s.Result.SNI, tgt.Name().SNI())
			}
		}
		after := envoyStat(t, c2.EnvoyEastWest, "listener.0.0.0.0_15443.downstream_cx_total")
		if after-before < int64(st.OK) {
			t.Errorf("Envoy east-west accepted %d connections for %d successful calls", after-before, st.OK)
		}
		figure(t, "%s; endpoints converged in %s; Envoy listener connections +%d", st, took, after-before)
	})
}

// TestEnvoyChaosKillDaemons runs envoyKillDaemons in a mesh of its own.
func TestEnvoyChaosKillDaemons(t *testing.T) {
	m := envoyMesh(t)
	ic := newIngressClient(m.Cluster("cluster1"))
	waitHost(t, ic, "remote.example.com")
	envoyKillDaemons(t, m, ic, m.PKI.WorkloadID(meshlab.SystemNS, meshlab.IngressGatewaySA).String())
}

// TestEnvoyVsBuiltinSNIPassthrough compares, in one run and under the same
// machine load, SNI passthrough (AUTO_PASSTHROUGH, mesh mTLS end to end)
// through Envoy and through the built-in gateway: cluster1 keeps the
// built-in east-west gateway, cluster2's is Envoy. Three paced loads run at
// once: cluster1 → echo v1 in cluster1 (direct, the baseline), cluster1 →
// only-b through cluster2's Envoy, cluster2 → only-a through cluster1's
// built-in gateway. Both gateway paths also cross the router namespace;
// the direct one does not.
func TestEnvoyVsBuiltinSNIPassthrough(t *testing.T) {
	m := envoyMesh(t, "cluster1")
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	if c1.EastWest == nil || c1.EnvoyEastWest != nil || c2.EnvoyEastWest == nil {
		t.Fatal("want the built-in east-west gateway in cluster1 and Envoy in cluster2")
	}
	cl1, cl2 := newClient(t, c1, "client-cmp-1"), newClient(t, c2, "client-cmp-2")
	direct, viaEnvoy, viaBuiltin := target(m, tgtEchoV1, "echo"), target(m, tgtOnlyB, "only-b"), target(m, tgtOnlyA, "only-a")
	waitEndpoints(t, cl1, direct, podAddr(podOf(t, c1, "echo", "v1")))
	waitEndpoints(t, cl1, viaEnvoy, gw(c2))
	waitEndpoints(t, cl2, viaBuiltin, gw(c1))
	loads := []*workload.Load{
		callLoad("direct", cl1, direct, 50), callLoad("via Envoy", cl1, viaEnvoy, 50), callLoad("via built-in", cl2, viaBuiltin, 50),
	}
	n := scaled(500)
	for _, l := range loads {
		l.Start()
	}
	var st []workload.Stats
	for _, l := range loads {
		ctx, cancel := context.WithTimeout(context.Background(), neverConverged)
		_, err := l.WaitFor(ctx, time.Time{}, func(s workload.Stats) bool { return s.Sent >= n })
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range loads {
		st = append(st, l.Stop())
	}
	requireAllOK(t, st[0], cl1.ID.ID().String(), "cluster1/echo-")
	requireAllOK(t, st[1], cl1.ID.ID().String(), "cluster2/only-b-")
	requireAllOK(t, st[2], cl2.ID.ID().String(), "cluster1/only-a-")
	for _, s := range st {
		figure(t, "%s", s)
	}
	figure(t, "added p50 over direct: Envoy %s, built-in %s; p99: Envoy %s, built-in %s",
		(st[1].P50 - st[0].P50).Round(10*time.Microsecond), (st[2].P50 - st[0].P50).Round(10*time.Microsecond),
		st[1].P99.Round(10*time.Microsecond), st[2].P99.Round(10*time.Microsecond))
}

// envoyKillDaemons: kill -9 both daemons while requests flow through the
// Envoy ingress (cluster1) and the Envoy east-west gateway (cluster2) to
// only-b. Both Envoys notice (control_plane.connected_state 0) and keep
// serving their last config: no request fails. After the restart both
// reconnect and still no request fails (a restarted daemon serves only once
// it holds the other's cluster: federation sync), and a route added
// afterwards is served (Envoy took and ACKed new config from the restarted
// daemon).
func envoyKillDaemons(t *testing.T, m *meshlab.Mesh, ic *ingressClient, ingressID string) {
	c1, c2 := m.Cluster("cluster1"), m.Cluster("cluster2")
	envoys := []*meshlab.EnvoyGateway{c1.EnvoyIngress, c2.EnvoyEastWest}
	const connected = "control_plane.connected_state"
	load := ic.load("remote through both Envoys", nil, "http", meshlab.EnvoyHTTPPort, "remote.example.com", nil)
	load.Start()
	defer load.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), neverConverged)
	defer cancel()
	if _, err := load.WaitFor(ctx, time.Time{}, func(s workload.Stats) bool { return s.TrailingOK() >= recoveryStreak }); err != nil {
		t.Fatalf("steady baseline: %v", err)
	}
	faultAt := time.Now()
	for _, c := range []*meshlab.Cluster{c1, c2} {
		if err := c.Daemon.Kill(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { restartDaemon(t, m, c) })
	}
	for _, g := range envoys {
		waitUntil(t, g.Name+" notices its daemon is gone", nil, func() (bool, string) {
			n := envoyStat(t, g, connected)
			return n == 0, fmt.Sprintf("%s=%d", connected, n)
		})
	}
	during, err := load.WaitFor(ctx, faultAt, func(s workload.Stats) bool { return s.Sent >= scaled(250) })
	if err != nil {
		t.Fatal(err)
	}
	if during.Failed != 0 {
		t.Errorf("requests failed while the daemons were down (want Envoy's last config to keep serving): %s %v", during, during.Errors)
	}
	healAt := time.Now()
	// Both daemons come back at once, as after a node failure: each waits
	// for the other's cluster (federation sync) before it serves its Envoy,
	// so waiting for one's readiness before starting the other would only
	// measure the sync timeout.
	for _, c := range []*meshlab.Cluster{c1, c2} {
		if err := c.Daemon.Start(); err != nil {
			t.Fatalf("restart %s: %v", c.Daemon.Name, err)
		}
	}
	for _, c := range []*meshlab.Cluster{c1, c2} {
		if err := m.WaitDaemon(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	ready := time.Since(healAt)
	for _, g := range envoys {
		waitUntil(t, g.Name+" reconnects", nil, func() (bool, string) {
			n := envoyStat(t, g, connected)
			return n == 1, fmt.Sprintf("%s=%d", connected, n)
		})
	}
	reconnect := time.Since(healAt)
	if err := c1.Store.Set(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: after-restart, namespace: e2e}
spec:
  hosts: [after-restart.example.com]
  gateways: [istio-system/envoy-ingress]
  http:
  - route: [{destination: {host: ` + meshlab.Host("echo") + `, port: {number: 8080}, subset: v1}}]
`); err != nil {
		t.Fatal(err)
	}
	if err := c1.Store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logXDSState(t, c1, c1.EnvoyIngress)
		}
	})
	newRoute := waitHost(t, ic, "after-restart.example.com")
	after, err := load.WaitFor(ctx, healAt, func(s workload.Stats) bool { return s.Sent >= scaled(100) })
	if err != nil {
		t.Fatal(err)
	}
	if after.Failed != 0 {
		t.Errorf("requests failed after the daemons restarted: %s %v", after, after.Errors)
	}
	figure(t, "daemons down %s: %s; after restart: %s; both daemons ready (federation synced) %s and both Envoys reconnected %s after the restart, a new route served %s after it was written",
		healAt.Sub(faultAt).Round(time.Millisecond), during, after, ready.Round(time.Millisecond), reconnect.Round(time.Millisecond), newRoute.Round(time.Millisecond))
}

// envoyTimerSlack is how early, as this process measures it, an Envoy timer
// (route timeout, fault delay) may fire: Envoy's timer granularity.
const envoyTimerSlack = 5 * time.Millisecond

// tlsClient is an HTTPS client for the Envoy ingress: SNI serverName,
// trusting the ingress CA, with an optional client certificate.
func tlsClient(m *meshlab.Mesh, serverName string, cert *tls.Certificate) *http.Client {
	roots := x509.NewCertPool()
	for _, c := range m.IngressPKI.CA.Bundle().X509Authorities() {
		roots.AddCert(c)
	}
	cfg := &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}}
}

// envoyStat reads one counter or gauge from an Envoy's /stats.
func envoyStat(t *testing.T, g *meshlab.EnvoyGateway, name string) int64 {
	t.Helper()
	n, err := readEnvoyStat(g, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readEnvoyStat is envoyStat for conditions: a stat Envoy does not have
// (yet) is an error.
func readEnvoyStat(g *meshlab.EnvoyGateway, name string) (int64, error) {
	b, err := g.Admin().Admin(context.Background(), "/stats?filter="+url.QueryEscape("^"+regexp.QuoteMeta(name)+"$"))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", g.Name, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && k == name {
			var n int64
			if _, err := fmt.Sscan(v, &n); err == nil {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("%s: no stat %s in %q", g.Name, name, b)
}

// logXDSState logs, for a failed test, what the daemon thinks its proxies
// have (/debug/proxies) and the versions Envoy runs (config_dump).
func logXDSState(t *testing.T, c *meshlab.Cluster, g *meshlab.EnvoyGateway) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin/debug/proxies", nil)
	if resp, err := c.AdminClient().Do(req); err != nil {
		t.Logf("%s daemon /debug/proxies: %v", c.ID, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("%s daemon /debug/proxies:\n%s", c.ID, b)
	}
	if d, err := g.Admin().ConfigDump(ctx); err != nil {
		t.Logf("%s config_dump: %v", g.Name, err)
	} else {
		t.Logf("%s runs listeners %v routes %v clusters %v endpoints %v", g.Name, d.Listeners, d.Routes, d.Clusters, d.Endpoints)
	}
}
