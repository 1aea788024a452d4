package server

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshgate/meshgate/discovery/file"
	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

var protocols = []struct {
	name  string
	delta bool
}{{"sotw", false}, {"delta", true}}

const gwID = "router~10.1.0.7~gw-1.istio-system~istio-system.svc.cluster.local"

func baseCluster() model.ClusterState {
	return model.ClusterState{
		Services: []model.Service{
			service("echo", "default", 8080, "10.0.0.1:8080", "10.0.0.2:8080"),
			service("web", "default", 80, "10.0.1.1:9090"),
		},
		Gateways: []model.Gateway{
			withTLS(gateway("gw", ingressLabels, 80, 443), 1, "web-cert"),
			gateway("egress", map[string]string{"istio": "egressgateway"}, 9000),
		},
		Secrets: []model.Secret{{
			Meta: model.Meta{Name: "web-cert", Namespace: "istio-system"},
			Data: map[string][]byte{"tls.crt": []byte("CERT"), "tls.key": []byte("-----BEGIN PRIVATE KEY-----SECRETKEYBYTES")},
		}},
	}
}

func withTLS(g model.Gateway, server int, cred string) model.Gateway {
	g.Servers[server].Port.Protocol = model.ProtocolHTTPS
	g.Servers[server].TLS = &model.ServerTLS{Mode: model.TLSSimple, CredentialName: cred}
	return g
}

// A gateway node receives exactly what the translator gives for its labels,
// over state of the world and delta.
func TestGatewayReceivesTranslation(t *testing.T) {
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) {
			h := newHarness(t, Options{Envoy: fakeTranslate})
			m := mesh(baseCluster())
			h.srv.Update(m)
			c := h.dial(gatewayNode("gw-1"), pr.delta)
			res, err := fakeTranslate(m, gatewayProxy(), translate.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			want := expected(res)
			st := h.waitConfig(c, want)
			for typ, n := range map[string]int{resource.ListenerType: 2, resource.RouteType: 2, resource.ClusterType: 2, resource.EndpointType: 2, resource.SecretType: 1} {
				if got := len(st.Resources[typ]); got != n {
					t.Errorf("%s: holds %d resources, want %d", shortType(typ), got, n)
				}
			}
		})
	}
}

// The same check against the real translator. Until the gateway translator
// lands, translate.Translate returns empty results, so this compares empty
// sets: the client must still get (empty) listener and cluster answers.
func TestGatewayReceivesRealTranslate(t *testing.T) {
	// Golden cases of the translator (inputs checked against istiod), loaded
	// with the file source: the ADS client must get exactly Translate's output.
	cases := []struct {
		dir, ns, network string
		labels           map[string]string
	}{
		{"002-oracle-ingress-https", "istio-system", "", map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}},
		{"003-oracle-eastwest", "istio-system", "network1", map[string]string{"istio": "eastwestgateway", "app": "istio-eastwestgateway", "topology.istio.io/network": "network1"}},
		{"029-s001-6.2-egress-http", "istio-system", "", map[string]string{"istio": "egressgateway", "app": "istio-egressgateway"}},
		{"066-s003-5-8-mongo", "istio-system", "", map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}},
		{"074-s003-5-14-passthrough-tls-route", "istio-system", "", map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}},
	}
	for _, tc := range cases {
		dir := filepath.Join("..", "translate", "testdata", "cases", tc.dir)
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		var inputs []string
		for _, f := range files {
			if filepath.Base(f) != "proxies.yaml" {
				inputs = append(inputs, f)
			}
		}
		m, objErrs, err := file.LoadMesh(file.Config{Paths: inputs})
		if err != nil || len(objErrs) > 0 {
			t.Fatalf("%s: load: %v %v", tc.dir, err, objErrs)
		}
		proxy := translate.Proxy{Type: "router", Namespace: tc.ns, Labels: tc.labels, ClusterID: m.LocalCluster,
			Network: tc.network, RouterMode: node.RouterModeStandard, Flavor: translate.FlavorEnvoy} // the node has no ISTIO_VERSION
		res, err := translate.Translate(m, proxy, translate.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Listeners) == 0 || len(res.Clusters) == 0 {
			t.Fatalf("%s: the case should give listeners and clusters", tc.dir)
		}
		for _, pr := range protocols {
			t.Run(tc.dir+"/"+pr.name, func(t *testing.T) {
				h := newHarness(t, Options{})
				h.srv.Update(m)
				en := envoyNode(node.Node{
					ID:       node.ID{Type: node.TypeRouter, IP: "10.9.9.9", Pod: "gw-0", Namespace: tc.ns, DomainSuffix: "cluster.local"},
					Metadata: node.Metadata{Labels: tc.labels, Namespace: tc.ns, ClusterID: m.LocalCluster, Network: tc.network},
				})
				c := h.dial(en, pr.delta)
				h.waitConfig(c, expected(res))
			})
		}
	}
}

