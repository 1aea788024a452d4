package server

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/translate"
)

// config_dump answers for a node that has not connected: what it would
// receive, translated on demand; once it connects, it gets exactly that.
func TestConfigDumpPreview(t *testing.T) {
	h := newHarness(t, Options{Envoy: fakeTranslate})
	admin := httptest.NewServer(h.srv.AdminMux())
	t.Cleanup(admin.Close)
	dump := func(query string) (int, ConfigDump, string) {
		t.Helper()
		code, body := get(t, admin.URL, "/debug/config_dump?"+query)
		var d ConfigDump
		if code == 200 {
			if err := json.Unmarshal([]byte(body), &d); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
		}
		return code, d, body
	}
	id := "proxy=" + url.QueryEscape(gwID)

	if code, _, body := dump(id); code != 503 || !strings.Contains(body, "no configuration loaded yet") {
		t.Errorf("before the first load: %d %q, want 503", code, body)
	}

	// The gateway's own pod (10.1.0.7, the node id's IP) carries its labels.
	cs := baseCluster()
	pod := service("istio-ingressgateway", "istio-system", 80, "10.1.0.7:8080")
	pod.Endpoints[0].Labels = ingressLabels
	cs.Services = append(cs.Services, pod)
	h.srv.Update(mesh(cs))

	code, pre, body := dump(id)
	if code != 200 || !pre.Preview {
		t.Fatalf("preview: %d %s", code, body)
	}
	if pre.Proxy.ID != gwID || pre.Proxy.Labels["istio"] != "ingressgateway" || pre.Proxy.ClusterID != "Kubernetes" || !pre.Proxy.ConnectedAt.IsZero() {
		t.Errorf("preview's proxy: %+v (labels from the pod at the id's IP)", pre.Proxy)
	}
	res, _ := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	if len(pre.Listeners) != len(res.Listeners) || len(pre.Listeners) != 2 || len(pre.Clusters) != len(res.Clusters) || len(pre.Endpoints) != len(res.Endpoints) || len(pre.Secrets) != 1 {
		t.Errorf("preview: %d listeners, %d clusters, %d endpoints, %d secrets; translator: %d, %d, %d, %d",
			len(pre.Listeners), len(pre.Clusters), len(pre.Endpoints), len(pre.Secrets), len(res.Listeners), len(res.Clusters), len(res.Endpoints), len(res.Secrets))
	}
	if strings.Contains(body, "SECRETKEYBYTES") {
		t.Error("the preview shows private key material")
	}
	if len(h.srv.Proxies()) != 0 {
		t.Error("a preview made a proxy")
	}

	// The node connects: it is sent what the preview showed.
	c := h.dial(gatewayNode("gw-1"), false)
	final := h.waitConfig(c, expected(res))
	code, got, body := dump(id)
	if code != 200 || got.Preview {
		t.Fatalf("connected: %d %s", code, body)
	}
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.SecretType} {
		if v := pre.Versions[shortType(typ)]; v == "" || v != final.Versions[typ] || v != got.Versions[shortType(typ)] {
			t.Errorf("%s: preview version %q, sent %q", shortType(typ), v, final.Versions[typ])
		}
	}
	if !slices.EqualFunc(pre.Listeners, got.Listeners, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
		t.Error("the preview's listeners differ from the connected node's")
	}

	// Metadata in the query, named like meshgate bootstrap's flags.
	egress := "proxy=" + url.QueryEscape("router~10.1.0.9~eg-0.istio-system~istio-system.svc.cluster.local")
	if code, d, body := dump(egress + "&label=istio=egressgateway&network=n1&cluster-id=Kubernetes"); code != 200 || len(d.Listeners) != 1 ||
		d.Proxy.Network != "n1" || d.Proxy.Labels["istio"] != "egressgateway" {
		t.Errorf("egress preview: %d %s", code, body)
	}
	// No pod at the IP and no label: no Gateway selects it.
	if code, d, body := dump(egress); code != 200 || len(d.Listeners) != 0 || len(d.Proxy.Labels) != 0 {
		t.Errorf("unlabelled preview: %d %s", code, body)
	}
	for query, want := range map[string]string{
		"proxy=nobody":                  `invalid node id "nobody"`,
		egress + "&label=novalue":       `label "novalue": want key=value`,
		egress + "&flavor=nginx":        `flavor "nginx": want istio or envoy`,
		egress + "&generator=something": "unsupported generator",
	} {
		if code, _, body := dump(query); code != 400 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q, want 400 with %q", query, code, body, want)
		}
	}
}

// An object the translator rejects is reported with the file it came from
// (its Meta.Source), in a preview as for a connected proxy.
func TestObjectErrorsNameTheFile(t *testing.T) {
	h := newHarness(t, Options{Envoy: translate.Translate})
	cs := baseCluster()
	cs.VirtualServices = append(cs.VirtualServices, model.VirtualService{
		Meta:     model.Meta{Name: "nogw", Namespace: "istio-system", Source: "routes.yaml"},
		Hosts:    []string{"y.example.com"},
		Gateways: []string{"missing-gateway"},
	})
	h.srv.Update(mesh(cs))
	d, err := h.srv.PreviewConfigDump(PreviewQuery{ID: gwID, Labels: ingressLabels})
	if err != nil {
		t.Fatal(err)
	}
	want := `routes.yaml: VirtualService istio-system/nogw: spec.gateways[0]: gateway "istio-system/missing-gateway" not found`
	if !slices.Contains(d.ObjectErrors, want) {
		t.Errorf("object errors %q, want %q", d.ObjectErrors, want)
	}
}

// /debug/explain answers for a connected node with the metadata it
// connected with (not a preview's): its labels select the gateway even when
// the query names others.
func TestExplainConnectedNode(t *testing.T) {
	h := newHarness(t, Options{Envoy: translate.Translate})
	cs := baseCluster()
	cs.Gateways = append(cs.Gateways, gateway("gw", ingressLabels, 80))
	h.srv.Update(mesh(cs))
	admin := httptest.NewServer(h.srv.AdminMux())
	t.Cleanup(admin.Close)
	q := "/debug/explain?proxy=" + url.QueryEscape(gwID) + "&label=app=nothing&host=anything.example.com"
	code, body := get(t, admin.URL, q)
	if code != 200 || !strings.Contains(body, "no Gateway selects the proxy (labels app=nothing)") {
		t.Fatalf("preview: %d %s", code, body)
	}
	h.dial(gatewayNode("gw-1"), false)
	h.waitUntil("connected", func() bool { _, ok := h.srv.Proxy(gwID); return ok })
	code, body = get(t, admin.URL, q)
	var x translate.Explanation
	if code != 200 || json.Unmarshal([]byte(body), &x) != nil || slices.ContainsFunc(x.Missing, func(m string) bool { return strings.Contains(m, "no Gateway selects") }) ||
		!slices.ContainsFunc(x.Because, func(o translate.Origin) bool { return o.Kind == "Gateway" && o.Object == "istio-system/gw" }) {
		t.Errorf("connected: %d %s", code, body)
	}
	if code, body := get(t, admin.URL, "/debug/explain?proxy="+url.QueryEscape(gwID)); code != 400 || !strings.Contains(body, "exactly one") {
		t.Errorf("no question: %d %s", code, body)
	}
}
