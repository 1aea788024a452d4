//go:build integration

package kube

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/meshgate/meshgate/test/kubetest"
)

// shared is one API server for the tests that only add objects in their own
// namespaces; tests that stop or restart a server start their own.
var shared struct {
	once sync.Once
	c    *kubetest.Cluster
	err  error
}

func sharedCluster(t testing.TB) *kubetest.Cluster {
	t.Helper()
	shared.once.Do(func() {
		shared.c, shared.err = kubetest.Start(context.Background(), kubetest.Options{Name: "kube-shared"})
	})
	if shared.err != nil {
		t.Fatalf("kubetest: %v", shared.err)
	}
	return shared.c
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close shared cluster:", err)
		}
	}
	os.Exit(code)
}
