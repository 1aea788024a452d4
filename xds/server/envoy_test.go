//go:build integration

package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/grpc"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/xds/server"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
	"github.com/meshgate/meshgate/xds/translate"
)

// envoyNodeID is the ingress gateway the real Envoy plays.
const envoyNodeID = "router~127.0.0.1~ingress-0.istio-system~istio-system.svc.cluster.local"

// loopbackTranslate is translate.Translate with the listeners bound to
// 127.0.0.1 instead of 0.0.0.0, so that the test's Envoy listens on loopback
// only. Nothing else is changed.
func loopbackTranslate(mesh *model.MeshState, p translate.Proxy, o translate.Options) (*translate.Result, error) {
	res, err := translate.Translate(mesh, p, o)
	if err != nil {
		return nil, err
	}
	for _, l := range res.Listeners {
		if sa := l.GetAddress().GetSocketAddress(); sa != nil && sa.Address == "0.0.0.0" {
			sa.Address = "127.0.0.1"
		}
	}
	return res, nil
}

// identitySecrets serves default and ROOTCA from a throwaway CA.
type identitySecrets struct{ m *envoytest.Material }

func (s identitySecrets) IdentitySecrets(server.Node) ([]*tlsv3.Secret, error) {
	cert, err := s.m.CertificateSecret(server.SecretDefault)
	if err != nil {
		return nil, err
	}
	roots, err := s.m.ValidationSecret(server.SecretRootCA)
	if err != nil {
		return nil, err
	}
	return []*tlsv3.Secret{cert, roots}, nil
}

// envoyWorld is a small ingress world: an HTTP server on httpPort routing
// every host to backend (backend-a or backend-b, local HTTP servers), and an
// HTTPS server on httpsPort for secure.example.com with a credentialName
// certificate (served over SDS).
const envoyWorld = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: %[1]d, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: %[2]d, name: https, protocol: HTTPS}
    hosts: ["secure.example.com"]
    tls: {mode: SIMPLE, credentialName: cred}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: route, namespace: default}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - route:
    - destination: {host: %[3]s, port: {number: 8000}}