// Gateways with the same metadata share one translation per rebuild.
func TestGroupsShareTranslation(t *testing.T) {
	var calls atomic.Int32
	counting := func(m *model.MeshState, p translate.Proxy, o translate.Options) (*translate.Result, error) {
		calls.Add(1)
		if p.ID != "" || p.IP != "" {
			t.Errorf("translated for a node id/ip (%q, %q); groups translate a template", p.ID, p.IP)
		}
		return fakeTranslate(m, p, o)
	}
	h := newHarness(t, Options{Envoy: counting})
	m := mesh(baseCluster())
	h.srv.Update(m)
	a := h.dial(gatewayNode("gw-1"), false)
	b := h.dial(gatewayNode("gw-2"), true)
	res, _ := fakeTranslate(m, gatewayProxy(), translate.DefaultOptions())
	h.waitConfig(a, expected(res))
	h.waitConfig(b, expected(res))
	if n := calls.Load(); n != 1 {
		t.Errorf("translator called %d times for two identical gateways, want 1", n)
	}
}

// Unknown or malformed nodes are refused with InvalidArgument, logged and
// counted, never left waiting.
func TestMalformedNodesRefused(t *testing.T) {
	wrongLabels := gatewayNode("gw-1")
	wrongLabels.Metadata.Fields[node.MetaLabels] = structpb.NewStringValue("istio=ingressgateway")
	badGenerator := gatewayNode("gw-1")
	badGenerator.Metadata.Fields[node.MetaGenerator] = structpb.NewStringValue("bogus")
	cases := []struct {
		name   string
		node   *corev3.Node
		reason string
	}{
		{"garbage id", &corev3.Node{Id: "not-an-istio-node"}, "malformed_node_id"},
		{"unknown type", &corev3.Node{Id: "waypoint~10.0.0.1~p.ns~ns.svc.cluster.local"}, "malformed_node_id"},
		{"no id", &corev3.Node{}, "missing_node"},
		{"labels not a struct", wrongLabels, "malformed_metadata"},
		{"unsupported generator", badGenerator, "unsupported_generator"},
	}
	for _, pr := range protocols {
		for _, tc := range cases {
			t.Run(pr.name+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, Options{Envoy: fakeTranslate})
				h.srv.Update(mesh(baseCluster()))
				c := h.dial(tc.node, pr.delta)
				<-c.Done()
				err := c.State().Err
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("stream ended with %v, want InvalidArgument", err)
				}
				if got := h.counter(h.srv.m.rejected.WithLabelValues(tc.reason)); got != 1 {
					t.Errorf("rejected_streams_total{reason=%q} = %v, want 1", tc.reason, got)
				}
				if !strings.Contains(h.logs.String(), "refusing xDS stream") {
					t.Errorf("no log line for the refused node")
				}
				if len(h.srv.Proxies()) != 0 {
					t.Errorf("refused node is listed as connected")
				}
			})
		}
	}
}

// Nothing is published before the first complete load.
func TestNothingBeforeFirstLoad(t *testing.T) {
	h := newHarness(t, Options{Envoy: fakeTranslate})
	c := h.dial(gatewayNode("gw-1"), false)
	h.waitUntil("proxy attached and a rebuild pass done", func() bool {
		_, ok := h.srv.Proxy(gwID)
		return ok && h.counter(h.srv.m.rebuilds) >= 1
	})
	if _, err := h.srv.snaps.GetSnapshot(gwID); err == nil {
		t.Fatal("a snapshot exists before the first load")
	}
	if h.srv.Ready() {
		t.Fatal("ready before the first load")
	}
	if n := len(c.State().Log); n != 0 {
		t.Fatalf("client received %d responses before the first load", n)
	}
	m := mesh(baseCluster())
	h.srv.Update(m)
	res, _ := fakeTranslate(m, gatewayProxy(), translate.DefaultOptions())
	h.waitConfig(c, expected(res))
	if !h.srv.Ready() {
		t.Fatal("not ready after the first load")
	}
}

