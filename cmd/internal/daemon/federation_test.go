package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/meshgate/meshgate/test/logtest"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshgate/meshgate/federation"
	"github.com/meshgate/meshgate/identity"
)

// edsAddresses follows one cluster's endpoints over a real ADS stream as the
// ingress gateway of network1 would, and returns each distinct set it sees on
// the channel.
func edsAddresses(ctx context.Context, t testing.TB, xdsAddr, cluster string) <-chan []string {
	t.Helper()
	meta := map[string]string{"NETWORK": "network1", "CLUSTER_ID": "cluster1"}
	return followADS(ctx, t, xdsAddr, resource.EndpointType, []string{cluster}, meta, func(resp *discoveryv3.DiscoveryResponse) ([]string, bool) {
		var addrs []string
		for _, a := range resp.GetResources() {
			cla := &endpointv3.ClusterLoadAssignment{}
			if a.UnmarshalTo(cla) != nil {
				continue
			}
			for _, l := range cla.GetEndpoints() {
				for _, e := range l.GetLbEndpoints() {
					sa := e.GetEndpoint().GetAddress().GetSocketAddress()
					addrs = append(addrs, fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
				}
			}
		}
		slices.Sort(addrs)
		return addrs, true
	})
}

// Two daemons, one per cluster and network, federate over encrypted gossip:
// cluster1's ingress gateway gets reviews v2 — which only runs in cluster2 —
// through cluster2's east-west gateway (split-horizon EDS), and the endpoint
// goes away when cluster2 stops running it.
func TestFederatedDaemonsSplitHorizon(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := federatedStarter(ctx, t, nil)
	b, bDir, _ := start("cluster2", "network2", nil)
	a, _, _ := start("cluster1", "network1", []string{b.GossipAddr()})

	updates := edsAddresses(ctx, t, a.XDSAddr(), "outbound|9080|v2|reviews.default.svc.cluster.local")
	waitFor := func(want []string) {
		t.Helper()
		for {
			select {
			case got, ok := <-updates:
				if !ok {
					t.Fatalf("ADS stream ended waiting for %v", want)
				}
				if slices.Equal(got, want) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("cluster1's gateway never got %v", want)
			}
		}
	}
	began := time.Now()
	waitFor([]string{"198.51.100.2:15443"})
	t.Logf("cluster2's reviews v2 reached cluster1's gateway through its east-west gateway in %v", time.Since(began))

	// cluster2 scales reviews v2 to zero: the gateway endpoint is withdrawn everywhere.
	if err := os.Remove(filepath.Join(bDir, "reviews.yaml")); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	waitFor(nil)
	t.Logf("withdrawal reached cluster1 in %v", time.Since(began))
}

// federatedStarter returns a function that starts a daemon of the
// deploy/examples/multicluster cluster (its files copied to a temporary
// directory, returned) in network, federated over gossip with one shared
// key and a fail-static window of 1 s, joining join; stop ends it (the
// test's cleanup does too).
func federatedStarter(ctx context.Context, t *testing.T, edit func(cluster string, cfg *Config)) func(cluster, network string, join []string) (d *Daemon, dir string, stop func()) {
	return federatedStarterFrom(ctx, t, filepath.Join("..", "..", "..", "deploy", "examples", "multicluster"), edit)
}

// federatedStarterFrom is federatedStarter with the clusters' files taken
// from example/<cluster>.
func federatedStarterFrom(ctx context.Context, t *testing.T, example string, edit func(cluster string, cfg *Config)) func(cluster, network string, join []string) (d *Daemon, dir string, stop func()) {
	key, err := federation.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(cluster, network string, join []string) (*Daemon, string, func()) {
		cfg := testConfig(t)
		cfg.ConfigDir = t.TempDir()
		copyDir(t, filepath.Join(example, cluster), cfg.ConfigDir)
		cfg.ClusterID, cfg.Network = cluster, network
		cfg.GossipConfig = GossipConfig{BindAddress: "127.0.0.1:0", Join: join, KeyringFile: keyFile, MeshID: "mesh1",
			FailStaticWindow: Duration(time.Second), AdmitClusters: others(cluster, "cluster1", "cluster2", "cluster3")}
		if edit != nil {
			edit(cluster, &cfg)
		}
		d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
		if err != nil {
			t.Fatal(err)
		}
		dctx, dcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(dctx) }()
		var once sync.Once
		stop := func() { once.Do(func() { dcancel(); <-done }) }
		t.Cleanup(stop)
		<-d.fedStarted
		return d, cfg.ConfigDir, stop
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// --trust-pin CLUSTER=PATH becomes an operator pin of federation, written to
// --trust-pins-file at start; an unreadable PEM file stops New naming the flag.
func TestTrustPinFlags(t *testing.T) {
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: spiffeid.RequireTrustDomainFromString("cluster.local")}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pem := identity.EncodeCertificatesPEM(ca.Roots())
	pemFile, pinsFile := filepath.Join(dir, "cluster2.pem"), filepath.Join(dir, "trust-pins.json")
	if err := os.WriteFile(pemFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.GossipConfig = GossipConfig{BindAddress: "127.0.0.1:0", Insecure: true, MeshID: "mesh1",
		TrustPins: []string{"cluster2=" + pemFile}, TrustPinsFile: pinsFile}
	d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.xdsLis.Close()
	d.monLis.Close()
	d.admin.lis.Close()
	var saved struct {
		Pins map[string]struct{ How, Bundle string }
	}
	raw, err := os.ReadFile(pinsFile)
	if err == nil {
		err = json.Unmarshal(raw, &saved)
	}
	if err != nil {
		t.Fatal(err)
	}
	if p := saved.Pins["cluster2"]; p.How != "operator" || p.Bundle != string(pem) {
		t.Fatalf("pins file: %s", raw)
	}

	cfg.TrustPins = []string{"cluster2=" + filepath.Join(dir, "missing.pem")}
	if _, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil); err == nil || !strings.Contains(err.Error(), "trust-pin cluster2=") {
		t.Fatalf("a missing trust-pin file: %v", err)
	}
}

// others is what a test daemon of cluster self admits (--admit-cluster):
// the other clusters of its mesh.
func others(self string, clusters ...string) []string {
	return slices.DeleteFunc(clusters, func(c string) bool { return c == self })
}
