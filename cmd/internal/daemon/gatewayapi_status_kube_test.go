//go:build integration

package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/meshgate/meshgate/test/kubetest"
	"github.com/meshgate/meshgate/test/logtest"
)

// meshgate run --kubeconfig writes the Gateway API status: `kubectl get
// gateway` shows PROGRAMMED True for a Gateway whose Service has endpoints,
// and `kubectl get gatewayclass` ACCEPTED True. kubectl's columns are the
// API server's Table rendering (the CRDs' printer columns), asked for here
// as kubectl asks, so the test needs no kubectl binary.
func TestKubeGatewayAPIStatus(t *testing.T) {
	c := kubetest.New(t, kubetest.Options{Name: "gwstatus-daemon"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := kubetest.InstallGatewayAPICRDs(ctx, c.RESTConfig(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := mustApplier(t, c).ApplyYAML(ctx, []byte(gatewayAPIStatusYAML)); err != nil {
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

	hc, err := rest.HTTPClientFor(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	// table returns the column named col of the object's row, as kubectl
	// get prints it.
	table := func(path, col string) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tb metav1.Table
		if err := json.NewDecoder(resp.Body).Decode(&tb); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s as a table: HTTP %d, %v", path, resp.StatusCode, err)
		}
		for i, cd := range tb.ColumnDefinitions {
			if strings.EqualFold(cd.Name, col) && len(tb.Rows) == 1 && i < len(tb.Rows[0].Cells) {
				return fmt.Sprint(tb.Rows[0].Cells[i])
			}
		}
		t.Fatalf("GET %s as a table: no column %s in %+v", path, col, tb.ColumnDefinitions)
		return ""
	}
	const gwPath = "/apis/gateway.networking.k8s.io/v1/namespaces/istio-system/gateways/web"
	// The status comes from the daemon's writer, which has no event the
	// test could wait on: ask again at a short interval, bounded by ctx.
	for table(gwPath, "Programmed") != "True" {
		select {
		case <-ctx.Done():
			t.Fatalf("the Gateway never showed PROGRAMMED True")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if got := table(gwPath, "Class"); got != "istio" {
		t.Errorf("kubectl get gateway: CLASS %q, want istio", got)
	}
	if got := table("/apis/gateway.networking.k8s.io/v1/gatewayclasses/istio", "Accepted"); got != "True" {
		t.Errorf("kubectl get gatewayclass: ACCEPTED %q, want True", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

const gatewayAPIStatusYAML = `apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Service
metadata: {name: gw-svc, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: gw-svc-1, namespace: istio-system, labels: {kubernetes.io/service-name: gw-svc}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: [10.0.0.5], conditions: {ready: true}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: istio}
spec: {controllerName: istio.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: istio-system}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: gw-svc}]
  listeners: [{name: http, port: 80, protocol: HTTP}]
`
