//go:build integration

package deploy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshgate/meshgate/discovery/gwstatus"
	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/election"
	"github.com/meshgate/meshgate/test/kubeapply"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/xds/server/authn"
)

// requests records "group/resource verb" for every request through a client,
// and the selectors of every Secret request.
type requests struct {
	mu      sync.Mutex
	seen    map[string]bool
	secrets map[string]bool // "verb ns labelSelector=… fieldSelector=…"
}

func (r *requests) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			res := resourceOf(req)
			r.mu.Lock()
			r.seen[res] = true
			if strings.HasPrefix(res, "/secrets ") {
				q := req.URL.Query()
				r.secrets[fmt.Sprintf("%s labelSelector=%s fieldSelector=%s", strings.TrimPrefix(res, "/secrets "), q.Get("labelSelector"), q.Get("fieldSelector"))] = true
			}
			r.mu.Unlock()
			return rt.RoundTrip(req)
		})
	}
	return cfg
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// resourceOf maps a request to "group/resource verb [namespace]":
// /api/v1/namespaces/ns/secrets?watch=1 → "/secrets watch ns".
func resourceOf(req *http.Request) string {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis": // /apis/<group>/<version> alone is discovery
		group, parts = parts[1], parts[3:]
	default:
		return "discovery " + req.URL.Path
	}
	ns := ""
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		ns, parts = parts[1], parts[2:]
	}
	verb := "list"
	if q := req.URL.Query(); q.Get("watch") == "true" || q.Get("watch") == "1" {
		verb = "watch"
	}
	if len(parts) > 1 {
		verb = "get"
	}
	resource := parts[0]
	if len(parts) > 2 { // a subresource: serviceaccounts/<name>/token
		resource += "/" + parts[2]
	}
	switch req.Method {
	case http.MethodGet:
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	default:
		verb = strings.ToLower(req.Method)
	}
	return strings.TrimSpace(fmt.Sprintf("%s/%s %s %s", group, resource, verb, ns))
}

// granted reads 10-rbac.yaml: "group/resource verb [namespace]" for every
// rule of the ClusterRole (cluster-wide) and the Role (its namespace).
func granted(t *testing.T) map[string]bool {
	t.Helper()
	return grantsOf(t, filepath.Join(manifestDir, "10-rbac.yaml"))
}

// grantsOf reads the RBAC manifest path as granted reads 10-rbac.yaml.
func grantsOf(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubeapply.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, u := range objs {
		var rules []rbacv1.PolicyRule
		ns := ""
		switch u.GetKind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
				t.Fatal(err)
			}
			rules = r.Rules
		case "Role":
			var r rbacv1.Role
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
				t.Fatal(err)
			}
			rules, ns = r.Rules, r.Namespace
		default:
			continue
		}
		for _, rule := range rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						out[strings.TrimSpace(fmt.Sprintf("%s/%s %s %s", g, res, v, ns))] = true
					}
				}
			}
		}
	}
	return out
}

