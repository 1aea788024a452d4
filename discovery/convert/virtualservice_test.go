package convert

import (
	"reflect"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
)

func dur(d time.Duration) *time.Duration { return &d }

func TestVirtualServiceConversion(t *testing.T) {
	v := vs(t, `
hosts: [reviews.prod.svc.cluster.local, uk.bookinfo.com]
gateways: [some-config-namespace/my-gateway, mesh]
exportTo: ["."]
http:
- name: dev
  match:
  - name: cookie
    headers: {cookie: {exact: "user=dev-123"}, x-present: {}}
    withoutHeaders: {x-debug: {regex: "*"}}
    queryParams: {v: {prefix: "2"}}
    uri: {prefix: ""}
    method: {exact: GET}
    authority: {regex: ".*\\.com"}
    scheme: {exact: https}
    port: 80
    sourceLabels: {app: a}
    gateways: [mesh]
    ignoreUriCase: true
    sourceNamespace: ns1
  route:
  - destination: {host: reviews.qa.svc.cluster.local, subset: v1, port: {number: 7777}}
    weight: 80
    headers: {request: {set: {x-a: "1"}, add: {x-b: "2"}, remove: [x-c]}}
  - destination: {host: reviews.qa.svc.cluster.local}
    weight: 20
  timeout: 1.5s
  retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,connect-failure", retryRemoteLocalities: true}
  fault:
    delay: {percentage: {value: 10}, fixedDelay: 5s}
    abort: {httpStatus: 503, percentage: {value: 0.5}}
  mirror: {host: mirror.default.svc.cluster.local}
  mirrorPercentage: {value: 25}
  corsPolicy:
    allowOrigins: [{regex: ".*"}, {exact: "https://a.com"}]
    allowMethods: [GET, POST]
    allowHeaders: [x-grpc-web]
    exposeHeaders: [grpc-status]
    maxAge: 60s
    allowCredentials: false
  headers: {response: {remove: [server]}}
  rewrite: {uriRegexRewrite: {match: "^/v1/(.*)", rewrite: "/\\1"}, authority: new.example.com}
- redirect: {uri: /new, authority: b.com, derivePort: FROM_REQUEST_PORT, scheme: https, redirectCode: 308}
- directResponse: {status: 418, body: {string: teapot}}
- route: [{destination: {host: a.default.svc.cluster.local}}]
  mirrors:
  - destination: {host: m1.default.svc.cluster.local}
    percentage: {value: 5}
  - destination: {host: m2.default.svc.cluster.local, port: {number: 81}}
tls:
- match: [{sniHosts: [uk.bookinfo.com], port: 443, destinationSubnets: [10.0.0.0/8], sourceLabels: {a: b}, gateways: [mesh], sourceNamespace: ns}]
  route: [{destination: {host: my-nginx, port: {number: 443}}, weight: 100}]
tcp:
- match: [{port: 27017, destinationSubnets: [10.1.0.1], sourceLabels: {c: d}, gateways: [mesh], sourceNamespace: ns2}]
  route: [{destination: {host: mongo.prod.svc.cluster.local, port: {number: 5555}}}]
`)
	got, errs := VirtualService(v)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ten, half, quarter, five := 10.0, 0.5, 25.0, 5.0
	yes, no := true, false
	want := model.VirtualService{
		Meta:     model.Meta{Name: "vs", Namespace: "default"},
		Hosts:    []string{"reviews.prod.svc.cluster.local", "uk.bookinfo.com"},
		Gateways: []string{"some-config-namespace/my-gateway", "mesh"},
		ExportTo: []string{"."},
		HTTP: []model.HTTPRoute{{
			Name: "dev",
			Match: []model.HTTPMatch{{
				Name:           "cookie",
				Headers:        map[string]model.StringMatch{"cookie": {Exact: "user=dev-123", Kind: "exact"}, "x-present": {}},
				WithoutHeaders: map[string]model.StringMatch{"x-debug": {Regex: "*", Kind: "regex"}},
				QueryParams:    map[string]model.StringMatch{"v": {Prefix: "2", Kind: "prefix"}},
				URI:            &model.StringMatch{Kind: "prefix"},
				Method:         &model.StringMatch{Exact: "GET", Kind: "exact"},
				Authority:      &model.StringMatch{Regex: `.*\.com`, Kind: "regex"},
				Scheme:         &model.StringMatch{Exact: "https", Kind: "exact"},
				Port:           80, SourceLabels: map[string]string{"app": "a"}, Gateways: []string{"mesh"},
				IgnoreURICase: true, SourceNamespace: "ns1",
			}},
			Route: []model.HTTPRouteDestination{
				{Destination: model.Destination{Host: "reviews.qa.svc.cluster.local", Subset: "v1", Port: 7777}, Weight: 80,
					Headers: &model.Headers{Request: &model.HeaderOperations{Set: map[string]string{"x-a": "1"}, Add: map[string]string{"x-b": "2"}, Remove: []string{"x-c"}}}},
				{Destination: model.Destination{Host: "reviews.qa.svc.cluster.local"}, Weight: 20},
			},
			Timeout: dur(1500 * time.Millisecond),
			Retries: &model.HTTPRetry{Attempts: 3, PerTryTimeout: dur(2 * time.Second), RetryOn: "5xx,connect-failure", RetryRemoteLocalities: &yes},
			Fault: &model.HTTPFault{
				Delay: &model.FaultDelay{FixedDelay: 5 * time.Second, Percentage: &ten},
				Abort: &model.FaultAbort{HTTPStatus: 503, Percentage: &half},
			},
			Mirrors: []model.HTTPMirror{{Destination: model.Destination{Host: "mirror.default.svc.cluster.local"}, Percentage: &quarter}},
			CorsPolicy: &model.CorsPolicy{
				AllowOrigins:     []model.StringMatch{{Regex: ".*", Kind: "regex"}, {Exact: "https://a.com", Kind: "exact"}},
				AllowMethods:     []string{"GET", "POST"},
				AllowHeaders:     []string{"x-grpc-web"},
				ExposeHeaders:    []string{"grpc-status"},
				MaxAge:           dur(time.Minute),
				AllowCredentials: &no,
			},
			Headers: &model.Headers{Response: &model.HeaderOperations{Remove: []string{"server"}}},
			Rewrite: &model.HTTPRewrite{Authority: "new.example.com", URIRegex: "^/v1/(.*)", URIRegexRewrite: `/\1`},
		}, {
			Redirect: &model.HTTPRedirect{URI: "/new", Authority: "b.com", DerivePort: "FROM_REQUEST_PORT", Scheme: "https", RedirectCode: 308},
		}, {
			DirectResponse: &model.HTTPDirectResponse{Status: 418, Body: "teapot"},
		}, {
			Route: []model.HTTPRouteDestination{{Destination: model.Destination{Host: "a.default.svc.cluster.local"}}},
			Mirrors: []model.HTTPMirror{
				{Destination: model.Destination{Host: "m1.default.svc.cluster.local"}, Percentage: &five},
				{Destination: model.Destination{Host: "m2.default.svc.cluster.local", Port: 81}},
			},
		}},
		TLS: []model.TLSRoute{{
			Match: []model.TLSMatch{{SNIHosts: []string{"uk.bookinfo.com"}, Port: 443, DestinationSubnets: []string{"10.0.0.0/8"},
				SourceLabels: map[string]string{"a": "b"}, Gateways: []string{"mesh"}, SourceNamespace: "ns"}},
			Route: []model.RouteDestination{{Destination: model.Destination{Host: "my-nginx", Port: 443}, Weight: 100}},
		}},
		TCP: []model.TCPRoute{{
			Match: []model.L4Match{{Port: 27017, DestinationSubnets: []string{"10.1.0.1"}, SourceLabels: map[string]string{"c": "d"},
				Gateways: []string{"mesh"}, SourceNamespace: "ns2"}},
			Route: []model.RouteDestination{{Destination: model.Destination{Host: "mongo.prod.svc.cluster.local", Port: 5555}}},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
		for i := range want.HTTP {
			if i < len(got.HTTP) && !reflect.DeepEqual(got.HTTP[i], want.HTTP[i]) {
				t.Errorf("http[%d]:\n got  %+v\nwant %+v", i, got.HTTP[i], want.HTTP[i])
			}
		}
	}
}

func TestVirtualServiceDeprecatedFields(t *testing.T) {
	got, errs := VirtualService(vs(t, `
hosts: [a.example.com]
gateways: [gw]
http:
- route: [{destination: {host: a}}]
  mirror: {host: m}
  mirrorPercent: 30
  fault: {delay: {percent: 40, fixedDelay: 1s}, abort: {grpcStatus: UNAVAILABLE}}
  corsPolicy: {allowOrigin: ["https://old.example.com"]}
`))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := got.HTTP[0]
	if len(r.Mirrors) != 1 || *r.Mirrors[0].Percentage != 30 || r.Mirrors[0].Destination.Host != "m" {
		t.Errorf("mirrors = %+v", r.Mirrors)
	}
	if *r.Fault.Delay.Percentage != 40 || r.Fault.Abort.GRPCStatus != "UNAVAILABLE" || r.Fault.Abort.Percentage != nil {
		t.Errorf("fault = %+v %+v", r.Fault.Delay, r.Fault.Abort)
	}
	if !reflect.DeepEqual(r.CorsPolicy.AllowOrigins, []model.StringMatch{{Exact: "https://old.example.com", Kind: "exact"}}) {
		t.Errorf("allowOrigins = %+v", r.CorsPolicy.AllowOrigins)
	}
}

func TestVirtualServiceValidation(t *testing.T) {
	const route = `route: [{destination: {host: a.default.svc.cluster.local}}]`
	tests := []struct {
		name  string
		spec  string
		field string
	}{
		{"delegate (no hosts) with gateways", `gateways: [gw]
http: [{` + route + `}]`, "spec.gateways"},
		{"delegate (no hosts) with tcp", `tcp: [{route: [{destination: {host: a}}]}]`, "spec.tcp"},
		{"delegate (no hosts) delegating again", `http: [{delegate: {name: other}}]`, "spec.http[0].delegate"},
		{"invalid host bookinfo.*", `hosts: ["bookinfo.*"]
gateways: [bookinfo-gateway]
http: [{` + route + `}]`, "spec.hosts[0]"},
		{"host with namespace", `hosts: ["ns/a.com"]
gateways: [gw]
http: [{` + route + `}]`, "spec.hosts[0]"},
		{"star bound to the mesh", `hosts: ["*"]
http: [{` + route + `}]`, "spec.hosts[0]"},
		{"duplicate hosts", `hosts: ["a.foo.com", "*.foo.com"]
gateways: [gw]
http: [{` + route + `}]`, "spec.hosts[1]"},
		{"invalid gateway reference", `hosts: [a.com]
gateways: ["ns/Bad_Name"]
http: [{` + route + `}]`, "spec.gateways[0]"},
		{"no routes", `hosts: [a.com]
gateways: [gw]`, "spec"},
		{"route destination without host", `hosts: [a.com]
gateways: [gw]
http: [{route: [{destination: {port: {number: 80}}}]}]`, "spec.http[0].route[0].destination.host"},
		{"route without destination", `hosts: [a.com]
gateways: [gw]
http: [{route: [{weight: 100}]}]`, "spec.http[0].route[0].destination"},
		{"destination host star", `hosts: [a.com]
gateways: [gw]
http: [{route: [{destination: {host: "*"}}]}]`, "spec.http[0].route[0].destination.host"},
		{"negative weight", `hosts: [a.com]
gateways: [gw]
http: [{route: [{destination: {host: a}, weight: -1}]}]`, "spec.http[0].route[0].weight"},
		{"zero total weight", `hosts: [a.com]
gateways: [gw]
http: [{route: [{destination: {host: a}}, {destination: {host: b}}]}]`, "spec.http[0].route"},
		{"route and redirect", `hosts: [a.com]
gateways: [gw]
http: [{redirect: {uri: /x}, ` + route + `}]`, "spec.http[0]"},
		{"nothing to do", `hosts: [a.com]
gateways: [gw]
http: [{match: [{uri: {prefix: /a}}]}]`, "spec.http[0].route"},
		{"empty redirect", `hosts: [a.com]
gateways: [gw]
http: [{redirect: {redirectCode: 301}}]`, "spec.http[0].redirect"},
		{"redirect code", `hosts: [a.com]
gateways: [gw]
http: [{redirect: {uri: /x, redirectCode: 200}}]`, "spec.http[0].redirect.redirectCode"},
		{"bad regex", `hosts: [a.com]
gateways: [gw]
http: [{match: [{uri: {regex: "a("}}], ` + route + `}]`, "spec.http[0].match[0].uri"},
		{"empty header prefix", `hosts: [a.com]
gateways: [gw]
http: [{match: [{headers: {x-a: {prefix: ""}}}], ` + route + `}]`, "spec.http[0].match[0].headers[x-a]"},
		{"timeout below 1ms", `hosts: [a.com]
gateways: [gw]
http: [{timeout: 0.0001s, ` + route + `}]`, "spec.http[0].timeout"},
		{"fault percentage", `hosts: [a.com]
gateways: [gw]
http: [{fault: {abort: {httpStatus: 500, percentage: {value: 150}}}, ` + route + `}]`, "spec.http[0].fault.abort.percentage"},
		{"fault http status", `hosts: [a.com]
gateways: [gw]
http: [{fault: {abort: {httpStatus: 99}}, ` + route + `}]`, "spec.http[0].fault.abort.httpStatus"},
		{"empty fault", `hosts: [a.com]
gateways: [gw]
http: [{fault: {}, ` + route + `}]`, "spec.http[0].fault"},
		{"negative retries", `hosts: [a.com]
gateways: [gw]
http: [{retries: {attempts: -1}, ` + route + `}]`, "spec.http[0].retries.attempts"},
		{"unknown retryOn", `hosts: [a.com]
gateways: [gw]
http: [{retries: {attempts: 2, retryOn: "sometimes"}, ` + route + `}]`, "spec.http[0].retries.retryOn"},
		{"mirror and mirrors", `hosts: [a.com]
gateways: [gw]
http: [{mirror: {host: m}, mirrors: [{destination: {host: n1}}], ` + route + `}]`, "spec.http[0]"},
		{"mirror percentage", `hosts: [a.com]
gateways: [gw]
http: [{mirror: {host: m}, mirrorPercentage: {value: 101}, ` + route + `}]`, "spec.http[0].mirrorPercentage"},
		{"cors method", `hosts: [a.com]
gateways: [gw]
http: [{corsPolicy: {allowMethods: [FETCH]}, ` + route + `}]`, "spec.http[0].corsPolicy.allowMethods[0]"},
		{"rewrite uri and regex", `hosts: [a.com]
gateways: [gw]
http: [{rewrite: {uri: /a, uriRegexRewrite: {match: a, rewrite: b}}, ` + route + `}]`, "spec.http[0].rewrite"},
		{"subset name", `hosts: [a.com]
gateways: [gw]
http: [{route: [{destination: {host: a, subset: V_1}}]}]`, "spec.http[0].route[0].destination.subset"},
		{"tls route without sni hosts", `hosts: [a.com]
gateways: [gw]
tls: [{match: [{port: 443}], route: [{destination: {host: a}}]}]`, "spec.tls[0].match[0].sniHosts"},
		{"tls sni host outside the hosts", `hosts: [a.com]
gateways: [gw]
tls: [{match: [{sniHosts: [b.com]}], route: [{destination: {host: a}}]}]`, "spec.tls[0].match[0].sniHosts[0]"},
		{"tls route without route", `hosts: [a.com]
gateways: [gw]
tls: [{match: [{sniHosts: [a.com]}]}]`, "spec.tls[0].route"},
		{"tcp route without route", `hosts: [a.com]
gateways: [gw]
tcp: [{match: [{port: 27017}]}]`, "spec.tcp[0].route"},
		{"tcp subnet", `hosts: [a.com]
gateways: [gw]
tcp: [{match: [{destinationSubnets: [10.0.0.0/33]}], route: [{destination: {host: a}}]}]`, "spec.tcp[0].match[0].destinationSubnets[0]"},
		{"tcp port", `hosts: [a.com]
gateways: [gw]
tcp: [{match: [{port: 70000}], route: [{destination: {host: a}}]}]`, "spec.tcp[0].match[0].port"},
		{"exportTo", `hosts: [a.com]
gateways: [gw]
exportTo: ["Bad NS"]
http: [{` + route + `}]`, "spec.exportTo[0]"},
		{"redirect prefixRewrite with an exact URI match", `hosts: [a.com]
gateways: [gw]
http: [{match: [{uri: {prefix: /a}}, {uri: {exact: /b}}], redirect: {prefixRewrite: /x}}]`, "spec.http[0].redirect.prefixRewrite"},
		{"redirect uri and prefixRewrite", `hosts: [a.com]
gateways: [gw]
http: [{match: [{uri: {prefix: /a}}], redirect: {uri: /y, prefixRewrite: /x}}]`, "spec.http[0].redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := VirtualService(vs(t, tt.spec))
			assertOneFieldError(t, errs, model.Ref{Kind: model.KindVirtualService, Namespace: "default", Name: "vs"}, tt.field)
		})
	}
}

func TestVirtualServiceValidAccepted(t *testing.T) {
	for _, s := range []string{
		"hosts: [\"*\"]\ngateways: [istio-system/bookinfo-gateway]\nhttp: [{route: [{destination: {host: productpage}}]}]",
		"hosts: [\"*.com\", \"10.1.2.3\", reviews]\ngateways: [gw, mesh]\nhttp: [{route: [{destination: {host: productpage}}]}]",
		"hosts: [nginx.example.com]\ngateways: [gw]\ntls: [{match: [{port: 443, sniHosts: [nginx.example.com]}], route: [{destination: {host: my-nginx, port: {number: 443}}}]}]",
		"hosts: [\"*\"]\ngateways: [gw]\ntcp: [{match: [{port: 31400}], route: [{destination: {host: tcp-echo, port: {number: 9000}, subset: v1}}]}]",
		"hosts: [a.com]\nhttp: [{match: [{uri: {prefix: \"\"}}], redirect: {scheme: https}}]",
	} {
		if _, errs := VirtualService(vs(t, s)); len(errs) > 0 {
			t.Errorf("%s: %v", s, errs)
		}
	}
}
