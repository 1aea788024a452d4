package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshgate/meshgate/test/logtest"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/test/adstest"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// fakeTranslate is a small gateway translator for server tests: per gateway
// port a listener 0.0.0.0_<port> (RDS http.<port>, TLS by SDS when a server
// has a credentialName), a route config with one virtual host per service,
// EDS clusters and endpoints per service port, and credentialName secrets.
// Gateway servers with port 0 are object errors; MeshID "broken" is a
// system error.
func fakeTranslate(mesh *model.MeshState, p translate.Proxy, _ translate.Options) (*translate.Result, error) {
	if mesh.MeshID == "broken" {
		return nil, fmt.Errorf("translator cannot handle mesh %q", mesh.MeshID)
	}
	res := &translate.Result{}
	local := mesh.Local()
	creds := map[uint32][]string{}
	for _, gw := range local.Gateways {
		if !model.LabelsMatch(gw.Selector, p.Labels) {
			continue
		}
		for i, srv := range gw.Servers {
			if srv.Port.Number == 0 {
				res.Errors = append(res.Errors, model.Errorf(model.RefOf(model.KindGateway, gw.Meta), fmt.Sprintf("spec.servers[%d].port.number", i), "must be set"))
				continue
			}
			if _, ok := creds[srv.Port.Number]; !ok {
				creds[srv.Port.Number] = nil
			}
			if srv.TLS != nil && srv.TLS.CredentialName != "" {
				creds[srv.Port.Number] = append(creds[srv.Port.Number], srv.TLS.CredentialName)
			}
		}
	}
	for _, port := range slices.Sorted(maps.Keys(creds)) {
		res.Listeners = append(res.Listeners, fakeListener(port, creds[port]))
		res.Routes = append(res.Routes, fakeRoutes(port, local.Services))
	}
	for _, c := range mesh.Clusters {
		for _, svc := range c.Services {
			for _, sp := range svc.Ports {
				name := fmt.Sprintf("outbound|%d||%s", sp.Port, svc.Hostname)
				res.Clusters = append(res.Clusters, &clusterv3.Cluster{
					Name:                 name,
					ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
					EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{
						ResourceApiVersion:    corev3.ApiVersion_V3,
						ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
					}},
				})
				cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
				var lbs []*endpointv3.LbEndpoint
				for _, ep := range svc.Endpoints {
					port, ok := ep.Port(sp.Name)
					if !ok {
						port = sp.Port
					}
					lbs = append(lbs, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
						Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
							Address: ep.Address, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
					}}})
				}
				if len(lbs) > 0 {
					cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}}
				}
				res.Endpoints = append(res.Endpoints, cla)
			}
		}
	}
	for _, sec := range local.Secrets {
		res.Secrets = append(res.Secrets, &tlsv3.Secret{
			Name: "kubernetes://" + sec.Name,
			Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: sec.Data["tls.crt"]}},
				PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: sec.Data["tls.key"]}},
			}},
		})
	}
	for _, r := range res.Listeners {
		mustValid(r)
	}
	for _, r := range res.Clusters {
		mustValid(r)
	}
	return res, nil
}

func mustValid(m interface{ ValidateAll() error }) {
	if err := m.ValidateAll(); err != nil {
		panic(err)
	}
}

func fakeListener(port uint32, creds []string) *listenerv3.Listener {
	router, _ := anypb.New(&routerv3.Router{})
	hcm, _ := anypb.New(&hcmv3.HttpConnectionManager{
		StatPrefix: "outbound_0.0.0.0_" + strconv.Itoa(int(port)),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: "http." + strconv.Itoa(int(port)),
			ConfigSource: &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	})
	chain := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm}}}}
	if len(creds) > 0 {
		ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{}}
		for _, c := range creds {
			ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = append(ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs,
				&tlsv3.SdsSecretConfig{Name: "kubernetes://" + c, SdsConfig: &corev3.ConfigSource{ResourceApiVersion: corev3.ApiVersion_V3,
					ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}})
		}
		tc, _ := anypb.New(ctx)
		chain.TransportSocket = &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tc}}
	}
	return &listenerv3.Listener{
		Name: "0.0.0.0_" + strconv.Itoa(int(port)),
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "0.0.0.0", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}},
		FilterChains: []*listenerv3.FilterChain{chain},
	}
}