// lastIndex returns the index of the last event of typ in log matching f.
func firstIndex(log []adstest.Event, from int, f func(adstest.Event) bool) int {
	for i := from; i < len(log); i++ {
		if f(log[i]) {
			return i
		}
	}
	return -1
}

// A NACK is recorded and the rejected version is never resent: the next
// listener response after it carries the next configuration.
func TestNACKNotResent(t *testing.T) {
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) {
			h := newHarness(t, Options{Envoy: fakeTranslate})
			cs := baseCluster()
			h.srv.Update(mesh(cs))
			c := h.dial(gatewayNode("gw-1"), pr.delta)
			res, _ := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
			h.waitConfig(c, expected(res))

			c.NACKNext(resource.ListenerType, "bad listener 0.0.0.0_81")
			g := gw(&cs, "gw")
			g.Servers = append(g.Servers, model.Server{Port: model.Port{Number: 81, Protocol: "HTTP", Name: "h81"}, Hosts: []string{"*"}})
			h.srv.Update(mesh(cs))
			h.waitUntil("NACK recorded by the server", func() bool {
				p, _ := h.srv.Proxy(gwID)
				ts := p.Types["listener"]
				return ts != nil && ts.LastNACK != nil
			})
			st := c.State()
			nackAt := firstIndex(st.Log, 0, func(e adstest.Event) bool { return e.NACKed })
			rejected := st.Log[nackAt].Version
			p, _ := h.srv.Proxy(gwID)
			if got := p.Types["listener"].LastNACK; got.Version != rejected || got.Message != "bad listener 0.0.0.0_81" {
				t.Errorf("recorded NACK = %+v, want version %q and the client's message", got, rejected)
			}
			if n := h.counter(h.srv.m.nacks.WithLabelValues("listener")); n != 1 {
				t.Errorf("nacks_total{listener} = %v, want 1", n)
			}
			if !strings.Contains(h.logs.String(), "proxy rejected configuration (NACK)") {
				t.Error("NACK not logged")
			}

			// New configuration: the first listener response after the NACK
			// must be it (a resend of the rejected version would come first).
			gw(&cs, "gw").Servers[2].Port.Number = 82
			h.srv.Update(mesh(cs))
			res, _ = fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
			final := h.waitConfig(c, expected(res))
			var after []string
			for _, e := range final.Log[nackAt+1:] {
				if e.Type == resource.ListenerType {
					after = append(after, e.Version)
				}
			}
			if len(after) != 1 || after[0] == rejected || after[0] != final.Versions[resource.ListenerType] {
				t.Fatalf("listener responses after the NACK: %v (rejected %q, new %q); want exactly the new version once",
					after, rejected, final.Versions[resource.ListenerType])
			}
		})
	}
}

// An endpoint-only change updates endpoints and nothing else.
func TestEndpointOnlyChange(t *testing.T) {
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) {
			h := newHarness(t, Options{Envoy: fakeTranslate})
			cs := baseCluster()
			h.srv.Update(mesh(cs))
			c := h.dial(gatewayNode("gw-1"), pr.delta)
			res, _ := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
			before := h.waitConfig(c, expected(res))

			cs.Services[0].Endpoints[1].Address = "10.0.0.3"
			h.srv.Update(mesh(cs))
			res, _ = fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
			h.waitConfig(c, expected(res))
			if n := metrictest.Sum(t, h.reg, "meshgate_xds_rebuild_duration_seconds", map[string]string{"kind": "endpoints"}); n != 1 {
				t.Errorf("endpoint rebuilds = %v, want 1", n)
			}

			// Barrier: a listener-only change. Everything between the two
			// must be endpoints; clusters are never resent.
			gw(&cs, "gw").Servers[0].Port.Number = 8081
			h.srv.Update(mesh(cs))
			res, _ = fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
			final := h.waitConfig(c, expected(res))
			for _, e := range final.Log[len(before.Log):] {
				switch e.Type {
				case resource.EndpointType, resource.SecretType:
				case resource.ClusterType:
					t.Errorf("clusters resent (version %s)", e.Version)
				default:
					if e.Version != final.Versions[e.Type] {
						t.Errorf("%s resent with version %s before the listener change", shortType(e.Type), e.Version)
					}
				}
			}
		})
	}
}

