package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshgate/meshgate/xds/translate"
)

func get(t *testing.T, base, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminEndpoints(t *testing.T) {
	h := newHarness(t, Options{Envoy: fakeTranslate})
	web := httptest.NewServer(h.srv.MonitoringMux(h.reg))
	t.Cleanup(web.Close)
	admin := httptest.NewServer(h.srv.AdminMux())
	t.Cleanup(admin.Close)
	// Two surfaces: the monitoring port shows no debug route, the admin no metrics.
	if code, _ := get(t, web.URL, "/debug/proxies"); code != 404 {
		t.Errorf("monitoring /debug/proxies = %d, want 404", code)
	}
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _ := get(t, admin.URL, p); code != 404 {
			t.Errorf("admin %s = %d, want 404", p, code)
		}
	}

	if code, _ := get(t, web.URL, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get(t, web.URL, "/readyz"); code != 503 || !strings.Contains(body, "not ready") {
		t.Errorf("/readyz before the first load = %d %q, want 503", code, body)
	}

	cs := baseCluster()
	h.srv.Update(mesh(cs))
	c := h.dial(gatewayNode("gw-1"), false)
	res, _ := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	h.waitConfig(c, expected(res))
	if code, _ := get(t, web.URL, "/readyz"); code != 200 {
		t.Errorf("/readyz after the first load = %d, want 200", code)
	}

	// A change while connected feeds the change-to-ACK histogram.
	gw(&cs, "gw").Servers[0].Port.Number = 8081
	h.srv.Update(mesh(cs))
	res, _ = fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	final := h.waitConfig(c, expected(res))
	h.waitUntil("listener ACK recorded", func() bool {
		p, _ := h.srv.Proxy(gwID)
		return p.Types["listener"] != nil && p.Types["listener"].Acked == final.Versions[resource.ListenerType]
	})

	_, metrics := get(t, web.URL, "/metrics")
	for _, want := range []string{
		"meshgate_xds_connected_proxies 1",
		`meshgate_xds_pushes_total{type="listener"}`,
		`meshgate_xds_config_ack_latency_seconds_count{type="listener"} 1`,
		`meshgate_xds_rebuild_duration_seconds_count{kind="full"}`,
		"meshgate_xds_object_errors 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	_, body := get(t, admin.URL, "/debug/proxies")
	var proxies []ProxyStatus
	if err := json.Unmarshal([]byte(body), &proxies); err != nil {
		t.Fatalf("/debug/proxies: %v\n%s", err, body)
	}
	if len(proxies) != 1 || proxies[0].ID != gwID || proxies[0].Types["listener"].Acked != final.Versions[resource.ListenerType] {
		t.Errorf("/debug/proxies = %s", body)
	}

	code, dump := get(t, admin.URL, "/debug/config_dump?proxy="+url.QueryEscape(gwID))
	if code != 200 {
		t.Fatalf("/debug/config_dump = %d %s", code, dump)
	}
	if strings.Contains(dump, "SECRETKEYBYTES") || strings.Contains(dump, "PRIVATE KEY") {
		t.Error("config dump shows private key material")
	}
	var d ConfigDump
	if err := json.Unmarshal([]byte(dump), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Listeners) != 2 || len(d.Secrets) != 1 || len(d.Endpoints) != 2 || d.Versions["listener"] != final.Versions[resource.ListenerType] {
		t.Errorf("config dump: %d listeners, %d secrets, %d endpoints, versions %v", len(d.Listeners), len(d.Secrets), len(d.Endpoints), d.Versions)
	}
	var sec tlsv3.Secret
	if err := protojson.Unmarshal(d.Secrets[0], &sec); err != nil {
		t.Fatal(err)
	}
	if got := sec.GetTlsCertificate().GetPrivateKey().GetInlineString(); got != Redacted {
		t.Errorf("secret private key in dump = %q, want %q", got, Redacted)
	}
	if got := string(sec.GetTlsCertificate().GetCertificateChain().GetInlineBytes()); got != "CERT" {
		t.Errorf("certificate chain in dump = %q, want it shown", got)
	}

	if code, _ := get(t, admin.URL, "/debug/config_dump"); code != 400 {
		t.Errorf("config dump without proxy = %d, want 400", code)
	}
	if code, body := get(t, admin.URL, "/debug/config_dump?proxy=nobody"); code != 400 || !strings.Contains(body, "is not connected") {
		t.Errorf("config dump of an unknown, malformed node id = %d %q, want 400 (see TestConfigDumpPreview)", code, body)
	}
}

// Redact reaches private keys inside Any-packed transport sockets and keeps
// file references.
func TestRedact(t *testing.T) {
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{TlsCertificates: []*tlsv3.TlsCertificate{
		{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "CHAIN"}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte("KEY")}},
			Password:         &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "PASS"}},
		},
		{PrivateKey: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/certs/key.pem"}}},
	}}}
	a, _ := anypb.New(ctx)
	lis := &listenerv3.Listener{Name: "l", FilterChains: []*listenerv3.FilterChain{{TransportSocket: &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}}}}
	orig := proto.Clone(lis)

	red := Redact(lis).(*listenerv3.Listener)
	if !proto.Equal(lis, orig) {
		t.Fatal("Redact modified its input")
	}
	var got tlsv3.DownstreamTlsContext
	if err := red.FilterChains[0].TransportSocket.GetTypedConfig().UnmarshalTo(&got); err != nil {
		t.Fatal(err)
	}
	certs := got.CommonTlsContext.TlsCertificates
	if certs[0].PrivateKey.GetInlineString() != Redacted || certs[0].Password.GetInlineString() != Redacted {
		t.Errorf("inline key/password not redacted: %v", certs[0])
	}
	if certs[0].CertificateChain.GetInlineString() != "CHAIN" {
		t.Errorf("certificate chain changed: %v", certs[0].CertificateChain)
	}
	if certs[1].PrivateKey.GetFilename() != "/etc/certs/key.pem" {
		t.Errorf("file reference changed: %v", certs[1].PrivateKey)
	}
}
