//go:build integration

package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/metrictest"
)

const echoB = "echo.app.svc.cluster.local"

// Two API servers A and B: create-remote-secret against B makes a reader
// that lists Services but is refused Secrets; join applies the secret to A;
// A's controller, watching A's remote secrets, serves B's services in B's
// ClusterState; a replaced token reloads without a restart (old watches
// stopped); unsafe or malformed secrets are rejected and change nothing; a
// key naming A itself is ignored; deleting the secret removes B.
func TestRemoteClusters(t *testing.T) {
	cs := kubetest.NewN(t, 2, kubetest.Options{Name: "rc"})
	A, B := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	adminA, adminB := clientFor(t, A.RESTConfig()), clientFor(t, B.RESTConfig())
	addService(t, adminB, "app", "echo", "10.2.0.1")

	// create-remote-secret against B
	res, err := CreateRemoteSecret(ctx, B.RESTConfig(), CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}
	// B has no Istio-style cacerts Secret: no trust bundle, and a warning
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "loopback") || !strings.Contains(res.Warnings[1], "no trust bundle") {
		t.Errorf("warnings = %q, want the loopback and the trust bundle warnings", res.Warnings)
	}
	if _, ok := res.Secret.Annotations[AnnotationTrustBundle]; ok {
		t.Error("a trust bundle annotation without a trust bundle")
	}
	if ttl := time.Until(res.Expires); ttl < 23*time.Hour || ttl > 25*time.Hour {
		t.Errorf("token expires in %v, want 24h", ttl)
	}
	checkReader(t, ctx, res.Secret)

	// idempotent, and it restores the least-privilege rules
	role, err := adminB.RbacV1().ClusterRoles().Get(ctx, ReaderClusterRole, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list"}})
	if _, err := adminB.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// with B's cacerts, the secret carries its root-cert.pem
	root := decodeB64(t, testCAB64)
	if _, err := adminB.CoreV1().Secrets("istio-system").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: CACertsSecret},
		Data: map[string][]byte{"root-cert.pem": root}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err = CreateRemoteSecret(ctx, B.RESTConfig(), CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}
	if role, _ = adminB.RbacV1().ClusterRoles().Get(ctx, ReaderClusterRole, metav1.GetOptions{}); len(role.Rules) != len(ReaderRules) {
		t.Errorf("second run left rules %v", role.Rules)
	}
	if got := res.Secret.Annotations[AnnotationTrustBundle]; got != string(root) || len(res.Warnings) != 1 {
		t.Errorf("with cacerts: trust bundle %q, warnings %q", got, res.Warnings)
	}
	checkReader(t, ctx, res.Secret)

	// join: applied to A (where meshgate's namespace must exist)
	if _, err := Join(ctx, A.RESTConfig(), res.Secret, JoinOptions{}); err == nil || !strings.Contains(err.Error(), "namespace istio-system does not exist") {
		t.Errorf("join without the namespace: %v", err)
	}
	if _, err := adminA.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	jr, err := Join(ctx, A.RESTConfig(), res.Secret, JoinOptions{Verify: true})
	if err != nil || jr.Action != "created" || jr.Cluster != "cluster-b" {
		t.Fatalf("join: %+v, %v", jr, err)
	}
	if jr, err = Join(ctx, A.RESTConfig(), res.Secret, JoinOptions{Verify: true}); err != nil || jr.Action != "unchanged" {
		t.Fatalf("join again: %+v, %v", jr, err)
	}

	// A's controller serves B's services
	reg := prometheus.NewRegistry()
	// (with ServiceExports: B serves no MCS CRDs, and still syncs)
	ctl, sink := runController(t, Config{LocalClusterID: "cluster-a", ServiceExports: true}, Options{Registerer: reg}, A.RESTConfig())
	waitFor(t, "B's echo in B's ClusterState", sink.hasService("cluster-b", echoB))
	if err := ctl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	st := onlyStatus(t, ctl)
	if st.State != kube.StateSynced || st.Source != SourceKubernetes || st.Secret != "istio-system/istio-remote-secret-cluster-b" || st.Server != B.URL() {
		t.Errorf("status = %+v", st)
	}
	token := res.Secret.StringData["cluster-b"][strings.Index(res.Secret.StringData["cluster-b"], "token: ")+7:]
	token = strings.TrimSpace(token)
	if dbg := debugJSON(t, ctl); !strings.Contains(dbg, `"cluster": "cluster-b"`) || !strings.Contains(dbg, `"state": "synced"`) || strings.Contains(dbg, token) {
		t.Errorf("/debug/clusters = %s", dbg)
	}
	if v, ok := metrictest.Get(t, reg, "meshgate_discovery_cluster_state", map[string]string{"cluster": "cluster-b", "state": "synced"}); !ok || v != 1 {
		t.Errorf("state metric = %v", v)
	}
	addService(t, adminB, "app", "later", "10.2.0.2")
	waitFor(t, "a service added in B later", sink.hasService("cluster-b", "later.app.svc.cluster.local"))

	// unsafe and malformed secrets: rejected with the secret, key and field
	// named, nothing started; a key naming A itself is ignored
	selfSecret, _ := BuildRemoteSecret("cluster-a", "istio-system", A.URL(), A.CAData(), token)
	mustCreate(t, adminA, selfSecret)
	bad := remoteSecret("istio-remote-secret-bad", map[string]string{"bad": goodKubeconfig + "    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh}\n"})
	mustCreate(t, adminA, bad)
	waitFor(t, "the exec plugin rejected", func() string {
		errs := ctl.SecretErrors()
		if len(errs) != 1 || errs[0].Secret != "istio-system/istio-remote-secret-bad" || errs[0].Key != "bad" || !strings.Contains(errs[0].Error, "users[b].user.exec") {
			return fmt.Sprintf("secret errors %+v", errs)
		}
		return ""
	})
	if sts := ctl.Statuses(); len(sts) != 1 || sts[0].Cluster != "cluster-b" {
		t.Errorf("clusters after the bad and self secrets: %+v", sts)
	}
	if v, ok := metrictest.Get(t, reg, "meshgate_remote_secret_rejections_total", map[string]string{"source": "kubernetes", "reason": ReasonUnsafe}); !ok || v < 1 {
		t.Errorf("rejections metric = %v", v)
	}
	// join refuses an unsafe secret and changes nothing
	before, err := adminA.CoreV1().Secrets("istio-system").Get(ctx, "istio-remote-secret-cluster-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unsafe := res.Secret.DeepCopy()
	unsafe.StringData["cluster-b"] += "    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n"
	if _, err := Join(ctx, A.RESTConfig(), unsafe, JoinOptions{}); err == nil || !strings.Contains(err.Error(), "tokenFile") || strings.Contains(err.Error(), token) {
		t.Errorf("join of an unsafe secret: %v", err)
	}
	after, _ := adminA.CoreV1().Secrets("istio-system").Get(ctx, "istio-remote-secret-cluster-b", metav1.GetOptions{})
	if after.ResourceVersion != before.ResourceVersion {
		t.Error("a refused join changed the secret")
	}
	// an unsafe kubeconfig written directly keeps the running one
	unsafeApplied := before.DeepCopy()
	unsafeApplied.Data["cluster-b"] = append(slices.Clone(unsafeApplied.Data["cluster-b"]), "    tokenFile: /t\n"...)
	if _, err := adminA.CoreV1().Secrets("istio-system").Update(ctx, unsafeApplied, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unsafe update rejected", func() string {
		for _, e := range ctl.SecretErrors() {
			if e.Key == "cluster-b" && strings.Contains(e.Error, "tokenFile") {
				return ""
			}
		}
		return fmt.Sprintf("secret errors %+v", ctl.SecretErrors())
	})
	addService(t, adminB, "app", "still", "10.2.0.3")
	waitFor(t, "B still served with the last good kubeconfig", sink.hasService("cluster-b", "still.app.svc.cluster.local"))
	if st := onlyStatus(t, ctl); st.Reloads != 0 || st.State != kube.StateSynced {
		t.Errorf("status after the unsafe update = %+v", st)
	}

	rotateToken(t, ctx, A, B, ctl, sink, res)

	// deleting the secret removes B
	if err := adminA.CoreV1().Secrets("istio-system").Delete(ctx, "istio-remote-secret-cluster-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B removed", func() string {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if !slices.Contains(sink.removed, "cluster-b") || len(ctl.Statuses()) != 0 {
			return fmt.Sprintf("removed %v, statuses %d", sink.removed, len(ctl.Statuses()))
		}
		return ""
	})
}