// Make-before-break: a new cluster and its endpoints reach the gateway before
// the route that uses it.
func TestMakeBeforeBreak(t *testing.T) {
	for _, pr := range protocols {
		t.Run(pr.name, func(t *testing.T) {
			h := newHarness(t, Options{Envoy: fakeTranslate})
			cs := baseCluster()
			h.srv.Update(mesh(cs))
			c := h.dial(gatewayNode("gw-1"), pr.delta)
			res, _ := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
			before := h.waitConfig(c, expected(res))

			cs.Services = append(cs.Services, service("api", "default", 7070, "10.0.2.1:7070"))
			h.srv.Update(mesh(cs))
			res, _ = fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
			final := h.waitConfig(c, expected(res))
			const api = "outbound|7070||api.default.svc.cluster.local"
			has := func(typ string) func(adstest.Event) bool {
				return func(e adstest.Event) bool { return e.Type == typ && slices.Contains(e.Names, api) }
			}
			from := len(before.Log)
			iC := firstIndex(final.Log, from, has(resource.ClusterType))
			iE := firstIndex(final.Log, from, has(resource.EndpointType))
			iR := firstIndex(final.Log, from, func(e adstest.Event) bool { return e.Type == resource.RouteType })
			if iC < 0 || iE < 0 || iR < 0 || !(iC < iE && iE < iR) {
				t.Fatalf("order cluster=%d endpoints=%d route=%d; want cluster < endpoints < route\nlog: %+v", iC, iE, iR, final.Log[from:])
			}
			if p, _ := h.srv.Proxy(gwID); p.Staged {
				t.Error("proxy still staged after the update completed")
			}
		})
	}
}

// A translation that fails keeps the last good configuration; object errors
// are logged and counted and the rest is published.
func TestBadInputKeepsLastGood(t *testing.T) {
	h := newHarness(t, Options{Envoy: fakeTranslate})
	cs := baseCluster()
	bad := gateway("bad", ingressLabels, 0)
	cs.Gateways = append(cs.Gateways, bad)
	h.srv.Update(mesh(cs))
	c := h.dial(gatewayNode("gw-1"), false)
	res, _ := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	if len(res.Errors) != 1 || len(res.Listeners) != 2 {
		t.Fatalf("test translator: %d errors, %d listeners", len(res.Errors), len(res.Listeners))
	}
	before := h.waitConfig(c, expected(res))
	logs := h.logs.String()
	if !strings.Contains(logs, "configuration object skipped") || !strings.Contains(logs, "Gateway istio-system/bad: spec.servers[0].port.number: must be set") {
		t.Errorf("object error not logged with object and field:\n%s", logs)
	}
	if n := h.counter(h.srv.m.objectErrorsCurrent); n != 1 {
		t.Errorf("object_errors = %v, want 1", n)
	}

	broken := mesh(cs)
	broken.MeshID = "broken"
	h.srv.Update(broken)
	h.waitUntil("translation failure counted", func() bool { return h.counter(h.srv.m.translateFailures) == 1 })
	if !strings.Contains(h.logs.String(), "translation failed; proxies keep their last good configuration") {
		t.Error("translation failure not logged")
	}
	if strings.Contains(h.logs.String(), "configuration object error resolved") {
		t.Error("a failed translation claimed the object errors of the configuration still served were resolved")
	}
	if d, _ := h.srv.ConfigDumpOf(gwID); d == nil || !strings.Contains(d.LastError, "cannot handle mesh") {
		t.Errorf("config dump does not show the translation error: %+v", d)
	}

	gw(&cs, "gw").Servers[0].Port.Number = 8081
	h.srv.Update(mesh(cs))
	res, _ = fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	final := h.waitConfig(c, expected(res))
	for _, e := range final.Log[len(before.Log):] {
		if e.Type == resource.ListenerType && e.Version != final.Versions[e.Type] {
			t.Errorf("a listener version other than the next good one was pushed: %s", e.Version)
		}
	}
}