---
apiVersion: v1
kind: Secret
metadata: {name: cred, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: %[6]s, tls.key: %[7]s}
---
apiVersion: v1
kind: Service
metadata: {name: backend-a, namespace: default}
spec: {ports: [{name: http, port: 8000, targetPort: %[4]d}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: backend-a, namespace: default}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: http, port: %[4]d}]}]
---
apiVersion: v1
kind: Service
metadata: {name: backend-b, namespace: default}
spec: {ports: [{name: http, port: 8000, targetPort: %[5]d}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: backend-b, namespace: default}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{name: http, port: %[5]d}]}]
`

type envoyEnv struct {
	t                   *testing.T
	dir                 string
	httpPort, httpsPort int
	portA, portB        int
	certB64, keyB64     string
	roots               *x509.CertPool
}

// newEnvoyEnv makes the world's backends, ports and key material: the
// credentialName certificate for secure.example.com is signed by mat's CA.
func newEnvoyEnv(t *testing.T) (*envoyEnv, *envoytest.Material) {
	mat, err := envoytest.NewMaterial(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svid, err := mat.CA.IssueX509SVID(mat.SVID.ID, identity.SVIDOptions{DNSNames: []string{"secure.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := identity.EncodePrivateKeyPEM(svid.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(mat.CA.Certificate())
	ports := freePorts(t, 2)
	return &envoyEnv{t: t, dir: t.TempDir(), httpPort: ports[0], httpsPort: ports[1],
		portA: backend(t, "backend-a"), portB: backend(t, "backend-b"),
		certB64: base64.StdEncoding.EncodeToString(identity.EncodeCertificatesPEM(svid.Certificates)),
		keyB64:  base64.StdEncoding.EncodeToString(keyPEM), roots: roots}, mat
}

// mesh loads the world with the VirtualService routing to backend, plus the
// extra YAML documents.
func (w *envoyEnv) mesh(backend string, extra ...string) *model.MeshState {
	w.t.Helper()
	path := filepath.Join(w.dir, "world.yaml")
	y := fmt.Sprintf(envoyWorld, w.httpPort, w.httpsPort, backend, w.portA, w.portB, w.certB64, w.keyB64)
	for _, e := range extra {
		y += "---\n" + e
	}
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		w.t.Fatal(err)
	}
	mesh, objErrs, err := file.LoadMesh(file.Config{Paths: []string{path}})
	if err != nil || len(objErrs) > 0 {
		w.t.Fatalf("load world: %v %v", err, objErrs)
	}
	return mesh
}

// freePorts returns n distinct ports free on 127.0.0.1 now.
func freePorts(t *testing.T, n int) []int {
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

func backend(t *testing.T, body string) int {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// TestRealEnvoyADS connects the real Envoy to the xDS server over ADS, state
// of the world and delta: Envoy ACKs listeners, routes, clusters, endpoints
// and secrets, serves HTTP and HTTPS (certificate over SDS) through its
// listeners to local backends, and switches routes make-before-break: while
// the VirtualService moves to a backend whose cluster Envoy does not have
// yet, every request keeps succeeding.
func TestRealEnvoyADS(t *testing.T) {
	envoy := envoytest.Path(t)
	for _, api := range []corev3.ApiConfigSource_ApiType{corev3.ApiConfigSource_GRPC, corev3.ApiConfigSource_DELTA_GRPC} {
		t.Run(api.String(), func(t *testing.T) { testRealEnvoyADS(t, envoy, api) })
	}
}

func testRealEnvoyADS(t *testing.T, envoy string, api corev3.ApiConfigSource_ApiType) {
	w, mat := newEnvoyEnv(t)
	srv, addr := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate)
	srv.Update(w.mesh("backend-a"))
	e := startEnvoy(t, envoy, addr, api)

	// Everything is sent and ACKed, and active in Envoy.
	first := waitACKed(t, srv, e, 30*time.Second, nil)
	dump, err := e.ConfigDump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	httpListener := fmt.Sprintf("0.0.0.0_%d", w.httpPort)
	clusterA := "outbound|8000||backend-a.default.svc.cluster.local"
	clusterB := "outbound|8000||backend-b.default.svc.cluster.local"
	for what, m := range map[string]map[string]string{
		"listener " + httpListener:                      dump.Listeners,
		fmt.Sprintf("listener 0.0.0.0_%d", w.httpsPort): dump.Listeners,
		"cluster " + clusterA:                           dump.Clusters,
		"endpoints of " + clusterA:                      dump.Endpoints,
		fmt.Sprintf("route http.%d", w.httpPort):        dump.Routes,
		"secret kubernetes://cred":                      dump.Secrets,
		"secret default":                                dump.Secrets,
		"secret ROOTCA":                                 dump.Secrets,
	} {
		name := what[strings.LastIndex(what, " ")+1:]
		if _, ok := m[name]; !ok {
			t.Errorf("Envoy's config_dump has no active %s", what)
		}
	}
	if _, ok := dump.Clusters[clusterB]; ok {
		t.Errorf("cluster %s is active before any route uses it", clusterB)
	}
	// State of the world: Envoy reports the type's version; delta: each
	// resource's own version.
	if v := dump.Listeners[httpListener]; api == corev3.ApiConfigSource_GRPC && v != first["listener"] {
		t.Errorf("Envoy's listener version %q, the server's ACKed version %q", v, first["listener"])
	}

	httpURL := fmt.Sprintf("http://127.0.0.1:%d/", w.httpPort)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if body := get(t, client, httpURL, ""); body != "backend-a" {
		t.Fatalf("GET %s through Envoy = %q, want backend-a", httpURL, body)
	}
	tlsClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: w.roots, ServerName: "secure.example.com"}}}
	httpsURL := fmt.Sprintf("https://127.0.0.1:%d/", w.httpsPort)
	if body := get(t, tlsClient, httpsURL, "secure.example.com"); body != "backend-a" {
		t.Fatalf("GET %s (SNI secure.example.com) through Envoy = %q, want backend-a", httpsURL, body)
	}

	// Make-before-break: requests run while the route moves to backend-b,
	// whose cluster Envoy gets only now. None may fail.
	type result struct {
		body string
		err  error
	}
	results := make(chan result, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(results)
		for {
			select {
			case <-stop:
				return
			default:
			}
			body, err := tryGet(client, httpURL, "")
			select {
			case results <- result{body, err}:
			case <-stop:
				return
			}
		}
	}()
	srv.Update(w.mesh("backend-b"))
	var n, onA int
	deadline := time.After(30 * time.Second)
	for switched := false; !switched; {
		select {
		case r := <-results:
			n++
			switch {
			case r.err != nil:
				t.Errorf("request %d during the route change failed: %v", n, r.err)
			case r.body == "backend-a":
				onA++
			case r.body == "backend-b":
				switched = true
			default:
				t.Errorf("request %d during the route change: unexpected body %q", n, r.body)
			}
		case <-deadline:
			t.Fatalf("route did not switch to backend-b within 30 s (%d requests, %d to backend-a)", n, onA)
		}
	}
	close(stop)
	for range results {
	}
	wg.Wait()
	t.Logf("%s: route switched after %d requests (%d served by backend-a, none failed)", api, n, onA)

	second := waitACKed(t, srv, e, 30*time.Second, first, "route")
	for _, typ := range []string{"route", "cluster"} {
		if second[typ] == first[typ] {
			t.Errorf("%s version unchanged after the VirtualService change: %s", typ, first[typ])
		}
	}
	dump, err = e.ConfigDump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dump.Endpoints[clusterB]; !ok {
		t.Errorf("no endpoints for %s in Envoy after the change", clusterB)
	}
	if body := get(t, tlsClient, httpsURL, "secure.example.com"); body != "backend-b" {
		t.Errorf("GET %s after the change = %q, want backend-b", httpsURL, body)
	}
	st, _ := srv.Proxy(envoyNodeID)
	for typ, ts := range st.Types {
		if ts.NACKs > 0 {
			t.Errorf("%s: %d NACKs, last: %+v", typ, ts.NACKs, ts.LastNACK)
		}
	}
}

// startEnvoyServer runs an xDS server (real translator with topts,
// listeners on loopback, identity secrets from mat) on a free 127.0.0.1 port until the
// test ends; a failed test gets the server's log.
func startEnvoyServer(t testing.TB, mat *envoytest.Material, topts translate.Options, envoy server.TranslateFunc, with ...func(*server.Options)) (*server.Server, string) {
	var logs strings.Builder
	var logMu sync.Mutex
	opts := server.Options{
		Envoy: envoy, EnvoyEndpoints: server.EnvoyEndpoints,
		Secrets: identitySecrets{mat},
		Logger:  slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	for _, f := range with {
		f(&opts)
	}
	srv, err := server.New(server.Config{
		Translate: topts,
		Holdoff:   10 * time.Millisecond, MaxDelay: 100 * time.Millisecond,
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = gs.Serve(lis); done <- struct{}{} }()
	go func() { _ = srv.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		gs.Stop()
		<-done
		<-done
		if t.Failed() {
			logMu.Lock()
			t.Logf("xds server log:\n%s", logs.String())
			logMu.Unlock()
		}
	})
	return srv, lis.Addr().String()
}

// startEnvoy starts the real Envoy as envoyNodeID (labels
// istio=ingressgateway) with a `meshgate bootstrap` bootstrap pointing at
// the xDS server on addr, ADS of the given API type.
func startEnvoy(t testing.TB, envoy, addr string, api corev3.ApiConfigSource_ApiType) *envoytest.Envoy {
	b, err := bootstrap.Envoy(bootstrap.Options{NodeID: envoyNodeID, XDSAddress: addr,
		Labels: map[string]string{"istio": "ingressgateway"}, AdminAddress: "127.0.0.1:15000"})
	if err != nil {
		t.Fatal(err)
	}
	b.DynamicResources.AdsConfig.ApiType = api
	// Admin on a port Envoy picks (envoytest.Start reads it back); the
	// bootstrap package insists on an explicit port.
	b.Admin.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 0}
	bj, err := bootstrap.Marshal(b, "json")
	if err != nil {
		t.Fatal(err)
	}
	return envoytest.Start(t, envoy, bj)
}

var ackTypes = []string{"listener", "route", "cluster", "endpoint", "secret"}

// waitACKed waits until the server has sent every type to Envoy, Envoy has
// ACKed what was sent, and the ACKed versions of the types in changed differ
// from prev's; it returns the ACKed version per type. The server has no
// event for ACKs, so its status is polled (every 5 ms, bounded by timeout).
func waitACKed(t testing.TB, srv *server.Server, e *envoytest.Envoy, timeout time.Duration, prev map[string]string, changed ...string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, ok := srv.Proxy(envoyNodeID)
		got := map[string]string{}
		all := ok
		if ok {
			for _, typ := range ackTypes {
				ts := st.Types[typ]
				if ts == nil || ts.Acked == "" || ts.Acked != ts.Sent {
					all = false
					continue
				}
				got[typ] = ts.Acked
			}
		}
		for _, typ := range changed {
			if got[typ] == prev[typ] {
				all = false
			}
		}
		if all {
			return got
		}
		select {
		case <-e.Exited():
			t.Fatalf("envoy exited:\n%s", e.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Envoy did not ACK every type within %s; proxy status: %+v (connected: %v)", timeout, describe(st), ok)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's per-proxy status; bounded
	}
}

// waitProxyStatus polls srv's status of the Envoy (the server gives no
// event to wait on) until done says it holds, and returns that status; it
// fails the test, saying what it waited for, after 30 s (a hang guard).
func waitProxyStatus(t *testing.T, srv *server.Server, what string, done func(st server.ProxyStatus, connected bool) bool) server.ProxyStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok := srv.Proxy(envoyNodeID)
		if done(st, ok) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never; proxy status: %s (connected: %v)", what, describe(st), ok)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's per-proxy status; bounded
	}
}

func describe(st server.ProxyStatus) string {
	var b strings.Builder
	for _, typ := range ackTypes {
		ts := st.Types[typ]
		if ts == nil {
			fmt.Fprintf(&b, "%s: nothing sent; ", typ)
			continue
		}
		fmt.Fprintf(&b, "%s: sent %q acked %q nacks %d; ", typ, ts.Sent, ts.Acked, ts.NACKs)
	}
	return b.String()
}

// tryGet GETs url with Host header host (the URL's when empty) and returns
// the body of a 200 response.
func tryGet(c *http.Client, url, host string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

func get(t *testing.T, c *http.Client, url, host string) string {
	t.Helper()
	body, err := tryGet(c, url, host)
	if err != nil {
		t.Fatalf("GET %s through Envoy: %v", url, err)
	}
	return body
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRealEnvoyModifiedClusterWarms: a DestinationRule changes an EDS
// cluster Envoy holds (its connect timeout) and nothing else. Envoy builds
// the cluster anew and warms it: it needs that cluster's endpoints again,
// although they did not change, and (initial_fetch_timeout 0, as istiod
// sets it) waits for them before it acknowledges the clusters. The server
// must answer that request (istiod pushes endpoints after clusters for the
// same reason); Envoy ACKs the new clusters and keeps serving.
//
// Over delta xDS the endpoint cache versions each resource by its content,
// so handing it the same endpoints again sends nothing: the proxy's stream
// is told it no longer holds them (stage.go, clustersModified), and they are
// sent again.
func TestRealEnvoyModifiedClusterWarms(t *testing.T) {
	envoy := envoytest.Path(t)
	for _, api := range []corev3.ApiConfigSource_ApiType{corev3.ApiConfigSource_GRPC, corev3.ApiConfigSource_DELTA_GRPC} {
		t.Run(api.String(), func(t *testing.T) {
			w, mat := newEnvoyEnv(t)
			srv, addr := startEnvoyServer(t, mat, translate.DefaultOptions(), loopbackTranslate)
			srv.Update(w.mesh("backend-a"))
			e := startEnvoy(t, envoy, addr, api)
			first := waitACKed(t, srv, e, 30*time.Second, nil)
			for i, timeout := range []string{"3s", "4s", "5s"} {
				dr := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: backend-a, namespace: default}
spec:
  host: backend-a.default.svc.cluster.local
  trafficPolicy: {connectionPool: {tcp: {connectTimeout: %s}}}
`, timeout)
				srv.Update(w.mesh("backend-a", dr))
				next := waitACKed(t, srv, e, 30*time.Second, first, "cluster")
				t.Logf("change %d (connectTimeout %s): clusters %s ACKed, endpoints re-sent as version %s (was %s)", i+1, timeout, next["cluster"], next["endpoint"], first["endpoint"])
				first = next
			}
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			if body := get(t, client, fmt.Sprintf("http://127.0.0.1:%d/", w.httpPort), ""); body != "backend-a" {
				t.Fatalf("GET through Envoy after the cluster changes = %q, want backend-a", body)
			}
		})
	}
}