// The daemon works with exactly the RBAC of deploy/meshgate/10-rbac.yaml:
// with a token of the ServiceAccount meshgate, the Kubernetes source syncs
// and publishes (services, endpoints, Istio configuration, the Gateway's
// credentialName Secret) and the remote-cluster controller reads the remote
// secrets of istio-system and starts the remote cluster. The requests they
// make are exactly the grants (every grant used, nothing else asked), and
// the token is refused everything else: Secrets cluster-wide or in another
// namespace, a single Secret by name, writes.
func TestDaemonRBAC(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "rbac"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"00-namespace.yaml", "10-rbac.yaml"} {
		data, err := os.ReadFile(filepath.Join(manifestDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.ApplyYAML(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.ApplyYAML(ctx, []byte(world)); err != nil {
		t.Fatal(err)
	}
	// the Gateway API's kinds are watched (and their grants used) only
	// where the API server serves them
	if err := kubetest.InstallGatewayAPICRDs(ctx, c.RESTConfig(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyYAML(ctx, []byte(gatewayAPIWorld)); err != nil {
		t.Fatal(err)
	}
	// a remote secret for "cluster-b" (this same API server, through its
	// own reader identity made by create-remote-secret)
	rs, err := remote.CreateRemoteSecret(ctx, c.RESTConfig(), remote.CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Join(ctx, c.RESTConfig(), rs.Secret, remote.JoinOptions{}); err != nil {
		t.Fatal(err)
	}

	tr, err := admin.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, "meshgate",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// client-go's informers use watch-list streams (a watch that starts with
	// the current objects) when the server supports them, and list + watch
	// otherwise: both ways must work with the grants, and together they use
	// every grant.
	used := map[string]bool{}
	for _, watchList := range []bool{true, false} {
		t.Run(fmt.Sprintf("WatchListClient=%v", watchList), func(t *testing.T) {
			clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, watchList)
			for r := range runWithToken(t, c.TokenConfig(tr.Status.Token), c.RESTConfig()) {
				used[r] = true
			}
		})
	}
	if grants := granted(t); !maps.Equal(used, grants) {
		t.Errorf("requests and grants differ:\nrequests %v\ngrants   %v", slices.Sorted(maps.Keys(used)), slices.Sorted(maps.Keys(grants)))
	}

	// and everything else is refused
	daemon, err := kubernetes.NewForConfig(c.TokenConfig(tr.Status.Token))
	if err != nil {
		t.Fatal(err)
	}
	for what, call := range map[string]func() error{
		"list Secrets cluster-wide":     func() error { _, err := daemon.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); return err },
		"list Secrets of namespace app": func() error { _, err := daemon.CoreV1().Secrets("app").List(ctx, metav1.ListOptions{}); return err },
		"get Secret istio-system/gw-cert": func() error {
			_, err := daemon.CoreV1().Secrets("istio-system").Get(ctx, "gw-cert", metav1.GetOptions{})
			return err
		},
		"get another Lease": func() error {
			_, err := daemon.CoordinationV1().Leases("istio-system").Get(ctx, "kube-scheduler", metav1.GetOptions{})
			return err
		},
		"create a Lease in namespace app": func() error {
			_, err := daemon.CoordinationV1().Leases("app").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "meshgate-leader"}}, metav1.CreateOptions{})
			return err
		},
		"list ConfigMaps": func() error { _, err := daemon.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{}); return err },
		"create a Service": func() error {
			_, err := daemon.CoreV1().Services("app").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
			return err
		},
	} {
		if err := call(); !apierrors.IsForbidden(err) {
			t.Errorf("%s with the daemon's token: %v, want Forbidden", what, err)
		}
	}
}

