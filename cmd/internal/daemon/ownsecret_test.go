//go:build integration

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/test/kubetest"
)

// N clusters need N−1 joins: cluster B's daemon mints its own remote secret
// (reader token via the TokenRequest API) and gossips it; cluster A's daemons,
// which were given no secret for B, watch B's API server with it, and keep
// doing so across a renewal (a new token, a make-before-break reload). A runs
// two replicas (leader election, one shared CA directory): B seals its secret
// for the key A's leader publishes, and the replica that does not lead opens
// it too, because both derive the sealing key from the CA they share.
func TestGossipedRemoteSecret(t *testing.T) {
	cs := kubetest.NewN(t, 2, kubetest.Options{Name: "gossip-secret"})
	A, B := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, c := range cs {
		if err := mustApplier(t, c).ApplyYAML(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n")); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "meshgate", "15-remote-reader.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mustApplier(t, B).ApplyYAML(ctx, reader); err != nil { // the reader identity deploy/meshgate installs
		t.Fatal(err)
	}
	if err := mustApplier(t, B).ApplyYAML(ctx, []byte(echoYAML)); err != nil {
		t.Fatal(err)
	}
	key, err := federation.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(c *kubetest.Cluster, id string, join []string, publish bool, mods ...func(*Config)) *Daemon {
		cfg := testConfig(t)
		cfg.ConfigDir, cfg.Kubeconfig, cfg.ClusterID, cfg.Namespace = "", c.KubeconfigPath(), id, "istio-system"
		cfg.GossipConfig = GossipConfig{BindAddress: "127.0.0.1:0", Join: join, KeyringFile: keyFile, MeshID: "mesh1",
			FailStaticWindow: Duration(time.Minute), AdmitClusters: others(id, "cluster-a", "cluster-b")}
		if publish {
			cfg.RemoteSecretServer, cfg.RemoteSecretTTL = c.URL(), Duration(10*time.Minute)
		}
		for _, mod := range mods {
			mod(&cfg)
		}
		d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
		if err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(dctx) }()
		t.Cleanup(func() { dcancel(); <-done })
		<-d.fedStarted
		return d
	}
	b := start(B, "cluster-b", nil, true)
	caDir := t.TempDir()
	replica := func(c *Config) {
		def := DefaultConfig().GossipConfig
		c.GossipConfig.LeaderElect, c.GossipConfig.LeaseName, c.GossipConfig.LeaseDuration = true, def.LeaseName, def.LeaseDuration
		c.IdentityCADir = caDir
	}
	a := start(A, "cluster-a", []string{b.GossipAddr()}, false, replica)
	a2 := start(A, "cluster-a", []string{b.GossipAddr()}, false, replica)

	remoteB := func(a *Daemon) (remote.ClusterStatus, bool) {
		code, body := httpGet(t, "http://"+a.AdminAddr()+"/debug/clusters")
		var dbg remote.Debug
		if code != 200 || json.Unmarshal([]byte(body), &dbg) != nil {
			return remote.ClusterStatus{}, false
		}
		for _, r := range dbg.Remote {
			if r.Cluster == "cluster-b" {
				return r, true
			}
		}
		return remote.ClusterStatus{}, false
	}
	for _, a := range []*Daemon{a, a2} {
		poll(ctx, t, "both replicas of cluster A watch cluster B through B's gossiped remote secret", func() bool {
			r, ok := remoteB(a)
			return ok && r.Source == remote.SourceFederation && r.State == kube.StateSynced && r.Server == B.URL()
		})
	}

	// Renewal: B mints a new token and gossips it; A reloads (make-before-break) and stays synced.
	before := b.own.Secret()
	if _, err := b.own.Renew(ctx); err != nil { // publishes the new secret (RenewerOptions.Changed)
		t.Fatal(err)
	}
	if bytes.Equal(before, b.own.Secret()) {
		t.Fatal("renewal did not change the remote secret")
	}
	for _, a := range []*Daemon{a, a2} {
		poll(ctx, t, "both replicas of cluster A reload B's renewed secret", func() bool {
			r, ok := remoteB(a)
			return ok && r.Reloads >= 1 && r.State == kube.StateSynced && r.Pending == nil
		})
	}
}

// Joining through a remote secret: A's daemon has B's remote secret but no
// gossip seeds; it finds B's daemon through B's meshgate-gossip Service and
// joins its gossip.
func TestJoinGossipThroughRemoteSecret(t *testing.T) {
	cs := kubetest.NewN(t, 2, kubetest.Options{Name: "seed"})
	A, B := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, c := range cs {
		if err := mustApplier(t, c).ApplyYAML(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n")); err != nil {
			t.Fatal(err)
		}
	}
	key, _ := federation.GenerateKey()
	keyFile := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The API server refuses loopback external IPs: gossip on a host address.
	ip := hostIP(t)
	start := func(c *kubetest.Cluster, id string) *Daemon {
		cfg := testConfig(t)
		cfg.ConfigDir, cfg.Kubeconfig, cfg.ClusterID, cfg.Namespace = "", c.KubeconfigPath(), id, "istio-system"
		cfg.GossipConfig = GossipConfig{BindAddress: ip + ":0", KeyringFile: keyFile, MeshID: "mesh1", FailStaticWindow: Duration(time.Minute),
			AdmitClusters: others(id, "cluster-a", "cluster-b")}
		d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
		if err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(dctx) }()
		t.Cleanup(func() { dcancel(); <-done })
		<-d.fedStarted
		return d
	}
	b := start(B, "cluster-b")
	_, port, err := net.SplitHostPort(b.GossipAddr())
	if err != nil {
		t.Fatal(err)
	}
	svc := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: meshgate-gossip, namespace: istio-system}
spec:
  externalIPs: [%s]
  ports: [{name: tcp-gossip, port: %s, protocol: TCP}]
`, ip, port)
	if err := mustApplier(t, B).ApplyYAML(ctx, []byte(svc)); err != nil {
		t.Fatal(err)
	}
	res, err := remote.CreateRemoteSecret(ctx, B.RESTConfig(), remote.CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Join(ctx, A.RESTConfig(), res.Secret, remote.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	a := start(A, "cluster-a") // no --join
	poll(ctx, t, "cluster A's daemon joins cluster B's gossip", func() bool {
		for _, m := range a.fed.Members() {
			if m.Cluster == "cluster-b" && m.State == "alive" {
				return true
			}
		}
		return false
	})
}
