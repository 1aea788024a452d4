package remote

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// remoteSecretSelector selects remote secrets.
const remoteSecretSelector = LabelMultiCluster + "=true"

// WatchSecrets watches the remote secrets (label istio/multiCluster=true)
// of Config.Namespace through cfg, and feeds them to the controller as
// SourceKubernetes, until ctx is done. It lists and watches only that
// namespace's Secrets with that label. Ready waits for its initial sync, at
// most SyncTimeout (a watch that cannot sync, say for lack of RBAC, never
// holds readiness forever).
func (c *Controller) WatchSecrets(ctx context.Context, cfg *rest.Config) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("remote: watch secrets: %w", err)
	}
	inf := coreinformers.NewFilteredSecretInformer(client, c.cfg.Namespace, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = remoteSecretSelector })
	// kubectl's last-applied annotation holds a copy of the kubeconfig
	_ = inf.SetTransform(func(obj any) (any, error) {
		if s, ok := obj.(*corev1.Secret); ok {
			s.ManagedFields = nil
			delete(s.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
		}
		return obj, nil
	})
	set := func(obj any) {
		if s, ok := obj.(*corev1.Secret); ok {
			_ = c.SetSecret(SourceKubernetes, s) // problems are logged and counted
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if s, ok := obj.(*corev1.Secret); ok {
				c.DeleteSecret(SourceKubernetes, s.Namespace, s.Name)
			}
		},
	}); err != nil {
		return fmt.Errorf("remote: watch secrets: %w", err)
	}
	c.mu.Lock()
	c.watches = append(c.watches, secretWatch{synced: inf.HasSynced, started: time.Now()})
	c.mu.Unlock()
	inf.Run(ctx.Done())
	return nil
}