// runWithToken runs the local source and the remote-cluster controller with
// token until both have what the world holds, checks their status, and
// returns the requests they made (each checked against the grants).
func runWithToken(t *testing.T, token, admin *rest.Config) map[string]bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reqs := &requests{seen: map[string]bool{}, secrets: map[string]bool{}}
	daemonCfg := reqs.wrap(token)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// the local source
	var mu sync.Mutex
	var local *model.ClusterState
	src, err := kube.New(kube.Config{ClusterID: "cluster-a"}, kube.Options{REST: daemonCfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	// the remote-cluster controller
	remotes := map[string]*model.ClusterState{}
	ctl, err := remote.NewController(remote.Config{LocalClusterID: "cluster-a", SyncTimeout: time.Minute}, remote.Options{Logger: log,
		Publish: func(cs *model.ClusterState, _ []error) { mu.Lock(); remotes[cs.ID] = cs; mu.Unlock() },
		Remove:  func(id string) { mu.Lock(); delete(remotes, id); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// the Gateway API status writer, fed by the source as the daemon feeds it
	statusWriter, err := gwstatus.New(gwstatus.Config{ClusterID: "cluster-a"}, gwstatus.Options{REST: daemonCfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		_ = src.Run(ctx, func(m *model.MeshState, _ []error, _ error) {
			mu.Lock()
			local = m.Clusters[0]
			mu.Unlock()
			statusWriter.Update(m)
		})
	})
	wg.Go(func() { _ = statusWriter.Run(ctx) })
	wg.Go(func() { _ = ctl.Run(ctx) })
	wg.Go(func() { _ = ctl.WatchSecrets(ctx, daemonCfg) })
	// the daemon's own remote secret, minted with its token for gossip
	if _, _, err := remote.MintRemoteSecret(ctx, daemonCfg, "cluster-a", "istio-system", "https://cluster-a.example:6443", 10*time.Minute); err != nil {
		t.Errorf("the daemon cannot mint its remote secret: %v", err)
	}
	// the secure xDS port's checks: a TokenReview and the bound pod's GET
	authnClient, err := kubernetes.NewForConfig(daemonCfg)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := (authn.KubeReviewer{Client: authnClient}).Review(ctx, "not-a-token", []string{authn.DefaultAudience}); err != nil || st.Authenticated {
		t.Errorf("the daemon cannot review tokens: %+v %v", st, err)
	}
	if _, found, err := (authn.KubePods{Client: authnClient}).PodUID(ctx, "app", "gateway-0"); err != nil || found {
		t.Errorf("the daemon cannot look up a token's pod: found %v, %v", found, err)
	}

	// replicas: the election of the publisher through the Lease
	// meshgate-leader, until it took the lease and renewed it once
	el, err := election.New(election.Config{Namespace: "istio-system", Name: "meshgate-leader", Identity: "replica-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond}, daemonCfg, func(*election.Lease) {}, log)
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = el.Run(ctx) })
	poll(ctx, t, "the election", func() string {
		reqs.mu.Lock()
		defer reqs.mu.Unlock()
		if el.Leading() == nil || !reqs.seen["coordination.k8s.io/leases update istio-system"] {
			return "no lease taken and renewed"
		}
		return ""
	})

	poll(ctx, t, "the local state and the remote cluster", func() string {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case local == nil:
			return "no local state"
		case local.Service("echo.app.svc.cluster.local") == nil || len(local.Service("echo.app.svc.cluster.local").Endpoints) != 1:
			return "echo missing"
		case len(local.Gateways) != 1 || len(local.Secrets) != 1 || local.Secrets[0].Name != "gw-cert":
			return fmt.Sprintf("gateways %d, secrets %v", len(local.Gateways), local.Secrets)
		case remotes["cluster-b"] == nil || remotes["cluster-b"].Service("echo.app.svc.cluster.local") == nil:
			return "remote cluster-b missing"
		}
		return ""
	})
	// every kind's status written (by this run or the one before)
	gc := gwclient.NewForConfigOrDie(admin)
	poll(ctx, t, "the Gateway API status", func() string { return gatewayAPIStatusWritten(ctx, gc) })
	if st := src.Status(); st.State != kube.StateSynced || len(st.Failing) > 0 {
		t.Errorf("local status with the deployed RBAC: %+v", st)
	}
	if sts := ctl.Statuses(); len(sts) != 1 || sts[0].State != kube.StateSynced {
		t.Errorf("remote status: %+v", sts)
	}

	cancel()
	wg.Wait()
	grants := granted(t)
	used := map[string]bool{}
	reqs.mu.Lock()
	defer reqs.mu.Unlock()
	for r := range reqs.seen {
		if strings.HasPrefix(r, "discovery ") {
			continue
		}
		// A ClusterRole grant covers a namespaced request (the pod GET).
		if f := strings.Fields(r); !grants[r] && len(f) == 3 && grants[f[0]+" "+f[1]] {
			r = f[0] + " " + f[1]
		}
		if !grants[r] {
			t.Errorf("a request beyond the grants: %s", r)
		}
		used[r] = true
	}
	t.Logf("requests: %v", slices.Sorted(maps.Keys(used)))
	// RBAC cannot narrow list/watch by label, so the Role grants list and
	// watch on the namespace's Secrets: the code must ask for no more than
	// the remote secrets (by label) and the credentialName Secret with its
	// Istio companion <name>-cacert (each by name).
	wantSecrets := map[string]bool{}
	for _, verb := range []string{"list", "watch"} {
		wantSecrets[verb+" istio-system labelSelector=istio/multiCluster=true fieldSelector="] = true
		wantSecrets[verb+" istio-system labelSelector= fieldSelector=metadata.name=gw-cert"] = true
		wantSecrets[verb+" istio-system labelSelector= fieldSelector=metadata.name=gw-cert-cacert"] = true
	}
	for r := range reqs.secrets {
		if !wantSecrets[r] {
			t.Errorf("a Secret request beyond the remote secrets and the credentialName Secrets: %s", r)
		}
	}
	return used
}

func poll(ctx context.Context, t *testing.T, what string, cond func() string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		why := cond()
		if why == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %s", what, why)
		case <-tick.C:
		}
	}
}

// world is what the daemon reads: an app with an endpoint, a Gateway naming
// a credential Secret in istio-system, and Secrets it must not read.
const world = `
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: app}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, namespace: app, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
endpoints: [{addresses: [10.1.0.1], conditions: {ready: true}}]
ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: gw-cert}
---
apiVersion: v1
kind: Secret
metadata: {name: gw-cert, namespace: istio-system}
type: kubernetes.io/tls
stringData: {tls.crt: crt, tls.key: key}
---
apiVersion: v1
kind: Secret
metadata: {name: unrelated, namespace: istio-system}
type: kubernetes.io/tls
stringData: {tls.crt: crt, tls.key: key}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret, namespace: app}
type: kubernetes.io/tls
stringData: {tls.crt: crt, tls.key: key}
`

// What deploy/README.md says of fixed credential names holds against the
// API server: a Role listing them in resourceNames (list, watch) lets the
// daemon's field-selected watch (metadata.name=<name>) of each through, and
// nothing else: not an unselected list, not another name.
func TestCredentialWatchByResourceNames(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "rbacnames"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"00-namespace.yaml", "10-rbac.yaml"} {
		data, err := os.ReadFile(filepath.Join(manifestDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.ApplyYAML(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.ApplyYAML(ctx, []byte(`
apiVersion: v1
kind: Namespace
metadata: {name: certs}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: meshgate-credentials, namespace: certs}
rules:
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [app-cert, app-cert-cacert]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: meshgate-credentials, namespace: certs}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: meshgate-credentials}
subjects: [{kind: ServiceAccount, name: meshgate, namespace: istio-system}]
---
apiVersion: v1
kind: Secret
metadata: {name: app-cert, namespace: certs}
type: kubernetes.io/tls
stringData: {tls.crt: crt, tls.key: key}
---
apiVersion: v1
kind: Secret
metadata: {name: other, namespace: certs}
type: kubernetes.io/tls
stringData: {tls.crt: crt, tls.key: key}
`)); err != nil {
		t.Fatal(err)
	}
	admin, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, "meshgate",
		&authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	daemon, err := kubernetes.NewForConfig(c.TokenConfig(tr.Status.Token))
	if err != nil {
		t.Fatal(err)
	}
	secrets := daemon.CoreV1().Secrets("certs")
	byName := func(name string) metav1.ListOptions {
		return metav1.ListOptions{FieldSelector: "metadata.name=" + name}
	}
	if l, err := secrets.List(ctx, byName("app-cert")); err != nil || len(l.Items) != 1 {
		t.Fatalf("field-selected list of a listed name: %v", err)
	}
	w, err := secrets.Watch(ctx, byName("app-cert-cacert"))
	if err != nil {
		t.Fatalf("field-selected watch of a listed name: %v", err)
	}
	w.Stop()
	for what, opts := range map[string]metav1.ListOptions{"an unselected list": {}, "another name": byName("other")} {
		if _, err := secrets.List(ctx, opts); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want Forbidden", what, err)
		}
	}
}

// gatewayAPIWorld is a GatewayClass of Istio's controller, a Gateway (its
// Service absent: nothing to program, a status all the same) and a route
// of each kind bound to it: the status writer writes each kind's status.
const gatewayAPIWorld = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: no-such-gateway-service}]
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: tls, port: 443, protocol: TLS, tls: {mode: Passthrough}}
  - {name: tcp, port: 9000, protocol: TCP}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: app}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: r, namespace: app}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: r, namespace: app}
