package daemon

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/test/logtest"
	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/node"
)

// configTypes are what must never change while the input is broken.
var configTypes = []string{resource.ListenerType, resource.RouteType, resource.ClusterType}

// TestQuickstartBrokenInputKeepsTheGateway walks through the README's
// quickstart as a user editing its files would: the daemon runs on a copy
// of deploy/examples/quickstart with the ingress gateway connected over
// ADS; each kind of mistake is made in turn in one file, and while the
// file is broken the gateway's listeners, routes and clusters stay exactly
// as they were (no push at all), /debug/sources and
// meshgate_config_rejected_objects name the object, file and field; then
// the file is fixed with a change, and that change (and only it) arrives.
func TestQuickstartBrokenInputKeepsTheGateway(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "..", "..", "deploy", "examples", "quickstart")
	orig := map[string]string{}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		orig[e.Name()] = string(b)
		writeAtomic(t, dir, e.Name(), string(b))
	}

	cfg := testConfig(t)
	cfg.ConfigDir = dir
	var logs logtest.Buffer
	d, err := New(cfg, NewLogger(cfg, &logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The bound only stops a test whose daemon never delivers.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	cc, err := grpc.NewClient(d.XDSAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	id, err := node.ParseID("router~127.0.0.10~ingress-0.istio-system~istio-system.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	en, err := node.Node{ID: id, Metadata: node.Metadata{Labels: map[string]string{"istio": "ingressgateway"}, Namespace: "istio-system"}}.Envoy()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := adstest.Dial(ctx, cc, en, false)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	_, err = gw.WaitFor(ctx, func(s adstest.State) bool {
		return has(s, resource.ListenerType, "0.0.0.0_8080", "0.0.0.0_8443") && has(s, resource.RouteType, "http.8080") &&
			has(s, resource.ClusterType, "outbound|8000|v1|httpbin.default.svc.cluster.local", "outbound|8080||echo.default.svc.cluster.local")
	})
	if err != nil {
		t.Fatalf("the quickstart never reached the gateway: %v", err)
	}

	if sd := debugSources(t, d); len(sd.Rejected) != 0 || len(sd.References) != 0 {
		t.Errorf("the quickstart as shipped: /debug/sources %+v, want nothing", sd)
	}

	steps := []struct {
		name, file    string
		broken, fixed func(string) string
		// what /debug/sources must list while broken
		kind, object, field, reason string
		// the fix's changes: type → a string in the JSON of its resources
		changes map[string]string
	}{{
		name: "unclosed YAML", file: "gateway.yaml",
		broken: func(s string) string {
			return replaceOnce(t, s, "  http:\n  - match:", "  http: [unclosed\n  - match:")
		},
		fixed: func(s string) string { return replaceOnce(t, s, "prefix: /headers", "prefix: /anything") },
		kind:  "VirtualService", object: "default/httpbin", reason: "syntax",
		changes: map[string]string{resource.RouteType: `"/anything"`},
	}, {
		name: "misspelled field", file: "gateway.yaml",
		broken: func(s string) string {
			return replaceOnce(t, s, "  selector:\n    istio: ingressgateway", "  selectorr:\n    istio: ingressgateway")
		},
		fixed: func(s string) string {
			return replaceOnce(t, s, `hosts: ["httpbin.example.com"]`+"\n    tls:", `hosts: ["httpbin.example.com", "www.httpbin.example.com"]`+"\n    tls:")
		},
		kind: "Gateway", object: "istio-system/quickstart-gateway", field: "spec.selectorr", reason: "schema",
		changes: map[string]string{resource.ListenerType: `"www.httpbin.example.com"`, resource.RouteType: `"www.httpbin.example.com"`},
	}, {
		name: "bad value", file: "services.yaml",
		broken: func(s string) string {
			return replaceOnce(t, s, "port: 8080, targetPort: 18080", "port: 808080, targetPort: 18080")
		},
		fixed: func(s string) string {
			return replaceOnce(t, s, "port: 8080, targetPort: 18080", "port: 8080, targetPort: 18080, appProtocol: http2")
		},
		kind: "Service", object: "default/echo", field: "spec.ports[0].port", reason: "invalid",
		changes: map[string]string{resource.ClusterType: `"http2ProtocolOptions"`},
	}, {
		name: "misspelled kind", file: "gateway.yaml",
		broken: func(s string) string { return replaceOnce(t, s, "kind: DestinationRule", "kind: Destinationrule") },
		fixed: func(s string) string {
			return replaceOnce(t, s, "  host: httpbin\n", "  host: httpbin\n  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}\n")
		},
		kind: "DestinationRule", object: "default/httpbin", field: "kind", reason: "unknown-kind",
		changes: map[string]string{resource.ClusterType: `"maxConnections":7`},
	}, {
		name: "unknown kind", file: "gateway.yaml",
		broken: func(s string) string {
			return replaceOnce(t, s, "kind: VirtualService\nmetadata:\n  name: echo", "kind: Frobnicator\nmetadata:\n  name: echo")
		},
		fixed: func(s string) string {
			return replaceOnce(t, s, "  - route:\n    - destination: {host: echo, port: {number: 8080}}", "  - timeout: 7s\n    route:\n    - destination: {host: echo, port: {number: 8080}}")
		},
		kind: "VirtualService", object: "default/echo", field: "kind", reason: "unknown-kind",
		changes: map[string]string{resource.RouteType: `"timeout":"7s"`},
	}}
	for _, step := range steps {
		before := gw.State()
		content := orig[step.file]
		writeAtomic(t, dir, step.file, step.broken(content))
		entry := waitSources(ctx, t, d, step.name, func(e sourceEntry) bool {
			return e.Kind == step.kind && e.object() == step.object && e.File == filepath.Join(dir, step.file) && e.Reason == step.reason &&
				e.Serving == servingLastGood && (step.field == "" || e.Field == step.field)
		})
		if entry.Since.IsZero() || !strings.Contains(entry.Error, step.file) {
			t.Errorf("%s: /debug/sources entry %+v: want since and the file in the error", step.name, entry)
		}
		if v, _ := metrictest.Get(t, d.reg, "meshgate_config_rejected_objects", map[string]string{"kind": step.kind, "reason": step.reason}); v < 1 {
			t.Errorf("%s: meshgate_config_rejected_objects{kind=%s,reason=%s} = %v", step.name, step.kind, step.reason, v)
		}
		if !strings.Contains(logs.String(), "file="+filepath.Join(dir, step.file)) {
			t.Errorf("%s: no log line names %s", step.name, step.file)
		}

		orig[step.file] = step.fixed(content)
		writeAtomic(t, dir, step.file, orig[step.file])
		waitNoRejections(ctx, t, d, step.name+" fixed")
		if _, err := gw.WaitFor(ctx, func(s adstest.State) bool {
			for typ, want := range step.changes {
				if !strings.Contains(typeJSON(t, s, typ), want) {
					return false
				}
			}
			return true
		}); err != nil {
			t.Fatalf("%s: the fix never arrived: %v", step.name, err)
		}
		// The broken input pushed nothing: the first (and only) change of
		// each type since is the fix's.
		after := gw.State()
		for _, typ := range configTypes {
			_, changed := step.changes[typ]
			want := 0
			if changed {
				want = 1
			}
			if n := after.Count(typ) - before.Count(typ); n != want {
				t.Errorf("%s: %d pushes of %s while broken and fixed, want %d (the fix's)", step.name, n, typ, want)
			}
			if !changed && !sameResources(before, after, typ) {
				t.Errorf("%s: %s changed", step.name, typ)
			}
		}
	}

	// References to what does not exist are reported at load time, with
	// the file: a Gateway and a Service nobody defined.
	writeAtomic(t, dir, "typo.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: typo, namespace: default}
spec:
  hosts: [typo.example.com]
  gateways: [istio-system/quickstart-gatewya]
  http:
  - route:
    - destination: {host: httpbni}
`)
	var refs []sourceEntry
	poll(ctx, t, "the dangling references on /debug/sources", func() bool {
		refs = debugSources(t, d).References
		return len(refs) == 2
	})
	for i, want := range []struct{ field, err string }{
		{"spec.gateways[0]", `gateway "istio-system/quickstart-gatewya" not found`},
		{"spec.http[0].route[0].destination.host", "no Service or ServiceEntry httpbni.default.svc.cluster.local"},
	} {
		if r := refs[i]; r.File != "typo.yaml" || r.object() != "default/typo" || r.Field != want.field || !strings.Contains(r.Error, want.err) {
			t.Errorf("reference %d: %+v, want field %s, %q", i, r, want.field, want.err)
		}
	}
	if v, _ := metrictest.Get(t, d.reg, "meshgate_config_dangling_references", nil); v != 2 {
		t.Errorf("meshgate_config_dangling_references = %v", v)
	}
}

func has(s adstest.State, typ string, names ...string) bool {
	for _, n := range names {
		if s.Resources[typ][n] == nil {
			return false
		}
	}
	return true
}

func sameResources(a, b adstest.State, typ string) bool {
	if len(a.Resources[typ]) != len(b.Resources[typ]) {
		return false
	}
	for n, m := range a.Resources[typ] {
		if !proto.Equal(m, b.Resources[typ][n]) {
			return false
		}
	}
	return true
}

// typeJSON is every resource of typ, as compact JSON, in name order.
func typeJSON(t *testing.T, s adstest.State, typ string) string {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(s.Resources[typ])) {
		js, err := protojson.MarshalOptions{}.Marshal(s.Resources[typ][n])
		if err != nil {
			t.Fatal(err)
		}
		var v any
		_ = json.Unmarshal(js, &v)
		c, _ := json.Marshal(v)
		b.Write(c)
	}
	return b.String()
}

// debugSources reads /debug/sources.
func debugSources(t *testing.T, d *Daemon) sourcesDebug {
	t.Helper()
	code, body := httpGet(t, "http://"+d.AdminAddr()+"/debug/sources")
	var sd sourcesDebug
	if code != 200 {
		t.Fatalf("/debug/sources: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &sd); err != nil {
		t.Fatalf("/debug/sources: %v: %s", err, body)
	}
	return sd
}

// waitSources polls /debug/sources until an entry satisfies match and
// returns it.
func waitSources(ctx context.Context, t *testing.T, d *Daemon, what string, match func(sourceEntry) bool) sourceEntry {
	t.Helper()
	var got sourceEntry
	var last sourcesDebug
	defer func() {
		if got == (sourceEntry{}) {
			t.Logf("last /debug/sources: %+v", last)
		}
	}()
	poll(ctx, t, what+" on /debug/sources", func() bool {
		last = debugSources(t, d)
		for _, e := range last.Rejected {
			if match(e) {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// waitNoRejections polls /debug/sources until it lists nothing.
func waitNoRejections(ctx context.Context, t *testing.T, d *Daemon, what string) {
	t.Helper()
	poll(ctx, t, what+": nothing rejected on /debug/sources", func() bool { return len(debugSources(t, d).Rejected) == 0 })
}

// writeAtomic writes a file as editors do: a temporary file renamed over it.
func writeAtomic(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if strings.Count(s, old) != 1 {
		t.Fatalf("%q is not in the file exactly once", old)
	}
	return strings.Replace(s, old, new, 1)
}
