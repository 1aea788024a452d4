//go:build integration

package istiocompat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshgate/meshgate/discovery/kube"
	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/kubetest"
)

// echoCluster is the cluster an ingress gateway routing to echo.app uses.
const echoCluster = "outbound|80||echo.app.svc.cluster.local"

// Istio → meshgate: a real istioctl create-remote-secret against cluster B
// (its istio-reader-service-account and ClusterRole, and a token Secret
// filled as B's token controller would), then meshgate join of its output
// into cluster A: meshgate's daemon for A watches B with that secret and
// serves B's endpoint of echo.app to an ingress gateway (a real ADS client).
func TestMeshgateJoinsIstioctlSecret(t *testing.T) {
	istioctlBin, meshgateBin := istioctl(t), meshgate(t)
	cs := kubetest.NewN(t, 2, kubetest.Options{Name: "istioctl"})
	A, B := cs[0], cs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	apply(t, ctx, B, echoWorld+"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n")
	apply(t, ctx, A, ingressWorld)
	fillTokens(ctx, t, B, "istio-system")

	secret := run(t, ctx, istioctlBin, "create-remote-secret", "--kubeconfig", B.KubeconfigPath(), "--name", "cluster-b", "--server", B.URL())
	file := filepath.Join(t.TempDir(), "istioctl-remote-secret.yaml")
	if err := os.WriteFile(file, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, meshgateBin, "join", "--kubeconfig", A.KubeconfigPath(), "--remote-secret", file)

	d := startDaemon(t, ctx, meshgateBin, A)
	poll(ctx, t, "the daemon watching cluster-b", func() string {
		var dbg remote.Debug
		if err := getJSON(ctx, "http://"+d.admin+"/debug/clusters", &dbg); err != nil {
			return err.Error()
		}
		if len(dbg.SecretErrors) > 0 {
			return fmt.Sprintf("secret errors %+v", dbg.SecretErrors)
		}
		if len(dbg.Remote) != 1 || dbg.Remote[0].Cluster != "cluster-b" || dbg.Remote[0].State != kube.StateSynced {
			return fmt.Sprintf("remote clusters %+v", dbg.Remote)
		}
		return ""
	})

	cc, err := grpc.NewClient(d.xds, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ads, err := adstest.Dial(ctx, cc, ingressNode(t), false)
	if err != nil {
		t.Fatal(err)
	}
	defer ads.Close()
	if _, err := ads.WaitFor(ctx, func(st adstest.State) bool {
		cla, _ := st.Resources[resource.EndpointType][echoCluster].(*endpointv3.ClusterLoadAssignment)
		return hasEndpoint(cla, "10.2.0.7", 8080)
	}); err != nil {
		t.Fatalf("the gateway never got cluster-b's endpoint 10.2.0.7:8080 of %s: %v", echoCluster, err)
	}
}

type daemon struct{ xds, admin string }

// startDaemon runs meshgate run against cluster c (id cluster-a) and waits
// until it is ready; the test's end stops it.
func startDaemon(t *testing.T, ctx context.Context, bin string, c *kubetest.Cluster) daemon {
	t.Helper()
	d := daemon{xds: freeAddr(t), admin: freeAddr(t)}
	monitoring := freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "meshgate.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--kubeconfig", c.KubeconfigPath(), "--cluster-id", "cluster-a",
		"--xds-address", d.xds, "--admin-address", d.admin, "--monitoring-address", monitoring,
		"--identity-ca-dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-exited
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("meshgate run's log:\n%s", out)
		}
	})
	poll(ctx, t, "meshgate run's /readyz", func() string {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Sprintf("meshgate run exited: %v", err)
		default:
		}
		if err := getJSON(ctx, "http://"+monitoring+"/readyz", nil); err != nil {
			return err.Error()
		}
		return ""
	})
	return d
}

// getJSON GETs url and, when v is not nil, decodes its JSON body into v.
func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// ingressNode is the ingress gateway of istio-system as Envoy presents it.
func ingressNode(t *testing.T) *corev3.Node {
	t.Helper()
	meta, err := structpb.NewStruct(map[string]any{
		"LABELS":    map[string]any{"istio": "ingressgateway"},
		"NAMESPACE": "istio-system",
	})
	if err != nil {
		t.Fatal(err)
	}
	return &corev3.Node{Id: "router~10.1.0.99~ingress-0.istio-system~istio-system.svc.cluster.local", Metadata: meta}
}

func hasEndpoint(cla *endpointv3.ClusterLoadAssignment, ip string, port uint32) bool {
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			if sa.GetAddress() == ip && sa.GetPortValue() == port {
				return true
			}
		}
	}
	return false
}

// ingressWorld is cluster A: an ingress Gateway in istio-system whose
// VirtualService routes to echo.app, a Service with no endpoints here.
const ingressWorld = `
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: app}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [ingress]
  http:
  - route:
    - destination: {host: echo.app.svc.cluster.local, port: {number: 80}}
`