spec:
  parentRefs: [{name: gw, sectionName: tls}]
  hostnames: [echo.example.com]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: r, namespace: app}
spec:
  parentRefs: [{name: gw, sectionName: tcp}]
  rules: [{backendRefs: [{name: echo, port: 80}]}]
`

// gatewayAPIStatusWritten says what of gatewayAPIWorld's status is not
// written yet ("" when all is).
func gatewayAPIStatusWritten(ctx context.Context, gc gwclient.Interface) string {
	v1 := gc.GatewayV1()
	if c, err := v1.GatewayClasses().Get(ctx, "istio", metav1.GetOptions{}); err != nil || len(c.Status.Conditions) == 0 ||
		c.Status.Conditions[0].Message != "Handled by Istio controller" {
		return "GatewayClass"
	}
	if g, err := v1.Gateways("app").Get(ctx, "gw", metav1.GetOptions{}); err != nil || len(g.Status.Listeners) != 3 {
		return "Gateway"
	}
	ours := func(ps []gwv1.RouteParentStatus) bool {
		return len(ps) == 1 && ps[0].ControllerName == "istio.io/gateway-controller"
	}
	if r, err := v1.HTTPRoutes("app").Get(ctx, "r", metav1.GetOptions{}); err != nil || !ours(r.Status.Parents) {
		return "HTTPRoute"
	}
	if r, err := v1.GRPCRoutes("app").Get(ctx, "r", metav1.GetOptions{}); err != nil || !ours(r.Status.Parents) {
		return "GRPCRoute"
	}
	if r, err := v1.TLSRoutes("app").Get(ctx, "r", metav1.GetOptions{}); err != nil || !ours(r.Status.Parents) {
		return "TLSRoute"
	}
	if r, err := v1.TCPRoutes("app").Get(ctx, "r", metav1.GetOptions{}); err != nil || !ours(r.Status.Parents) {
		return "TCPRoute"
	}
	return ""
}
