//go:build integration

package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/metrictest"
)

// An exposed admin API takes service-account tokens for audience
// meshgate-admin, reviewed by the daemon's own API server: an allowed
// account is served, another is forbidden (403), a token for another
// audience (istio-ca: the xDS port's) is unauthenticated (401).
func TestKubeAdminToken(t *testing.T) {
	kc := kubetest.New(t, kubetest.Options{Name: "admin"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	apply := mustApplier(t, kc)
	if err := apply.ApplyYAML(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: ops}\n---\n"+
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: admin, namespace: ops}\n---\n"+
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app, namespace: ops}\n")); err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(kc.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	token := func(sa, audience string) string {
		exp := int64(600)
		tr, err := kube.CoreV1().ServiceAccounts("ops").CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	cfg := testConfig(t)
	cfg.ConfigDir, cfg.Kubeconfig = "", kc.KubeconfigPath()
	cfg.AdminAddress, cfg.AdminAllow = "0.0.0.0:0", []string{"ops/admin"}
	logs := &logtest.Buffer{}
	d, err := New(cfg, NewLogger(cfg, logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- d.Run(runCtx) }()
	pool := x509.NewCertPool()
	for _, r := range d.id.CA().Roots() {
		pool.AddCert(r)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "meshgate.istio-system.svc", MinVersion: tls.VersionTLS12}}}
	addr := "https://127.0.0.1:" + d.AdminAddr()[strings.LastIndex(d.AdminAddr(), ":")+1:]
	allowed := token("admin", AdminTokenAudience)
	for _, tc := range []struct {
		name, token, want string
	}{
		{"allowed", allowed, "federation is not enabled on this daemon"},
		{"not in admin-allow", token("app", AdminTokenAudience), "HTTP 403"},
		{"xDS audience", token("admin", "istio-ca"), "HTTP 401"},
		{"garbage", "not-a-token", "HTTP 401"},
	} {
		_, err := (&federation.AdminClient{Addr: addr, Token: tc.token, HTTP: hc}).Members(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	for result, want := range map[string]float64{"allowed": 1, "forbidden": 1, "unauthenticated": 2} {
		if got := metrictest.Sum(t, d.reg, "meshgate_admin_requests_total", map[string]string{"result": result}); got != want {
			t.Errorf("meshgate_admin_requests_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), allowed) {
		t.Error("a token appears in the logs")
	}
}
