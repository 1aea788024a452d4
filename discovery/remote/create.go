package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/meshgate/meshgate/identity"
)

// The reader identity create-remote-secret sets up in the remote cluster.
const (
	ReaderServiceAccount = "meshgate-reader"
	ReaderClusterRole    = "meshgate-reader"
	// ReaderTokenSecret holds a long-lived token (--long-lived-token).
	ReaderTokenSecret = "meshgate-reader-token"
	// DefaultTokenTTL is the lifetime of a token from the TokenRequest API.
	DefaultTokenTTL = 24 * time.Hour
	// DefaultLongLivedWait bounds the wait for the token controller to
	// fill a long-lived token Secret.
	DefaultLongLivedWait = 30 * time.Second
)

// ReaderRules are what a remote cluster's reader may do: read what the
// remote-cluster watches of meshgate (services, endpointslices, pods,
// namespaces, nodes for the pods' locality; get of the meshgate-gossip
// Service) and of istiod ask for, so that the secret works for both.
// istiod's remote-cluster code (Istio's pkg/kube/multicluster and service
// registry) also watches CustomResourceDefinitions (its remote clients start
// informers for optional APIs once their CRD exists; without this the
// cluster never syncs) and the Kubernetes Gateway API's Gateways. The
// Multi-Cluster Services API's ServiceExports (list, watch) let a daemon
// with --multicluster-services read the exports of a cluster joined only
// through its remote secret (a secret made without this grant still works:
// that cluster's exports then come only from its own daemon). Nothing
// else: no Secrets, no ConfigMaps, no Istio configuration (remote clusters
// contribute services and endpoints only), no writes. deploy's
// TestReaderRBAC checks these grants against meshgate's requests,
// test/istiocompat against istiod's.
var ReaderRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"namespaces", "nodes", "pods", "services"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"apiextensions.k8s.io"}, Resources: []string{"customresourcedefinitions"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gateways"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"multicluster.x-k8s.io"}, Resources: []string{"serviceexports"}, Verbs: []string{"list", "watch"}},
}

// CreateOptions are create-remote-secret's settings.
type CreateOptions struct {
	// ClusterName is the remote cluster's id (the secret's key). Required.
	ClusterName string
	// Namespace holds the reader ServiceAccount and the secret (default
	// istio-system).
	Namespace string
	// Server is the API server URL other clusters use (default: the
	// client configuration's).
	Server string
	// TokenTTL is the token's lifetime (default DefaultTokenTTL).
	TokenTTL time.Duration
	// LongLivedToken uses a kubernetes.io/service-account-token Secret
	// (filled by the cluster's token controller) instead of TokenRequest.
	LongLivedToken bool
	// LongLivedWait bounds the wait for that Secret's token
	// (default DefaultLongLivedWait).
	LongLivedWait time.Duration
	// TrustBundle is the cluster's mesh trust bundle (PEM roots), written
	// to AnnotationTrustBundle so that the joining daemons pin it. Empty:
	// root-cert.pem of the Istio-style Secret cacerts in Namespace, if
	// there is one (else a warning: the daemons that join it admit the cluster only by --admit-cluster).
	TrustBundle []byte
}

// CreateResult is the remote secret and the warnings to show the user.
type CreateResult struct {
	Secret   *corev1.Secret
	Warnings []string
	// Expires is when the token expires (zero for a long-lived token).
	Expires time.Time
}