// rotateToken replaces B's token twice without a restart: first by a token
// of another ServiceAccount (old-reader), then by a new create-remote-secret
// token; deleting old-reader then invalidates the first token, and B keeps
// being served: the old watches were stopped and the new client is in use.
func rotateToken(t *testing.T, ctx context.Context, A, B *kubetest.Cluster, ctl *Controller, sink *sink, res *CreateResult) {
	adminB := clientFor(t, B.RESTConfig())
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "old-reader", Namespace: "istio-system"}}
	if _, err := adminB.CoreV1().ServiceAccounts("istio-system").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "old-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ReaderClusterRole},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "old-reader", Namespace: "istio-system"}}}
	if _, err := adminB.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := adminB.CoreV1().ServiceAccounts("istio-system").CreateToken(ctx, "old-reader", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldSecret, err := BuildRemoteSecret("cluster-b", "istio-system", B.URL(), B.CAData(), tr.Status.Token)
	if err != nil {
		t.Fatal(err)
	}
	reload := func(s *corev1.Secret, want int) *generation {
		t.Helper()
		if jr, err := Join(ctx, A.RESTConfig(), s, JoinOptions{Verify: true}); err != nil || jr.Action != "updated" {
			t.Fatalf("join: %+v %v", jr, err)
		}
		waitFor(t, fmt.Sprintf("reload %d synced", want), func() string {
			st := onlyStatus(t, ctl)
			if st.Reloads != want || st.Pending != nil || st.State != kube.StateSynced {
				return fmt.Sprintf("status %+v", st)
			}
			return ""
		})
		ctl.mu.Lock()
		defer ctl.mu.Unlock()
		return ctl.clusters["cluster-b"].current
	}
	first := reload(oldSecret, 1)
	res2, err := CreateRemoteSecret(ctx, B.RESTConfig(), CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}
	second := reload(res2.Secret, 2)
	select {
	case <-first.done:
	case <-time.After(waitTimeout):
		t.Fatal("the old generation's watches were not stopped")
	}
	if second.cfg.Config.BearerToken == first.cfg.Config.BearerToken {
		t.Fatal("the new generation uses the old token")
	}
	if err := adminB.CoreV1().ServiceAccounts("istio-system").Delete(ctx, "old-reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	oldClient := clientFor(t, first.cfg.Config)
	waitFor(t, "the old token refused (its ServiceAccount deleted)", func() string {
		if _, err := oldClient.CoreV1().Services("").List(ctx, metav1.ListOptions{}); !apierrors.IsUnauthorized(err) {
			return fmt.Sprintf("listing with the old token: %v", err)
		}
		return ""
	})
	addService(t, adminB, "app", "rotated", "10.2.0.4")
	waitFor(t, "B served with the new token", sink.hasService("cluster-b", "rotated.app.svc.cluster.local"))
	if st := onlyStatus(t, ctl); st.State != kube.StateSynced {
		t.Errorf("status after rotation = %+v", st)
	}
}

// checkReader: the secret's token lists Services in its cluster and is
// refused Secrets there.
func checkReader(t *testing.T, ctx context.Context, s *corev1.Secret) {
	t.Helper()
	cl, err := ValidateRemoteSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	reader := clientFor(t, cl.Config)
	if _, err := reader.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the reader cannot list services: %v", err)
	}
	if _, err := reader.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the reader cannot list endpointslices: %v", err)
	}
	for _, ns := range []string{"", "istio-system", "app"} {
		if _, err := reader.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("the reader listing secrets in %q: %v, want Forbidden", ns, err)
		}
	}
	if _, err := reader.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the reader listing configmaps: %v, want Forbidden", err)
	}
}