func fakeRoutes(port uint32, services []model.Service) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "http." + strconv.Itoa(int(port))}
	for _, svc := range services {
		if len(svc.Ports) == 0 {
			continue
		}
		rc.VirtualHosts = append(rc.VirtualHosts, &routev3.VirtualHost{
			Name:    svc.Hostname,
			Domains: []string{svc.Hostname},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{
					Cluster: fmt.Sprintf("outbound|%d||%s", svc.Ports[0].Port, svc.Hostname)}}},
			}},
		})
	}
	return rc
}

// Test model builders.

func service(name, ns string, port uint32, addrs ...string) model.Service {
	s := model.Service{
		Meta:     model.Meta{Name: name, Namespace: ns},
		Hostname: name + "." + ns + ".svc.cluster.local",
		Ports:    []model.ServicePort{{Name: "http", Port: port, Protocol: "TCP"}},
	}
	for _, a := range addrs {
		host, p, _ := strings.Cut(a, ":")
		pn, _ := strconv.Atoi(p)
		s.Endpoints = append(s.Endpoints, model.Endpoint{Address: host, Ready: true, Ports: []model.EndpointPort{{Name: "http", Port: uint32(pn)}}})
	}
	return s
}

func gateway(name string, selector map[string]string, ports ...uint32) model.Gateway {
	g := model.Gateway{Meta: model.Meta{Name: name, Namespace: "istio-system"}, Selector: selector}
	for _, p := range ports {
		g.Servers = append(g.Servers, model.Server{Port: model.Port{Number: p, Protocol: model.ProtocolHTTP, Name: "http"}, Hosts: []string{"*"}})
	}
	return g
}

// mesh publishes a deep copy of c (published states are immutable; tests
// keep editing c).
func mesh(c model.ClusterState) *model.MeshState {
	cc := c.Clone()
	cc.ID = "Kubernetes"
	cc.Normalize()
	return &model.MeshState{LocalCluster: "Kubernetes", Clusters: []*model.ClusterState{cc}}
}

// gw returns the gateway named name in c.
func gw(c *model.ClusterState, name string) *model.Gateway {
	for i := range c.Gateways {
		if c.Gateways[i].Name == name {
			return &c.Gateways[i]
		}
	}
	panic("no gateway " + name)
}

var ingressLabels = map[string]string{"istio": "ingressgateway"}

// gatewayNode is an Istio-style ingress gateway node.
func gatewayNode(pod string) *corev3.Node {
	return envoyNode(node.Node{
		ID:       node.ID{Type: node.TypeRouter, IP: "10.1.0.7", Pod: pod, Namespace: "istio-system", DomainSuffix: "cluster.local"},
		Metadata: node.Metadata{Labels: ingressLabels, Namespace: "istio-system", ClusterID: "Kubernetes"},
	})
}

// envoyNode is n as Envoy sends it.
func envoyNode(n node.Node) *corev3.Node {
	en, err := n.Envoy()
	if err != nil {
		panic(err)
	}
	return en
}

// gatewayProxy is the Proxy the server translates gatewayNode for.
func gatewayProxy() translate.Proxy {
	return translate.Proxy{Type: "router", Namespace: "istio-system", Labels: ingressLabels, ClusterID: "Kubernetes", RouterMode: node.RouterModeStandard, Flavor: translate.FlavorEnvoy}
}

