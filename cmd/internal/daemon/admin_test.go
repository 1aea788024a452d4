package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/identity"
	"github.com/meshgate/meshgate/test/metrictest"
)

// runDaemon starts a daemon on cfg with a static source; it stops with the test.
func runDaemon(t *testing.T, cfg Config, logs io.Writer) *Daemon {
	t.Helper()
	d, err := New(cfg, NewLogger(cfg, logs), staticSource{echo(1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return d
}

func do(t *testing.T, hc *http.Client, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(`{"fingerprint":"00000000"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTwoSurfaces: the monitoring port serves only /metrics, /healthz and
// /readyz; the admin API (loopback, default) serves /debug/ and
// /federation/, which says that federation is off instead of a bare 404.
func TestTwoSurfaces(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := runDaemon(t, testConfig(t), io.Discard)
	mon, admin := "http://"+d.MonitoringAddr(), "http://"+d.AdminAddr()
	poll(ctx, t, "ready", func() bool { code, _ := httpGet(t, mon+"/readyz"); return code == 200 })
	for _, p := range []string{"/healthz", "/metrics"} {
		if code, _ := httpGet(t, mon+p); code != 200 {
			t.Errorf("monitoring %s = %d", p, code)
		}
	}
	for _, p := range []string{"/debug/proxies", "/debug/config_dump?proxy=x", "/federation/members", "/federation/keyring", "/ui", "/ui/state",
		"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if code, _ := httpGet(t, mon+p); code != 404 {
			t.Errorf("monitoring %s = %d, want 404 (admin only)", p, code)
		}
	}
	if code, _ := do(t, http.DefaultClient, http.MethodPost, mon+"/federation/keyring"); code != 404 && code != 405 {
		t.Errorf("monitoring POST /federation/keyring = %d", code)
	}
	for _, p := range []string{"/metrics", "/readyz"} {
		if code, _ := httpGet(t, admin+p); code != 404 {
			t.Errorf("admin %s = %d, want 404 (monitoring only)", p, code)
		}
	}
	for _, p := range []string{"/debug/proxies", "/ui", "/ui/state"} {
		if code, _ := httpGet(t, admin+p); code != 200 {
			t.Errorf("admin %s = %d", p, code)
		}
	}
	// Go's profiles on the admin API (the monitoring port has none, above),
	// not the command line.
	if code, body := httpGet(t, admin+"/debug/pprof/heap?debug=1"); code != 200 || !strings.Contains(body, "heap profile:") {
		t.Errorf("admin /debug/pprof/heap = %d %.80q", code, body)
	}
	if code, body := httpGet(t, admin+"/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("admin /debug/pprof/goroutine = %d %.80q", code, body)
	}
	if code, _ := httpGet(t, admin+"/debug/pprof/cmdline"); code != 404 {
		t.Errorf("admin /debug/pprof/cmdline = %d, want 404 (arguments are not served)", code)
	}
	code, body := httpGet(t, admin+"/federation/members")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "federation is not enabled on this daemon") {
		t.Errorf("admin /federation/members without gossip = %d %q", code, body)
	}
	_, err := (&federation.AdminClient{Addr: d.AdminAddr()}).Members(ctx)
	if err == nil || !strings.Contains(err.Error(), "federation is not enabled on this daemon") {
		t.Errorf("AdminClient.Members without gossip: %v", err)
	}
	if got := metrictest.Sum(t, d.reg, "meshgate_admin_requests_total", map[string]string{"result": "local"}); got < 3 {
		t.Errorf("admin requests counted as local = %v", got)
	}
}

func TestAdminUnixSocket(t *testing.T) {
	cfg := testConfig(t)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	cfg.AdminAddress = "unix:" + sock
	d := runDaemon(t, cfg, io.Discard)
	if d.AdminAddr() != cfg.AdminAddress {
		t.Errorf("AdminAddr = %q, want %q", d.AdminAddr(), cfg.AdminAddress)
	}
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v mode %v, want 0600", err, st)
	}
	_, err = (&federation.AdminClient{Addr: d.AdminAddr()}).Members(context.Background())
	if err == nil || !strings.Contains(err.Error(), "federation is not enabled on this daemon") {
		t.Errorf("Members over the socket: %v", err)
	}
}

// TestAdminExposedNeedsAuthentication: an admin API off loopback is served
// over TLS; no credentials → 401, a mesh SVID outside admin-allow → 403,
// one inside → served, and its change logged with the caller; each
// outcome counted.
func TestAdminExposedNeedsAuthentication(t *testing.T) {
	cfg := testConfig(t)
	cfg.AdminAddress, cfg.AdminAllow = "0.0.0.0:0", []string{"ops/admin"}
	logs := &logtest.Buffer{}
	d := runDaemon(t, cfg, logs)
	url := "https://" + strings.Replace(d.AdminAddr(), "0.0.0.0", "127.0.0.1", 1)
	url = strings.Replace(url, "[::]", "127.0.0.1", 1)
	pool := x509.NewCertPool()
	for _, r := range d.id.CA().Roots() {
		pool.AddCert(r)
	}
	client := func(sa string) *http.Client {
		tc := &tls.Config{RootCAs: pool, ServerName: "meshgate.istio-system.svc", MinVersion: tls.VersionTLS12}
		if sa != "" {
			svid, err := d.id.CA().IssueX509SVID(spiffeid.RequireFromPath(d.id.TrustDomain(), sa), identity.SVIDOptions{TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			cert := tls.Certificate{PrivateKey: svid.PrivateKey}
			for _, c := range svid.Certificates {
				cert.Certificate = append(cert.Certificate, c.Raw)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	}
	// Plain HTTP to the TLS listener: net/http answers 400 (or the
	// connection fails); never the admin API.
	if resp, err := http.Get("http://" + strings.TrimPrefix(url, "https://") + "/debug/proxies"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served the admin API")
		}
	}
	if code, _ := do(t, client(""), http.MethodGet, url+"/debug/proxies"); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	if code, _ := do(t, client(""), http.MethodGet, url+"/ui/state"); code != http.StatusUnauthorized {
		t.Errorf("no credentials, the topology page's state: %d, want 401", code)
	}
	if code, _ := do(t, client(""), http.MethodGet, url+"/debug/pprof/heap"); code != http.StatusUnauthorized {
		t.Errorf("no credentials, a heap profile: %d, want 401", code)
	}
	if code, _ := do(t, client("/ns/default/sa/app"), http.MethodGet, url+"/debug/pprof/goroutine?debug=2"); code != http.StatusForbidden {
		t.Errorf("SVID outside admin-allow, goroutine stacks: %d, want 403", code)
	}
	if code, _ := do(t, client(""), http.MethodPost, url+"/federation/keyring"); code != http.StatusUnauthorized {
		t.Errorf("no credentials, install a key: %d, want 401", code)
	}
	if code, body := do(t, client("/ns/default/sa/app"), http.MethodPost, url+"/federation/keyring"); code != http.StatusForbidden || !strings.Contains(body, "default/app is not in admin-allow") {
		t.Errorf("SVID outside admin-allow: %d %q, want 403", code, body)
	}
	if code, _ := do(t, client("/ns/ops/sa/admin"), http.MethodGet, url+"/debug/proxies"); code != 200 {
		t.Errorf("allowed SVID: %d, want 200", code)
	}
	if code, body := do(t, client("/ns/ops/sa/admin"), http.MethodDelete, url+"/federation/keyring"); code != http.StatusServiceUnavailable || !strings.Contains(body, "federation is not enabled") {
		t.Errorf("allowed SVID, remove a key without gossip: %d %q", code, body)
	}
	for result, want := range map[string]float64{"unauthenticated": 4, "forbidden": 2, "allowed": 2, "local": 0} {
		if got := metrictest.Sum(t, d.reg, "meshgate_admin_requests_total", map[string]string{"result": result}); got != want {
			t.Errorf("meshgate_admin_requests_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if !strings.Contains(logs.String(), "admin API change") || !strings.Contains(logs.String(), "spiffe://cluster.local/ns/ops/sa/admin") {
		t.Errorf("the change is not logged with its caller:\n%s", logs.String())
	}
}
