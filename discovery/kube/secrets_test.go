//go:build integration

package kube

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/discovery/model"
)

// requestLog records the URL of every request a client makes.
type requestLog struct {
	mu   sync.Mutex
	urls []*url.URL
}

func (l *requestLog) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			l.mu.Lock()
			l.urls = append(l.urls, r.URL)
			l.mu.Unlock()
			return rt.RoundTrip(r)
		})
	}
	return cfg
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// secretRequests returns the secrets requests, as "namespace fieldSelector"
// ("" namespace: cluster-wide).
func (l *requestLog) secretRequests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, u := range l.urls {
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if parts[len(parts)-1] != "secrets" && (len(parts) < 2 || parts[len(parts)-2] != "secrets") {
			continue
		}
		ns := ""
		if i := slices.Index(parts, "namespaces"); i >= 0 && i+1 < len(parts) {
			ns = parts[i+1]
		}
		out = append(out, ns+" "+u.Query().Get("fieldSelector"))
	}
	return out
}

// Only the Secrets a Gateway or DestinationRule names (and their -cacert
// companions) in the credential namespaces reach the model; every Secret
// request the source makes is namespaced and selects one name. A rotated
// certificate is republished; a Secret no longer named leaves the model.
func TestCredentialSecrets(t *testing.T) {
	c := sharedCluster(t)
	kc := clientset(t, c.RESTConfig())
	a := newApplier(t, c.RESTConfig())
	ctx := ctxT(t)
	for _, ns := range []string{"gw-ns", "other-ns", "app-ns"} {
		ensureNamespace(t, kc, ns, nil)
	}
	tlsSecret := func(ns, name, crt string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"tls.crt": []byte(crt), "tls.key": []byte("key-" + crt)},
		}
	}
	for _, s := range []*corev1.Secret{
		tlsSecret("gw-ns", "web-cert", "v1"),
		tlsSecret("gw-ns", "unrelated", "x"),    // same namespace, not named
		tlsSecret("other-ns", "web-cert", "x"),  // named, other namespace
		tlsSecret("app-ns", "client-cert", "x"), // named by a DR, other namespace
		{ObjectMeta: metav1.ObjectMeta{Name: "web-cert-cacert", Namespace: "gw-ns"}, Data: map[string][]byte{"ca.crt": []byte("ca")}},
	} {
		must[any](t)(kc.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{}))
	}
	var log requestLog
	s, rec := runSource(t, Config{ClusterID: "c-sec", Namespace: "gw-ns"}, Options{REST: log.wrap(c.RESTConfig())})
	applyYAML(t, a, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app-ns}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["web.example.com"]
    tls: {mode: MUTUAL, credentialName: web-cert}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: upstream, namespace: app-ns}
spec:
  host: upstream.example.com
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      tls: {mode: MUTUAL, credentialName: client-cert}
`)
	secretsAre := func(want ...string) func(*model.ClusterState, []error) string {
		return func(cs *model.ClusterState, _ []error) string {
			var got []string
			for _, s := range cs.Secrets {
				got = append(got, s.NamespacedName()+"="+string(s.Data["tls.crt"])+string(s.Data["ca.crt"]))
			}
			if !slices.Equal(got, want) {
				return fmt.Sprint("secrets ", got)
			}
			return ""
		}
	}
	rec.waitFor(t, "the named secrets of gw-ns", secretsAre("gw-ns/web-cert=v1", "gw-ns/web-cert-cacert=ca"))

	// rotation: the new certificate is republished
	rot := tlsSecret("gw-ns", "web-cert", "v2")
	must[any](t)(kc.CoreV1().Secrets("gw-ns").Update(ctx, rot, metav1.UpdateOptions{}))
	rec.waitFor(t, "the rotated certificate", secretsAre("gw-ns/web-cert=v2", "gw-ns/web-cert-cacert=ca"))

	// a Secret created after its name is referenced
	must[any](t)(kc.CoreV1().Secrets("gw-ns").Create(ctx, tlsSecret("gw-ns", "client-cert", "c1"), metav1.CreateOptions{}))
	rec.waitFor(t, "the DestinationRule's secret", secretsAre("gw-ns/client-cert=c1", "gw-ns/web-cert=v2", "gw-ns/web-cert-cacert=ca"))

	// the Gateway names another Secret: web-cert leaves, api-cert arrives
	must[any](t)(kc.CoreV1().Secrets("gw-ns").Create(ctx, tlsSecret("gw-ns", "api-cert", "a1"), metav1.CreateOptions{}))
	applyYAML(t, a, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app-ns}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["web.example.com"]
    tls: {mode: SIMPLE, credentialName: api-cert}
`)
	rec.waitFor(t, "api-cert instead of web-cert", secretsAre("gw-ns/api-cert=a1", "gw-ns/client-cert=c1"))

	// deletion
	must[any](t)(0, kc.CoreV1().Secrets("gw-ns").Delete(ctx, "client-cert", metav1.DeleteOptions{}))
	rec.waitFor(t, "client-cert deleted", secretsAre("gw-ns/api-cert=a1"))

	if st := s.Status(); st.State != StateSynced || len(st.Failing) > 0 {
		t.Errorf("status = %+v", st)
	}
	reqs := log.secretRequests()
	if len(reqs) == 0 {
		t.Fatal("no Secret requests seen")
	}
	for _, r := range reqs {
		ns, sel, _ := strings.Cut(r, " ")
		if ns != "gw-ns" || !strings.HasPrefix(sel, "metadata.name=") {
			t.Errorf("a Secret request outside gw-ns or without a name selector: %q", r)
		}
	}
	t.Logf("%d Secret requests, all in gw-ns with metadata.name selectors", len(reqs))
}
