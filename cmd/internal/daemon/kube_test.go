//go:build integration

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/test/kubeapply"
	"github.com/meshgate/meshgate/test/kubetest"
)

// meshgate run --kubeconfig: objects written to a real API server reach a
// real gRPC xDS client through the daemon, endpoint changes follow, and a
// remote cluster joined with a remote secret contributes its endpoints;
// /debug/clusters shows both clusters.
func TestKubeSourceEndToEnd(t *testing.T) {
	cs := kubetest.NewN(t, 2, kubetest.Options{Name: "daemon"})
	A, B := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The API server refuses loopback addresses in EndpointSlices: the
	// backends listen on an address of this host's own interfaces.
	ip := hostIP(t)
	a, b, c := startBackendOn(t, ip), startBackendOn(t, ip), startBackendOn(t, ip)
	slice := func(port uint32) string { return fmt.Sprintf(hostSliceYAML, ip, port) }
	applyA, applyB := mustApplier(t, A), mustApplier(t, B)
	if err := applyA.ApplyYAML(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n---\n"+echoYAML+"---\n"+slice(a))); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(t)
	cfg.ConfigDir, cfg.Kubeconfig, cfg.ClusterID = "", A.KubeconfigPath(), "cluster-a"
	logs := &logtest.Buffer{}
	d, err := New(cfg, NewLogger(cfg, logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	hc := grpcClient(t, d.XDSAddr())
	reaches(ctx, t, hc, a)
	if err := applyA.ApplyYAML(ctx, []byte(slice(b))); err != nil {
		t.Fatal(err)
	}
	reaches(ctx, t, hc, b)

	// cluster B joins: its echo endpoint (backend c) is served once A has none
	if err := applyB.ApplyYAML(ctx, []byte(echoYAML+"---\n"+slice(c))); err != nil {
		t.Fatal(err)
	}
	res, err := remote.CreateRemoteSecret(ctx, B.RESTConfig(), remote.CreateOptions{ClusterName: "cluster-b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Join(ctx, A.RESTConfig(), res.Secret, remote.JoinOptions{Verify: true}); err != nil {
		t.Fatal(err)
	}
	kcA, err := kubernetes.NewForConfig(A.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := kcA.DiscoveryV1().EndpointSlices("default").Delete(ctx, "echo-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	reaches(ctx, t, hc, c)

	poll(ctx, t, "/debug/clusters with both clusters synced", func() bool {
		code, body := httpGet(t, "http://"+d.AdminAddr()+"/debug/clusters")
		var dbg remote.Debug
		if code != 200 || json.Unmarshal([]byte(body), &dbg) != nil || dbg.Local == nil {
			return false
		}
		return dbg.Local.State == kube.StateSynced && len(dbg.Remote) == 1 && dbg.Remote[0].Cluster == "cluster-b" &&
			dbg.Remote[0].State == kube.StateSynced && !strings.Contains(body, res.Secret.StringData["cluster-b"][len(res.Secret.StringData["cluster-b"])-40:])
	})
	if code, body := httpGet(t, "http://"+d.MonitoringAddr()+"/metrics"); code != 200 || !strings.Contains(body, `meshgate_discovery_cluster_state{cluster="cluster-b",state="synced"} 1`) {
		t.Errorf("metrics lack the remote cluster's state (%d)", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

const hostSliceYAML = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo-1, namespace: default, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
endpoints:
- addresses: [%s]
  conditions: {ready: true}
ports: [{name: grpc, port: %d, protocol: TCP}]
`

// hostIP is a non-loopback IPv4 address of this host's interfaces.
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Fatal("this test needs a non-loopback IPv4 address on an interface (the API server refuses loopback endpoints)")
	return ""
}

// startBackendOn is startBackend on ip.
func startBackendOn(t *testing.T, ip string) uint32 {
	t.Helper()
	lis, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return uint32(lis.Addr().(*net.TCPAddr).Port)
}

func mustApplier(t testing.TB, c *kubetest.Cluster) *kubeapply.Applier {
	t.Helper()
	a, err := kubeapply.New(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sdsCertificates follows one SDS secret over a real ADS stream as the
// ingress gateway (istio-system, istio=ingressgateway) and returns each
// certificate chain it receives.
func sdsCertificates(ctx context.Context, t testing.TB, xdsAddr, name string) <-chan string {
	t.Helper()
	return followADS(ctx, t, xdsAddr, resource.SecretType, []string{name}, nil, func(resp *discoveryv3.DiscoveryResponse) (string, bool) {
		for _, a := range resp.GetResources() {
			s := &tlsv3.Secret{}
			if a.UnmarshalTo(s) == nil && s.GetName() == name {
				return string(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes()), true
			}
		}
		return "", false
	})
}

// A Gateway's credentialName Secret, read from the API server, is served
// to the gateway over SDS; rotating the certificate (a Secret update)
// reaches the gateway without anything else changing.
func TestKubeCredentialOverSDS(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "sds"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := mustApplier(t, c)
	secret := func(crt string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: gw-cert, namespace: istio-system}\ntype: kubernetes.io/tls\nstringData: {tls.crt: " + crt + ", tls.key: key-" + crt + "}\n"
	}
	if err := a.ApplyYAML(ctx, []byte(httpsGatewayYAML+"---\n"+secret("crt-v1"))); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.ConfigDir, cfg.Kubeconfig = "", c.KubeconfigPath()
	d, err := New(cfg, NewLogger(cfg, &logtest.Buffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	certs := sdsCertificates(ctx, t, d.XDSAddr(), "kubernetes://gw-cert")
	waitCert := func(want string) {
		t.Helper()
		for {
			select {
			case got, ok := <-certs:
				if !ok {
					t.Fatalf("SDS stream ended waiting for %s", want)
				}
				if got == want {
					return
				}
			case <-ctx.Done():
				t.Fatalf("the gateway never got certificate %s", want)
			}
		}
	}
	waitCert("crt-v1")
	if err := a.ApplyYAML(ctx, []byte(secret("crt-v2"))); err != nil {
		t.Fatal(err)
	}
	waitCert("crt-v2")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

const httpsGatewayYAML = `apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: https, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: gw-cert}
`