// secretsFake is a SecretProvider whose material the test rotates.
type secretsFake struct {
	gen atomic.Int32
	err atomic.Bool
}

func (f *secretsFake) IdentitySecrets(n Node) ([]*tlsv3.Secret, error) {
	if f.err.Load() {
		return nil, errors.New("CA unavailable")
	}
	key := fmt.Sprintf("KEY-%d-%s", f.gen.Load(), n.ServiceAccount)
	return []*tlsv3.Secret{
		{Name: SecretDefault, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "SVID"}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: key}},
		}}},
		{Name: SecretRootCA, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "ROOTS"}},
		}}},
	}, nil
}

// Identity secrets from a SecretProvider are served with the translator's;
// SecretsChanged rotates them; a provider error keeps the last good ones.
func TestSecretProvider(t *testing.T) {
	sp := &secretsFake{}
	h := newHarness(t, Options{Envoy: fakeTranslate, Secrets: sp})
	h.srv.Update(mesh(baseCluster()))
	c := h.dial(gatewayNode("gw-1"), false)
	res, _ := fakeTranslate(mesh(baseCluster()), gatewayProxy(), translate.DefaultOptions())
	h.waitConfig(c, expected(res))
	secretsVersion := func() string {
		d, _ := h.srv.ConfigDumpOf(gwID)
		if len(d.Secrets) != 3 {
			t.Fatalf("%d secrets published, want the credential and default and ROOTCA", len(d.Secrets))
		}
		for _, s := range d.Secrets {
			if strings.Contains(string(s), "KEY-") {
				t.Fatal("identity private key visible in the config dump")
			}
		}
		return d.Versions["secret"]
	}
	v1 := secretsVersion()
	sp.gen.Store(1)
	h.srv.SecretsChanged()
	h.waitUntil("rotated secrets published", func() bool { d, _ := h.srv.ConfigDumpOf(gwID); return d.Versions["secret"] != v1 })
	v2 := secretsVersion()
	sp.err.Store(true)
	before := h.counter(h.srv.m.translateFailures)
	h.srv.SecretsChanged()
	h.waitUntil("provider failure counted", func() bool { return h.counter(h.srv.m.translateFailures) > before })
	if got := secretsVersion(); got != v2 {
		t.Errorf("secrets changed to %s after a provider error, want the last good %s", got, v2)
	}
}

// With an endpoints fast path, an endpoint-only change never calls the full
// translator.
func TestEndpointFastPath(t *testing.T) {
	var full, fast atomic.Int32
	var asked atomic.Pointer[[]string]
	h := newHarness(t, Options{
		Envoy: func(m *model.MeshState, p translate.Proxy, o translate.Options) (*translate.Result, error) {
			full.Add(1)
			return fakeTranslate(m, p, o)
		},
		EnvoyEndpoints: func(m *model.MeshState, p translate.Proxy, o translate.Options, clusters []string) ([]*endpointv3.ClusterLoadAssignment, error) {
			fast.Add(1)
			if len(clusters) == 0 {
				t.Error("the fast path got no clusters from the last build")
			}
			asked.Store(&clusters)
			r, err := fakeTranslate(m, p, o)
			if err != nil {
				return nil, err
			}
			var out []*endpointv3.ClusterLoadAssignment
			for _, cla := range r.Endpoints {
				if slices.Contains(clusters, cla.GetClusterName()) {
					out = append(out, cla)
				}
			}
			return out, nil
		},
	})
	cs := baseCluster()
	h.srv.Update(mesh(cs))
	c := h.dial(gatewayNode("gw-1"), true)
	res, _ := fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	h.waitConfig(c, expected(res))
	cs.Services[1].Endpoints[0].Address = "10.9.9.9"
	h.srv.Update(mesh(cs))
	res, _ = fakeTranslate(mesh(cs), gatewayProxy(), translate.DefaultOptions())
	h.waitConfig(c, expected(res))
	if full.Load() != 1 || fast.Load() != 1 {
		t.Errorf("full translations %d, endpoint translations %d; want 1 and 1", full.Load(), fast.Load())
	}
	// Only the endpoints of the service that changed are translated again
	// (the others stay what the gateway holds: waitConfig saw all of them).
	want := fmt.Sprintf("outbound|%d||%s", cs.Services[1].Ports[0].Port, cs.Services[1].Hostname)
	if got := asked.Load(); got == nil || !slices.Equal(*got, []string{want}) {
		t.Errorf("the fast path was asked for %v, want only %s", got, want)
	}
}