// CreateRemoteSecret runs against the remote cluster (cfg, with rights to
// manage RBAC): it creates or updates the reader ServiceAccount, ClusterRole
// and ClusterRoleBinding, mints a token and returns the remote secret.
func CreateRemoteSecret(ctx context.Context, cfg *rest.Config, opts CreateOptions) (*CreateResult, error) {
	if opts.ClusterName == "" {
		return nil, errors.New("create-remote-secret: a cluster name is required")
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.LongLivedWait <= 0 {
		opts.LongLivedWait = DefaultLongLivedWait
	}
	server := opts.Server
	if server == "" {
		server = cfg.Host
	}
	ca, err := caData(cfg)
	if err != nil {
		return nil, err
	}
	res := &CreateResult{}
	if w := loopbackWarning(server); w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := ensureReader(ctx, client, opts.Namespace); err != nil {
		return nil, err
	}
	var token string
	if opts.LongLivedToken {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the token in Secret %s/%s never expires: delete that Secret to revoke it", opts.Namespace, ReaderTokenSecret))
		token, err = longLivedToken(ctx, client, opts.Namespace, opts.LongLivedWait)
	} else {
		token, res.Expires, err = requestToken(ctx, client, opts.Namespace, opts.TokenTTL)
	}
	if err != nil {
		return nil, err
	}
	if res.Secret, err = BuildRemoteSecret(opts.ClusterName, opts.Namespace, server, ca, token); err != nil {
		return nil, err
	}
	bundle := opts.TrustBundle
	if len(bundle) == 0 {
		if bundle, err = cacertsRoots(ctx, client, opts.Namespace); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("no trust bundle in the remote secret (%v): the daemons that join it do not admit "+
				"this cluster's gossip unless they list it in --admit-cluster (then pinned at first contact); pass --trust-bundle", err))
			return res, nil
		}
	}
	if _, err := identity.ParseCertificatesPEM(bundle); err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	res.Secret.Annotations[AnnotationTrustBundle] = string(bundle)
	return res, nil
}

// CACertsSecret is Istio's plug-in CA Secret; its root-cert.pem is the
// cluster's mesh trust bundle.
const CACertsSecret = "cacerts"

// cacertsRoots reads root-cert.pem of the Secret cacerts in ns.
func cacertsRoots(ctx context.Context, client kubernetes.Interface, ns string) ([]byte, error) {
	s, err := client.CoreV1().Secrets(ns).Get(ctx, CACertsSecret, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", ns, CACertsSecret, err)
	}
	if b := s.Data[identity.FileRootCert]; len(b) > 0 {
		return b, nil
	}
	return nil, fmt.Errorf("Secret %s/%s has no %s", ns, CACertsSecret, identity.FileRootCert)
}

func caData(cfg *rest.Config) ([]byte, error) {
	if len(cfg.CAData) > 0 {
		return cfg.CAData, nil
	}
	if cfg.CAFile != "" {
		b, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("create-remote-secret: read the API server's CA: %w", err)
		}
		return b, nil
	}
	return nil, errors.New("create-remote-secret: the kubeconfig has no certificate authority for the API server (certificate-authority-data); the remote secret needs one")
}

// loopbackWarning warns when other clusters cannot reach server.
func loopbackWarning(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
		return fmt.Sprintf("the server %s is a loopback address: other clusters cannot reach it (pass --server with an address they can reach)", server)
	}
	return ""
}

// ensureReader creates or updates the namespace, ServiceAccount, ClusterRole
// and ClusterRoleBinding of the reader.
func ensureReader(ctx context.Context, client kubernetes.Interface, ns string) error {
	if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
	} else if err != nil {
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ReaderServiceAccount, Namespace: ns, Labels: managedLabels()}}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ServiceAccount %s/%s: %w", ns, ReaderServiceAccount, err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ReaderClusterRole, Labels: managedLabels()}, Rules: ReaderRules}
	if err := upsertClusterRole(ctx, client, role); err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ReaderClusterRole + "-" + ns, Labels: managedLabels()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: ReaderClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ReaderServiceAccount, Namespace: ns}},
	}
	return upsertClusterRoleBinding(ctx, client, binding)
}

func managedLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "meshgate"}
}

