package kubetest

import (
	"context"
	"testing"
)

// New starts a cluster for a test and fails the test (never skips it) when
// that is impossible, for example because the binaries are missing: the
// message names the command that builds them. The cluster is stopped and its
// directory removed when the test ends, pass or fail; a failed test first
// gets the tail of the component logs.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	cleanup(t, c)
	return c
}

// NewN starts n independent clusters for a test (see New and StartN).
func NewN(t testing.TB, n int, opts Options) []*Cluster {
	t.Helper()
	cs, err := StartN(context.Background(), n, opts)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	for _, c := range cs {
		cleanup(t, c)
	}
	return cs
}

func cleanup(t testing.TB, c *Cluster) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubetest: cluster %s, last lines of %s:\n%s", c.name, c.apiserver.LogPath, c.apiserver.LogTail(20))
			t.Logf("kubetest: cluster %s, last lines of %s:\n%s", c.name, c.etcd.LogPath, c.etcd.LogTail(10))
		}
		if err := c.Close(); err != nil {
			t.Errorf("kubetest: close cluster %s: %v", c.name, err)
		}
	})
}