// The real endpoint fast path (translate.EndpointsFor over the last build's
// clusters): an endpoint edit reaches the gateway as exactly what a full
// translation gives, and listeners, routes and clusters are not resent.
func TestRealEndpointFastPath(t *testing.T) {
	dir := filepath.Join("..", "translate", "testdata", "cases", "002-oracle-ingress-https")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var inputs []string
	for _, f := range files {
		if filepath.Base(f) != "proxies.yaml" {
			inputs = append(inputs, f)
		}
	}
	m, _, err := file.LoadMesh(file.Config{Paths: inputs})
	if err != nil {
		t.Fatal(err)
	}
	var full atomic.Int32
	h := newHarness(t, Options{
		Envoy: func(m *model.MeshState, p translate.Proxy, o translate.Options) (*translate.Result, error) {
			full.Add(1)
			return translate.Translate(m, p, o)
		},
		EnvoyEndpoints: EnvoyEndpoints,
	})
	h.srv.Update(m)
	labels := map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}
	en := envoyNode(node.Node{
		ID:       node.ID{Type: node.TypeRouter, IP: "10.9.9.9", Pod: "gw-0", Namespace: "istio-system", DomainSuffix: "cluster.local"},
		Metadata: node.Metadata{Labels: labels, Namespace: "istio-system", ClusterID: m.LocalCluster},
	})
	proxy := translate.Proxy{Type: node.TypeRouter, Namespace: "istio-system", Labels: labels, ClusterID: m.LocalCluster, RouterMode: node.RouterModeStandard, Flavor: translate.FlavorEnvoy}
	res, _ := translate.Translate(m, proxy, translate.DefaultOptions())
	c := h.dial(en, false)
	before := h.waitConfig(c, expected(res))

	// Move httpbin's only endpoint to another address: an endpoint-only change.
	m2 := m.WithCluster(m.Local().Clone())
	svc := m2.Local().Service("httpbin.default.svc.cluster.local")
	svc.Endpoints[0].Address = "10.244.0.99"
	h.srv.Update(m2)
	res2, _ := translate.Translate(m2, proxy, translate.DefaultOptions())
	after := h.waitConfig(c, expected(res2))
	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType} {
		if after.Count(typ) != before.Count(typ) {
			t.Errorf("%s resent after an endpoint-only change (%d → %d responses)", typ, before.Count(typ), after.Count(typ))
		}
	}
	if n := full.Load(); n != 1 {
		t.Errorf("full translations: %d, want 1 (the endpoint change must take the fast path)", n)
	}

	// An endpoint Envoy would refuse (a port over 65535, as a state built
	// without the sources' checks may hold): the fast path refuses the
	// change, the gateway keeps the endpoints it has, and the failure is
	// logged and counted.
	m3 := m2.WithCluster(m2.Local().Clone())
	m3.Local().Service("httpbin.default.svc.cluster.local").Endpoints[0].Ports[0].Port = 70000
	failures := h.counter(h.srv.m.translateFailures)
	h.srv.Update(m3)
	h.waitUntil("the invalid endpoints refused", func() bool { return h.counter(h.srv.m.translateFailures) > failures })
	if logs := h.logs.String(); !strings.Contains(logs, "endpoint translation failed; proxies keep their last good endpoints") ||
		!strings.Contains(logs, "failed Envoy validation") || !strings.Contains(logs, "httpbin.default.svc.cluster.local") {
		t.Errorf("the refused endpoints are not logged with their cluster:\n%s", logs)
	}
	// A later valid change goes through, and what was held meanwhile is
	// exactly the last good endpoints.
	if got := c.State().Count(resource.EndpointType); got != after.Count(resource.EndpointType) {
		t.Errorf("endpoint responses after the refused change: %d, want %d (none sent)", got, after.Count(resource.EndpointType))
	}
	m4 := m2.WithCluster(m2.Local().Clone())
	m4.Local().Service("httpbin.default.svc.cluster.local").Endpoints[0].Address = "10.244.0.100"
	h.srv.Update(m4)
	res4, _ := translate.Translate(m4, proxy, translate.DefaultOptions())
	h.waitConfig(c, expected(res4))
}