func upsertClusterRole(ctx context.Context, client kubernetes.Interface, want *rbacv1.ClusterRole) error {
	api := client.RbacV1().ClusterRoles()
	got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
	case err == nil && !equality.Semantic.DeepEqual(got.Rules, want.Rules):
		got.Rules = want.Rules // least privilege: drop whatever else was granted
		_, err = api.Update(ctx, got, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("ClusterRole %s: %w", want.Name, err)
	}
	return nil
}

func upsertClusterRoleBinding(ctx context.Context, client kubernetes.Interface, want *rbacv1.ClusterRoleBinding) error {
	api := client.RbacV1().ClusterRoleBindings()
	got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
	case err == nil && got.RoleRef != want.RoleRef:
		// roleRef is immutable: replace the binding
		if err = api.Delete(ctx, want.Name, metav1.DeleteOptions{}); err == nil {
			_, err = api.Create(ctx, want, metav1.CreateOptions{})
		}
	case err == nil && !equality.Semantic.DeepEqual(got.Subjects, want.Subjects):
		got.Subjects = want.Subjects
		_, err = api.Update(ctx, got, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("ClusterRoleBinding %s: %w", want.Name, err)
	}
	return nil
}

// requestToken mints an expiring token with the TokenRequest API.
func requestToken(ctx context.Context, client kubernetes.Interface, ns string, ttl time.Duration) (string, time.Time, error) {
	secs := int64(ttl / time.Second)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	out, err := client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, ReaderServiceAccount, tr, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("request a token for %s/%s: %w", ns, ReaderServiceAccount, err)
	}
	return out.Status.Token, out.Status.ExpirationTimestamp.Time, nil
}

// longLivedToken creates (if needed) a service-account-token Secret and
// waits for the token controller to fill it.
func longLivedToken(ctx context.Context, client kubernetes.Interface, ns string, wait time.Duration) (string, error) {
	api := client.CoreV1().Secrets(ns)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: ReaderTokenSecret, Namespace: ns, Labels: managedLabels(),
			Annotations: map[string]string{corev1.ServiceAccountNameKey: ReaderServiceAccount},
		},
		Type: corev1.SecretTypeServiceAccountToken,
	}
	if _, err := api.Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create Secret %s/%s: %w", ns, ReaderTokenSecret, err)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := api.Get(ctx, ReaderTokenSecret, metav1.GetOptions{})
		if err == nil && got.Type != corev1.SecretTypeServiceAccountToken {
			return "", fmt.Errorf("Secret %s/%s exists with type %s, not %s", ns, ReaderTokenSecret, got.Type, corev1.SecretTypeServiceAccountToken)
		}
		if err == nil && len(got.Data[corev1.ServiceAccountTokenKey]) > 0 {
			return string(got.Data[corev1.ServiceAccountTokenKey]), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("Secret %s/%s: no token after %s: the cluster's token controller (kube-controller-manager) did not fill it; use an expiring token instead (without --long-lived-token)", ns, ReaderTokenSecret, wait)
		case <-tick.C:
		}
	}
}

// BuildRemoteSecret returns the remote secret of cluster: Istio's format
// (see the package doc), the kubeconfig under stringData as istioctl
// writes it.
func BuildRemoteSecret(cluster, namespace, server string, caData []byte, token string) (*corev1.Secret, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	kc.AuthInfos[cluster] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: cluster}
	kc.CurrentContext = cluster
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        SecretNamePrefix + cluster,
			Namespace:   namespace,
			Labels:      map[string]string{LabelMultiCluster: "true"},
			Annotations: map[string]string{AnnotationCluster: cluster},
		},
		StringData: map[string]string{cluster: string(data)},
	}
	if _, err := ValidateRemoteSecret(s); err != nil {
		return nil, err
	}
	return s, nil
}

// MarshalSecret renders a remote secret as YAML, as istioctl prints it.
func MarshalSecret(s *corev1.Secret) ([]byte, error) {
	b, err := yaml.Marshal(s)
	if err != nil {
		return nil, err
	}
	return slices.Concat([]byte("# This file is autogenerated, do not edit.\n"), b), nil
}
