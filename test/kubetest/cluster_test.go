//go:build integration

package kubetest

import (
	"context"
	"testing"
	"time"

	networkingv1api "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// eventuallyTimeout bounds polls for state the apiserver reaches
// asynchronously (RBAC cache, informer resync after a restart).
const eventuallyTimeout = time.Minute

// eventually polls cond until it returns true; an error from cond is
// remembered and reported if the poll gives up.
func eventually(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, eventuallyTimeout, true,
		func(ctx context.Context) (bool, error) {
			ok, err := cond(ctx)
			last = err
			return ok, nil
		})
	if err != nil {
		t.Fatalf("%s: %v (last error: %v)", what, err, last)
	}
}

func clientset(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// TestTwoClusters starts two clusters and checks what each must provide on
// its own: isolation, Istio CRDs, TokenRequest and RBAC.
func TestTwoClusters(t *testing.T) {
	cs := NewN(t, 2, Options{})
	east, west := cs[0], cs[1]
	if east.URL() == west.URL() || east.EtcdURL() == west.EtcdURL() {
		t.Fatalf("clusters share an address: %s %s / %s %s", east.URL(), east.EtcdURL(), west.URL(), west.EtcdURL())
	}
	eastClient, westClient := clientset(t, east.RESTConfig()), clientset(t, west.RESTConfig())

	t.Run("version", func(t *testing.T) {
		v, err := eastClient.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.GitVersion != "v1.37.2" {
			t.Errorf("server version %q, want v1.37.2 (build.sh's -ldflags stamp)", v.GitVersion)
		}
	})
	t.Run("isolation", func(t *testing.T) { testIsolation(t, eastClient, westClient) })
	t.Run("istio CRDs", func(t *testing.T) { testIstioCRDs(t, east) })
	t.Run("token request and RBAC", func(t *testing.T) { testTokenAndRBAC(t, east, west) })
}

func testIsolation(t *testing.T, east, west kubernetes.Interface) {
	ctx := context.Background()
	createNamespace(t, east, "alpha")
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "alpha"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	created, err := east.CoreV1().Services("alpha").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service alpha/web: %v", err)
	}
	if created.Spec.ClusterIP == "" {
		t.Errorf("service alpha/web got no cluster IP")
	}
	if _, err := east.CoreV1().Services("alpha").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("east: get service alpha/web: %v", err)
	}
	if _, err := west.CoreV1().Namespaces().Get(ctx, "alpha", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("west: get namespace alpha: err = %v, want NotFound", err)
	}
	if _, err := west.CoreV1().Services("alpha").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("west: get service alpha/web: err = %v, want NotFound", err)
	}
}

func testIstioCRDs(t *testing.T, c *Cluster) {
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"gateways.networking.istio.io", "virtualservices.networking.istio.io",
		"destinationrules.networking.istio.io", "serviceentries.networking.istio.io",
	} {
		pending, err := notEstablished(ctx, dyn.Resource(crdGVR), []string{name})
		if err != nil || len(pending) != 0 {
			t.Errorf("CRD %s not established: pending=%v err=%v", name, pending, err)
		}
	}

	createNamespace(t, clientset(t, c.RESTConfig()), "istio-test")
	ic, err := istioclient.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	gw := &networkingv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "cross-network", Namespace: "istio-test"},
		Spec: networkingv1api.Gateway{
			Selector: map[string]string{"istio": "eastwestgateway"},
			Servers: []*networkingv1api.Server{{
				Port:  &networkingv1api.Port{Number: 15443, Name: "tls", Protocol: "TLS"},
				Hosts: []string{"*.local"},
				Tls:   &networkingv1api.ServerTLSSettings{Mode: networkingv1api.ServerTLSSettings_AUTO_PASSTHROUGH},
			}},
		},
	}
	if _, err := ic.NetworkingV1().Gateways("istio-test").Create(ctx, gw, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Gateway: %v", err)
	}
	list, err := ic.NetworkingV1().Gateways("istio-test").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list Gateways: %v", err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("listed %d Gateways, want 1", len(list.Items))
	}
	got := list.Items[0]
	if got.Name != "cross-network" || len(got.Spec.Servers) != 1 ||
		got.Spec.Servers[0].GetPort().GetNumber() != 15443 ||
		got.Spec.Servers[0].GetTls().GetMode() != networkingv1api.ServerTLSSettings_AUTO_PASSTHROUGH {
		t.Errorf("Gateway read back differs: %v", &got.Spec)
	}
}

func testTokenAndRBAC(t *testing.T, c, other *Cluster) {
	ctx := context.Background()
	admin := clientset(t, c.RESTConfig())
	createNamespace(t, admin, "rbac")
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: "rbac"}}
	if _, err := admin.CoreV1().ServiceAccounts("rbac").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service account: %v", err)
	}
	expiry := int64(600)
	tr, err := admin.CoreV1().ServiceAccounts("rbac").CreateToken(ctx, "reader",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	if tr.Status.Token == "" {
		t.Fatal("TokenRequest returned an empty token")
	}
	reader := clientset(t, c.TokenConfig(tr.Status.Token))

	review, err := reader.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview with the token: %v", err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:rbac:reader"; got != want {
		t.Errorf("token authenticates as %q, want %q", got, want)
	}
	if _, err := reader.CoreV1().Secrets("rbac").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list secrets before the grant: err = %v, want Forbidden", err)
	}
	// The other cluster has its own signing key: the token means nothing there.
	_, err = clientset(t, other.TokenConfig(tr.Status.Token)).CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("token on the other cluster: err = %v, want Unauthorized", err)
	}

	grantSecretReader(t, admin, "rbac", "reader")
	eventually(t, "list secrets after the grant", func(ctx context.Context) (bool, error) {
		_, err := reader.CoreV1().Secrets("rbac").List(ctx, metav1.ListOptions{})
		return err == nil, err
	})
	if _, err := reader.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list secrets in another namespace: err = %v, want Forbidden", err)
	}
}

func grantSecretReader(t *testing.T, admin kubernetes.Interface, ns, sa string) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Role: %v", err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "secret-reader", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "secret-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create RoleBinding: %v", err)
	}
}
