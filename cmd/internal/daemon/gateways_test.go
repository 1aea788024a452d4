package daemon

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/gwhealth"
	"github.com/meshgate/meshgate/identity"
)

// eastWest is a real listener standing in for an east-west gateway: it
// reads what a client sends and closes, as an AUTO_PASSTHROUGH listener
// does with an SNI it does not route.
func eastWest(t *testing.T, addr string) net.Listener {
	t.Helper()
	var lis net.Listener
	var err error
	// Re-binding the port just closed can fail for a moment; there is no
	// event to wait for, so retry a few times.
	for range 50 {
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				_, _ = c.Read(make([]byte, 4096))
			}()
		}
	}()
	t.Cleanup(func() { lis.Close() })
	return lis
}

// Two federated daemons (network1, network2); cluster2's east-west gateway
// is a real listener on loopback. When it stops answering, cluster1's
// gateways lose it from reviews v1 (cluster1 runs v1 too) within
// seconds but keep it for reviews v2, which only cluster2 runs
// (fail-static); /debug/gateways says so, and cluster1's verdict, gossiped
// in its record, shows in cluster2's /debug/gateways. When it answers again
// it is back, and the report is withdrawn.
func TestGatewayProbesPruneAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	gw := eastWest(t, "127.0.0.1:0")
	gwAddr := gw.Addr().String()
	_, port, _ := net.SplitHostPort(gwAddr)
	start := federatedStarter(ctx, t, func(cluster string, cfg *Config) {
		cfg.GatewayProbeInterval = Duration(100 * time.Millisecond)
		cfg.GossipConfig.FailStaticWindow = Duration(time.Minute)
		if cluster != "cluster2" {
			return
		}
		// cluster2's east-west gateway is the loopback listener
		p := filepath.Join(cfg.ConfigDir, "eastwest.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), "ip: 198.51.100.2", "ip: 127.0.0.1", 1)
		s = strings.Replace(s, "topology.istio.io/network: network2}", `topology.istio.io/network: network2, networking.istio.io/gatewayPort: "`+port+`"}`, 1)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		// and it runs reviews v1 too (v2 only runs there)
		if err := os.WriteFile(filepath.Join(cfg.ConfigDir, "reviews-v1.yaml"), []byte(reviewsV1InCluster2), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	b, _, _ := start("cluster2", "network2", nil)
	a, _, _ := start("cluster1", "network1", []string{b.GossipAddr()})

	all := edsAddresses(ctx, t, a.XDSAddr(), "outbound|9080|v1|reviews.default.svc.cluster.local")
	v2 := edsAddresses(ctx, t, a.XDSAddr(), "outbound|9080|v2|reviews.default.svc.cluster.local")
	var lastAll, lastV2 []string
	waitFor := func(what string, wantAll, wantV2 []string) time.Duration {
		t.Helper()
		began := time.Now()
		for !slices.Equal(lastAll, wantAll) || !slices.Equal(lastV2, wantV2) {
			select {
			case lastAll = <-all:
			case lastV2 = <-v2:
			case <-ctx.Done():
				t.Fatalf("%s: reviews %v (want %v), v2 %v (want %v)", what, lastAll, wantAll, lastV2, wantV2)
			}
		}
		return time.Since(began)
	}
	local := "10.1.0.11:9080"
	waitFor("cluster2's gateway in cluster1's EDS", []string{local, gwAddr}, []string{gwAddr})
	// It has answered (not only unknown, which serves it too): what follows
	// is timed from its last answer.
	poll(ctx, t, "cluster1's probes find cluster2's gateway up", func() bool {
		return slices.ContainsFunc(a.gw.probe.Statuses(), func(s gwhealth.Status) bool { return s.State == gwhealth.Up })
	})

	gw.Close()
	took := waitFor("cluster2's unreachable gateway withdrawn where cluster1 serves", []string{local}, []string{gwAddr})
	t.Logf("withdrawn %v after the gateway stopped answering", took)
	if took > 5*time.Second {
		t.Errorf("withdrawn %v after the gateway stopped, want < 5s", took)
	}
	type debugGateways struct {
		Gateways       []gwhealth.Status
		Unreachable    []model.NetworkGateway
		ReportedDownBy map[string][]string
	}
	var dbg debugGateways
	getJSON(t, "http://"+a.AdminAddr()+"/debug/gateways", &dbg)
	if len(dbg.Gateways) != 1 || dbg.Gateways[0].Gateway != gwAddr || dbg.Gateways[0].State != gwhealth.Down ||
		len(dbg.Unreachable) != 1 || dbg.Unreachable[0].Cluster != "cluster2" {
		t.Errorf("/debug/gateways: %+v", dbg)
	}
	// cluster1's verdict travels in its record: cluster2's daemon shows it
	// (and nothing else follows from it there).
	reportedBy := func(d *Daemon, want []string) func() bool {
		return func() bool {
			var dbg debugGateways
			getJSON(t, "http://"+d.AdminAddr()+"/debug/gateways", &dbg)
			return slices.Equal(dbg.ReportedDownBy[gwAddr], want)
		}
	}
	poll(ctx, t, "cluster2's /debug/gateways shows cluster1 reporting its gateway down", reportedBy(b, []string{"cluster1"}))

	eastWest(t, gwAddr)
	took = waitFor("cluster2's gateway restored", []string{local, gwAddr}, []string{gwAddr})
	t.Logf("restored %v after the gateway answered again", took)
	if took > 5*time.Second {
		t.Errorf("restored %v after the gateway came back, want < 5s", took)
	}
	poll(ctx, t, "cluster1's report withdrawn from cluster2's /debug/gateways", reportedBy(b, nil))
	// cluster1 timed the withdrawal (from the last answer) and the
	// restoration (from the first answer back) once each.
	_, metrics := httpGet(t, "http://"+a.MonitoringAddr()+"/metrics")
	for _, m := range []string{"meshgate_gateway_withdrawal_seconds_count", "meshgate_gateway_restore_seconds_count"} {
		if want := m + `{gateway="` + gwAddr + `"} 1`; !strings.Contains(metrics, want) {
			t.Errorf("cluster1's metrics lack %s", want)
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

const reviewsV1InCluster2 = `apiVersion: v1
kind: Pod
metadata:
  name: reviews-v1
  namespace: default
  labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}
spec: {serviceAccountName: bookinfo-reviews, containers: [{name: reviews, image: reviews}]}
status: {phase: Running, podIP: 10.2.0.21}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-2, namespace: default, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
endpoints:
- {addresses: [10.2.0.21], conditions: {ready: true}, targetRef: {kind: Pod, name: reviews-v1, namespace: default}}
ports: [{name: http, port: 9080, protocol: TCP}]
`

// The probes' client certificate is the daemon's mesh identity under its
// CA, issued once and reused until half its life.
func TestProbeCertificateIsTheDaemonsIdentity(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("cluster.local")
	ca, err := identity.NewSelfSignedCA(identity.CAConfig{TrustDomain: td}, identity.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pc := &probeCert{ca: ca, id: spiffeid.RequireFromPath(td, "/ns/istio-system/sa/meshgate")}
	c1, err := pc.get(nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := pc.get(nil)
	if c1 != c2 {
		t.Error("a second probe got a new certificate before half its life")
	}
	svid, err := x509svid.ParseRaw(c1.Certificate[0], mustMarshalKey(t, c1.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := x509svid.Verify(append([]*x509.Certificate{c1.Leaf}, svid.Certificates[1:]...), ca.Bundle()); err != nil {
		t.Fatalf("the probe certificate does not verify under the mesh CA: %v", err)
	}
	if svid.ID != pc.id {
		t.Errorf("probe identity %s, want %s", svid.ID, pc.id)
	}
}

func mustMarshalKey(t *testing.T, k any) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
