//go:build integration

package kubetest

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// TestRestart stops, kills and restarts a cluster's components and checks
// that clients made before keep working against the same URL and see the
// data etcd kept, that an informer recovers, and that Close leaves nothing.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	c := New(t, Options{Name: "chaos", SkipIstioCRDs: true})
	url := c.URL()
	client := clientset(t, c.RESTConfig())
	createNamespace(t, client, "before")

	// An informer started before the outages must see objects made after them.
	factory := informers.NewSharedInformerFactory(client, 0)
	nsInformer := factory.Core().V1().Namespaces().Informer()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	syncCtx, cancel := context.WithTimeout(ctx, eventuallyTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), nsInformer.HasSynced) {
		t.Fatal("namespace informer did not sync against the real apiserver")
	}
	informerSees := func(t *testing.T, name string) {
		t.Helper()
		eventually(t, "informer sees namespace "+name, func(context.Context) (bool, error) {
			_, ok, err := nsInformer.GetStore().GetByKey(name)
			return ok, err
		})
	}

	t.Run("stop and start the apiserver", func(t *testing.T) {
		if err := c.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Namespaces().Get(ctx, "before", metav1.GetOptions{}); err == nil {
			t.Fatal("the apiserver answered while stopped")
		}
		if err := c.StartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		if c.URL() != url {
			t.Fatalf("URL changed across restart: %s -> %s", url, c.URL())
		}
		mustGetNamespace(t, client, "before")
		createNamespace(t, client, "after-restart")
		informerSees(t, "after-restart")
	})

	t.Run("kill and start everything", func(t *testing.T) {
		if err := c.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := c.StartEtcd(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.StartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		mustGetNamespace(t, client, "before")
		mustGetNamespace(t, client, "after-restart")
		createNamespace(t, client, "after-kill")
		informerSees(t, "after-kill")
	})

	t.Run("start while running is an error", func(t *testing.T) {
		err := c.StartAPIServer(ctx)
		if err == nil || !strings.Contains(err.Error(), "already running") {
			t.Fatalf("StartAPIServer on a running apiserver: err = %v, want 'already running'", err)
		}
	})

	t.Run("close removes everything", func(t *testing.T) {
		dir := c.Dir()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cluster directory %s still there after Close: %v", dir, err)
		}
		for _, addr := range []string{strings.TrimPrefix(c.URL(), "https://"), strings.TrimPrefix(c.EtcdURL(), "http://")} {
			if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				conn.Close()
				t.Errorf("%s still accepts connections after Close", addr)
			}
		}
	})
}

func mustGetNamespace(t *testing.T, client kubernetes.Interface, name string) *corev1.Namespace {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get namespace %s: %v", name, err)
	}
	return ns
}

// TestPortTakenRetries hands the apiserver a port another process holds, as
// happens when a freshly picked port is grabbed before the apiserver binds
// it: Start must retry on new ports and succeed.
func TestPortTakenRetries(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	taken := held.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPorts = func(host string, n int) ([]int, error) {
		calls++
		ports, err := freePorts(host, n)
		if calls == 1 && err == nil {
			ports[0] = taken // the apiserver's secure port
		}
		return ports, err
	}
	t.Cleanup(func() { pickPorts = freePorts })

	c := New(t, Options{Name: "retry", SkipIstioCRDs: true})
	if calls != 2 {
		t.Errorf("ports picked %d times, want 2 (one retry)", calls)
	}
	if strings.HasSuffix(c.URL(), ":"+strconv.Itoa(taken)) {
		t.Fatalf("cluster claims the taken port: %s", c.URL())
	}
	mustGetNamespace(t, clientset(t, c.RESTConfig()), "default")
	log, err := os.ReadFile(c.apiserver.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "address already in use") {
		t.Errorf("the first apiserver did not fail on the taken port; log:\n%s", log)
	}
}
