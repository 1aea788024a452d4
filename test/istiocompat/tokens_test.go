//go:build integration

package istiocompat

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/test/kubetest"
)

// fillTokens does for namespace ns of c what kube-controller-manager's
// token controller does, which the testbed lacks: every
// kubernetes.io/service-account-token Secret that names a ServiceAccount
// gets its token, ca.crt and namespace. The token comes from the
// TokenRequest API, bound to the Secret (deleting the Secret revokes it, as
// for the controller's tokens). It returns once its watch is open and works
// until ctx ends.
func fillTokens(ctx context.Context, t *testing.T, c *kubetest.Cluster, ns string) {
	t.Helper()
	client, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	w, err := client.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)).String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*corev1.Secret)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) || len(s.Data[corev1.ServiceAccountTokenKey]) > 0 {
				continue
			}
			if err := fillToken(ctx, client, c.CAData(), s); err != nil && ctx.Err() == nil {
				t.Errorf("token controller: Secret %s/%s: %v", s.Namespace, s.Name, err)
			}
		}
	}()
}

func fillToken(ctx context.Context, client kubernetes.Interface, ca []byte, s *corev1.Secret) error {
	saName := s.Annotations[corev1.ServiceAccountNameKey]
	sa, err := client.CoreV1().ServiceAccounts(s.Namespace).Get(ctx, saName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	expiry := int64(3600)
	tr, err := client.CoreV1().ServiceAccounts(s.Namespace).CreateToken(ctx, saName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &expiry,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: s.Name, UID: s.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	s = s.DeepCopy()
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[corev1.ServiceAccountTokenKey] = []byte(tr.Status.Token)
	s.Data[corev1.ServiceAccountRootCAKey] = ca
	s.Data[corev1.ServiceAccountNamespaceKey] = []byte(s.Namespace)
	s.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
	_, err = client.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
	return err
}