// harness is a Server on a real gRPC server on 127.0.0.1.
type harness struct {
	t    testing.TB
	srv  *Server
	reg  *prometheus.Registry
	addr string
	cc   *grpc.ClientConn
	logs *logtest.Buffer
	ctx  context.Context
}

// newHarness runs a Server with opts and fast test debouncing.
func newHarness(t testing.TB, opts Options) *harness {
	t.Helper()
	return newHarnessConfig(t, Config{Holdoff: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, opts)
}

func newHarnessConfig(t testing.TB, cfg Config, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}}
	opts.Registerer = h.reg
	level := slog.LevelInfo
	if os.Getenv("MESHGATE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	opts.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: level}))
	srv, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // hang guard only
	h.ctx = ctx
	gs := grpc.NewServer()
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = lis.Addr().String()
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = gs.Serve(lis); done <- struct{}{} }()
	go func() { _ = srv.Run(runCtx); done <- struct{}{} }()
	h.cc, err = grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.cc.Close()
		stopRun()
		gs.GracefulStop()
		<-done
		<-done
		cancel()
		if t.Failed() {
			t.Logf("server logs:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) dial(node *corev3.Node, delta bool) *adstest.Client {
	h.t.Helper()
	c, err := adstest.Dial(h.ctx, h.cc, node, delta)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(c.Close)
	return c
}

// waitUntil polls cond on every server-side change we can observe cheaply;
// it is a bounded poll on a condition, not a sleep-then-assert.
func (h *harness) waitUntil(what string, cond func() bool) {
	h.t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-h.ctx.Done():
			h.t.Fatalf("never happened: %s", what)
		case <-tick.C:
		}
	}
}

func (h *harness) counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// expected is a translation result keyed like adstest.State.Resources.
func expected(r *translate.Result) map[string]map[string]proto.Message {
	out := map[string]map[string]proto.Message{
		resource.ListenerType: {}, resource.RouteType: {}, resource.ClusterType: {},
		resource.EndpointType: {}, resource.SecretType: {},
	}
	for _, x := range r.Listeners {
		out[resource.ListenerType][x.GetName()] = x
	}
	for _, x := range r.Routes {
		out[resource.RouteType][x.GetName()] = x
	}
	for _, x := range r.Clusters {
		out[resource.ClusterType][x.GetName()] = x
	}
	for _, x := range r.Endpoints {
		out[resource.EndpointType][x.GetClusterName()] = x
	}
	for _, x := range r.Secrets {
		out[resource.SecretType][x.GetName()] = x
	}
	return out
}

// diff compares held resources with want by name and proto.Equal; "" when equal.
func diff(got, want map[string]map[string]proto.Message) string {
	var b strings.Builder
	for _, t := range slices.Sorted(maps.Keys(want)) {
		g, w := got[t], want[t]
		for n, wm := range w {
			gm, ok := g[n]
			switch {
			case !ok:
				fmt.Fprintf(&b, "%s %q: missing\n", shortType(t), n)
			case !proto.Equal(gm, wm):
				fmt.Fprintf(&b, "%s %q: differs\n", shortType(t), n)
			}
		}
		for n := range g {
			if _, ok := w[n]; !ok {
				fmt.Fprintf(&b, "%s %q: unexpected\n", shortType(t), n)
			}
		}
	}
	return b.String()
}

// waitConfig waits until c holds exactly want, and LDS and CDS have been
// answered at least once (an empty configuration is still a configuration).
func (h *harness) waitConfig(c *adstest.Client, want map[string]map[string]proto.Message) adstest.State {
	h.t.Helper()
	st, err := c.WaitFor(h.ctx, func(s adstest.State) bool {
		return s.Count(resource.ListenerType) > 0 && s.Count(resource.ClusterType) > 0 && diff(s.Resources, want) == ""
	})
	if err != nil {
		h.t.Fatalf("client never held the expected configuration (%v); difference:\n%s", err, diff(st.Resources, want))
	}
	return st
}