func onlyStatus(t *testing.T, c *Controller) ClusterStatus {
	t.Helper()
	sts := c.Statuses()
	if len(sts) != 1 {
		t.Fatalf("statuses = %+v", sts)
	}
	return sts[0]
}

func mustCreate(t *testing.T, kc kubernetes.Interface, s *corev1.Secret) {
	t.Helper()
	if _, err := kc.CoreV1().Secrets(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// B's API server down at the start: the cluster reports error (or
// timeout), nothing is published for it, and readiness proceeds after the
// sync timeout; then B syncs. (With etcd stopped instead, the API server
// would answer the informers' lists from its watch cache.) B's API server killed:
// A keeps B's last state and reports error; restarted: it recovers.
// The secret comes through the Go API (as federation hands them over).
func TestRemoteOutages(t *testing.T) {
	B := kubetest.New(t, kubetest.Options{Name: "outage"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	adminB := clientFor(t, B.RESTConfig())
	addService(t, adminB, "app", "echo", "10.2.0.1")
	res, err := CreateRemoteSecret(ctx, B.RESTConfig(), CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := B.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	const syncTimeout = 2 * time.Second
	ctl, sink := runController(t, Config{LocalClusterID: "cluster-a", SyncTimeout: syncTimeout}, Options{}, nil)
	if err := ctl.SetSecret(SourceFederation, res.Secret); err != nil {
		t.Fatal(err)
	}
	if ctl.Ready() {
		t.Fatal("ready before the remote cluster settled")
	}
	began := time.Now()
	if err := ctl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	st := onlyStatus(t, ctl)
	t.Logf("ready after %v with B %s (last error %q)", time.Since(began).Round(time.Millisecond), st.State, st.LastError)
	if time.Since(began) < syncTimeout-200*time.Millisecond || (st.State != kube.StateTimeout && st.State != kube.StateError) || st.Synced {
		t.Errorf("readiness after %v with status %+v", time.Since(began), st)
	}
	if cs, _ := sink.state("cluster-b"); cs != nil {
		t.Fatal("published before B synced")
	}
	if err := B.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B synced after its API server came back", sink.hasService("cluster-b", echoB))

	_, n := sink.state("cluster-b")
	if err := B.KillAPIServer(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B reported in error", func() string {
		if st := onlyStatus(t, ctl); st.State != kube.StateError {
			return fmt.Sprintf("status %+v", st)
		}
		return ""
	})
	var dbg Debug
	if err := json.Unmarshal([]byte(debugJSON(t, ctl)), &dbg); err != nil || len(dbg.Remote) != 1 || dbg.Remote[0].State != kube.StateError || dbg.Remote[0].LastError == "" {
		t.Errorf("/debug/clusters while B is down: %+v %v", dbg, err)
	}
	if cs, m := sink.state("cluster-b"); cs == nil || cs.Service(echoB) == nil || m != n || !ctl.Ready() {
		t.Fatalf("B's last good state was not kept: %d new publishes, ready %v", m-n, ctl.Ready())
	}
	if err := B.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	addService(t, adminB, "app", "after", "10.2.0.2")
	waitFor(t, "B recovered", sink.hasService("cluster-b", "after.app.svc.cluster.local"))
	waitFor(t, "B synced", func() string {
		if st := onlyStatus(t, ctl); st.State != kube.StateSynced {
			return fmt.Sprintf("status %+v", st)
		}
		return ""
	})
}
