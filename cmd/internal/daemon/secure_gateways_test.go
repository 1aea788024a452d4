//go:build integration

package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/identity/caclient"
	"github.com/meshgate/meshgate/test/envoytest"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/agent"
	"github.com/meshgate/meshgate/xds/dataplane"
	"github.com/meshgate/meshgate/xds/server/authn"
	"github.com/meshgate/meshgate/xds/server/bootstrap"
)

// secureWorld is a kube-apiserver and a daemon whose secure port verifies
// the gateways' projected tokens against it.
type secureWorld struct {
	t     *testing.T
	ctx   context.Context
	admin kubernetes.Interface
	d     *Daemon
	dir   string
}

const daemonName = "meshgate.istio-system.svc" // a DNS name of the daemon's serving certificate

func newSecureWorld(t *testing.T) *secureWorld {
	t.Helper()
	kc := kubetest.New(t, kubetest.Options{Name: "gateways"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	if err := mustApplier(t, kc).ApplyYAML(ctx, []byte(`apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: eastwest, namespace: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: db, namespace: prod}
`)); err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(kc.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.ConfigDir, cfg.Kubeconfig, cfg.SecureXDSAddress = "", kc.KubeconfigPath(), "127.0.0.1:0"
	d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	go func() { done <- d.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	// Gateways start against a daemon that has loaded its source, so that
	// the figures measure the gateways' path, not the daemon's first sync.
	poll(ctx, t, "daemon ready", func() bool { code, _ := httpGet(t, "http://"+d.MonitoringAddr()+"/readyz"); return code == 200 })
	return &secureWorld{t: t, ctx: ctx, admin: admin, d: d, dir: t.TempDir()}
}

// tokenFile projects a token (audience istio-ca) of ns/sa into a file, as kubelet does.
func (w *secureWorld) tokenFile(name, ns, sa string) string {
	w.t.Helper()
	exp := int64(600)
	tr, err := w.admin.CoreV1().ServiceAccounts(ns).CreateToken(w.ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"istio-ca"}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(tr.Status.Token), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *secureWorld) caConfig(token string) caclient.Config {
	return caclient.Config{Address: w.d.SecureXDSAddr(), ServerName: daemonName, Roots: w.d.id.CA().Roots(), TokenFile: token,
		Logger: slog.New(slog.DiscardHandler)}
}

func (w *secureWorld) authn(method, result, reason string) float64 {
	l := map[string]string{"method": method, "result": result}
	if reason != "" {
		l["reason"] = reason
	}
	return metrictest.Sum(w.t, w.d.reg, "meshgate_xds_authn_total", l)
}

// waitACKed waits until the daemon has sent listeners and clusters to node
// and the node has ACKed them. The server has no event for ACKs: its
// per-proxy status is polled (every 5 ms, bounded).
func (w *secureWorld) waitACKed(node string, e *envoytest.Envoy) {
	w.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, ok := w.d.xds.Proxy(node)
		acked := ok
		for _, typ := range []string{"listener", "cluster"} {
			if ts := st.Types[typ]; ts == nil || ts.Acked == "" || ts.Acked != ts.Sent {
				acked = false
			}
		}
		if acked {
			return
		}
		if e != nil {
			select {
			case <-e.Exited():
				w.t.Fatalf("envoy exited:\n%s", e.LogTail(40))
			default:
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s did not ACK listeners and clusters: %+v (connected %v)", node, st, ok)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's per-proxy status; bounded
	}
}

// The built-in gateway with a projected token: SVID from CreateCertificate
// (token), then ADS over TLS with that SVID; its config is ACKed.
func TestKubeBuiltinGatewaySecure(t *testing.T) {
	w := newSecureWorld(t)
	const node = "router~10.1.0.8~eastwest-0.istio-system~istio-system.svc.cluster.local"
	cfg := dataplane.DefaultConfig()
	ca := w.caConfig(w.tokenFile("eastwest", "istio-system", "eastwest"))
	cfg.XDSAddress, cfg.NodeID, cfg.Identity = w.d.SecureXDSAddr(), node, &ca
	cfg.Logger = slog.New(slog.DiscardHandler)
	start := time.Now()
	g, err := dataplane.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	select {
	case <-g.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway got no config over the secure port within 30s")
	}
	ready := time.Since(start)
	w.waitACKed(node, nil)
	t.Logf("figure: built-in gateway start → config applied (CreateCertificate with a token + TLS ADS with the SVID): %v; → ACKed: %v", ready, time.Since(start))
	if n := w.authn("kube-token", "accepted", ""); n < 1 {
		t.Errorf("the CA call was not authenticated by the token (%v)", n)
	}
	if n := w.authn("x509-svid", "accepted", ""); n < 1 {
		t.Errorf("ADS did not use the SVID (%v)", n)
	}
	// The CA call alone, with a token the daemon has not reviewed yet.
	c, err := caclient.New(w.caConfig(w.tokenFile("fresh", "istio-system", "eastwest")))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := c.Fetch(w.ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: CreateCertificate with a new token (TLS handshake + TokenReview + signing): %v", time.Since(t0))
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// meshgate agent beside a real Envoy: the agent gets the pod's SVID with its
// token and serves it over SDS; Envoy's bootstrap (meshgate bootstrap
// --sds-socket) connects to the secure port with it and ACKs its config.
// An agent holding a token of another identity gets that identity's SVID,
// and the daemon refuses the Envoy whose node claims istio-system.
func TestKubeAgentEnvoySecure(t *testing.T) {
	envoy := envoytest.Path(t)
	w := newSecureWorld(t)
	run := func(name, token, node string) *envoytest.Envoy {
		t.Helper()
		sock := filepath.Join(w.dir, name+".sock")
		a, err := agent.New(agent.Config{CA: w.caConfig(token), Socket: sock, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(w.ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
		b, err := bootstrap.Envoy(bootstrap.Options{NodeID: node, XDSAddress: w.d.SecureXDSAddr(), SDSSocket: sock, XDSServerName: daemonName})
		if err != nil {
			t.Fatal(err)
		}
		b.Admin.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 0}
		bj, err := bootstrap.Marshal(b, "json")
		if err != nil {
			t.Fatal(err)
		}
		return envoytest.Start(t, envoy, bj)
	}

	const node = "router~10.1.0.9~eastwest-0.istio-system~istio-system.svc.cluster.local"
	start := time.Now()
	e := run("eastwest", w.tokenFile("eastwest", "istio-system", "eastwest"), node)
	w.waitACKed(node, e)
	t.Logf("figure: agent + Envoy start → listeners and clusters ACKed over the secure port: %v", time.Since(start))
	if n := w.authn("x509-svid", "accepted", ""); n < 1 {
		t.Errorf("Envoy's ADS did not present the SVID (%v)", n)
	}

	before := w.authn("x509-svid", "refused", authn.ReasonNodeMismatch)
	const intruder = "router~10.1.0.10~eastwest-1.istio-system~istio-system.svc.cluster.local"
	e2 := run("intruder", w.tokenFile("db", "prod", "db"), intruder)
	deadline := time.Now().Add(30 * time.Second)
	for w.authn("x509-svid", "refused", authn.ReasonNodeMismatch) == before {
		select {
		case <-e2.Exited():
			t.Fatalf("envoy exited:\n%s", e2.LogTail(40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not refuse an Envoy with prod/db's SVID claiming istio-system")
		}
		time.Sleep(5 * time.Millisecond) // polling a counter; bounded
	}
	if st, ok := w.d.xds.Proxy(intruder); ok && st.Types["listener"] != nil && st.Types["listener"].Acked != "" {
		t.Fatalf("the intruder got config: %+v", st)
	}
}
