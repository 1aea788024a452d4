package kubetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
)

// pollInterval is how often startup conditions are checked.
const pollInterval = 100 * time.Millisecond

// StartEtcd starts etcd (again) with the same data directory and port, and
// waits until it reports healthy.
func (c *Cluster) StartEtcd(ctx context.Context) error {
	if err := c.etcd.Start(); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second}
	return c.waitFor(ctx, "etcd "+c.EtcdURL()+"/health", []*process{c.etcd}, func(ctx context.Context) error {
		return httpOK(ctx, client, c.EtcdURL()+"/health")
	})
}

// StopEtcd stops etcd gracefully (SIGTERM); its data is kept.
func (c *Cluster) StopEtcd() error { return c.etcd.Stop() }

// KillEtcd kills etcd with SIGKILL; its data is kept (writes are not
// fsynced, but the page cache survives a process crash).
func (c *Cluster) KillEtcd() error { return c.etcd.Kill() }

// StartAPIServer starts kube-apiserver (again) with the same flags, port and
// certificates, and waits until /readyz answers 200. Clients built from
// RESTConfig keep working across a restart.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if err := c.apiserver.Start(); err != nil {
		return err
	}
	certFile := filepath.Join(c.dir, "certs", "apiserver.crt")
	var client *http.Client
	return c.waitFor(ctx, "kube-apiserver "+c.URL()+"/readyz", []*process{c.apiserver, c.etcd},
		func(ctx context.Context) error {
			if client == nil {
				// The apiserver writes its serving certificate before it serves.
				if err := c.loadServingCA(certFile); err != nil {
					return err
				}
				var err error
				if client, err = rest.HTTPClientFor(c.RESTConfig()); err != nil {
					return err
				}
				client.Timeout = 5 * time.Second
			}
			return httpOK(ctx, client, c.URL()+"/readyz")
		})
}

// StopAPIServer stops kube-apiserver gracefully (SIGTERM).
func (c *Cluster) StopAPIServer() error { return c.apiserver.Stop() }

// KillAPIServer kills kube-apiserver with SIGKILL.
func (c *Cluster) KillAPIServer() error { return c.apiserver.Kill() }

// Stop stops kube-apiserver, then etcd, gracefully. Data and certificates
// are kept: StartEtcd and StartAPIServer bring the cluster back.
func (c *Cluster) Stop() error {
	return errors.Join(stopIfSet(c.apiserver, (*process).Stop), stopIfSet(c.etcd, (*process).Stop))
}

// Kill kills kube-apiserver and etcd with SIGKILL, as a crash would.
func (c *Cluster) Kill() error {
	return errors.Join(stopIfSet(c.apiserver, (*process).Kill), stopIfSet(c.etcd, (*process).Kill))
}

func stopIfSet(p *process, f func(*process) error) error {
	if p == nil {
		return nil
	}
	return f(p)
}

// Close stops everything and removes the cluster's directory. It is safe to
// call more than once.
func (c *Cluster) Close() error {
	return errors.Join(c.Stop(), os.RemoveAll(c.dir))
}

// waitFor polls check until it succeeds, ctx ends, c.timeout passes or one
// of procs exits. Errors carry the last check error and the log tail.
func (c *Cluster) waitFor(ctx context.Context, what string, procs []*process, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		for _, p := range procs {
			if !p.Running() {
				return fmt.Errorf("waiting for %s: %w", what, exitError(p))
			}
		}
		select {
		case <-ctx.Done():
			p := procs[0]
			return fmt.Errorf("%s not ready after %s (last error: %v); last lines of %s:\n%s",
				what, time.Since(start).Round(time.Millisecond), err, p.LogPath, p.LogTail(40))
		case <-procs[0].Exited():
		case <-tick.C:
		}
	}
}

func httpOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
