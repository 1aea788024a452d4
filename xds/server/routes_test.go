package server

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/test/metrictest"
	"github.com/meshgate/meshgate/xds/node"
	"github.com/meshgate/meshgate/xds/translate"
)

// vsWorld is a small world whose VirtualServices are edited at random:
// two gateways of the ingress gateway (ports 80, 8080 with *.example.com,
// and a namespace-scoped one), a third for other proxies, services with
// one or two ports and DestinationRules with subsets and consistent hashing.
type vsWorld struct {
	rng  *rand.Rand
	keep []model.Destination // when set, dest picks among these (an edit that keeps the destinations)
	base model.ClusterState
	vs   []model.VirtualService
	next int
}

var vsHosts = []string{"a.example.com", "b.example.com", "c.example.com", "*.example.com", "shop.test", "svc1", "*"}

func newVSWorld(seed uint64) *vsWorld {
	w := &vsWorld{rng: rand.New(rand.NewPCG(seed, 1))}
	gwA := gateway("gw-a", ingressLabels, 80, 8080)
	gwA.Servers[1].Hosts = []string{"*.example.com"}
	gwB := gateway("gw-b", ingressLabels, 9080)
	gwB.Servers[0].Hosts = []string{"ns1/*"}
	gwC := gateway("gw-c", map[string]string{"app": "edge"}, 80)
	w.base.Gateways = []model.Gateway{gwA, gwB, gwC}
	for i := range 8 {
		ns := fmt.Sprintf("ns%d", i%3)
		s := service(fmt.Sprintf("svc%d", i), ns, 8080, fmt.Sprintf("10.0.%d.1:8080", i), fmt.Sprintf("10.0.%d.2:8080", i))
		if i%3 == 0 {
			s.Ports = append(s.Ports, model.ServicePort{Name: "admin", Port: 9090, Protocol: "TCP"})
		}
		for j := range s.Endpoints {
			s.Endpoints[j].Labels = map[string]string{"version": fmt.Sprintf("v%d", j+1)}
		}
		w.base.Services = append(w.base.Services, s)
		if i%2 == 0 {
			dr := model.DestinationRule{Meta: model.Meta{Name: s.Name, Namespace: ns}, Host: s.Hostname,
				Subsets: []model.Subset{{Name: "v1", Labels: map[string]string{"version": "v1"}}, {Name: "v2", Labels: map[string]string{"version": "v2"}}}}
			if i == 2 {
				dr.TrafficPolicy = &model.TrafficPolicy{LoadBalancer: &model.LoadBalancer{ConsistentHash: &model.ConsistentHash{HTTPHeaderName: "x-user"}}}
			}
			w.base.DestinationRules = append(w.base.DestinationRules, dr)
		}
	}
	w.base = *mesh(w.base).Local() // as a published state: normalized, cloned
	for range 10 {
		w.vs = append(w.vs, w.randomVS())
	}
	w.sort()
	return w
}

func (w *vsWorld) sort() {
	slices.SortFunc(w.vs, func(a, b model.VirtualService) int {
		return cmpStr(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (w *vsWorld) dest() model.Destination {
	if len(w.keep) > 0 {
		return w.keep[w.rng.IntN(len(w.keep))]
	}
	i := w.rng.IntN(9) // 8: a service that does not exist
	d := model.Destination{Host: fmt.Sprintf("svc%d.ns%d.svc.cluster.local", i, i%3)}
	if w.rng.IntN(3) == 0 {
		d.Port = []uint32{8080, 9090, 7000}[w.rng.IntN(3)]
	}
	if w.rng.IntN(4) == 0 {
		d.Subset = []string{"v1", "v2", "v3"}[w.rng.IntN(3)]
	}
	return d
}

func (w *vsWorld) randomVS() model.VirtualService {
	w.next++
	ns := fmt.Sprintf("ns%d", w.rng.IntN(3))
	vs := model.VirtualService{Meta: model.Meta{Name: fmt.Sprintf("vs%d", w.next), Namespace: ns}}
	w.edit(&vs, true)
	return vs
}

// edit changes vs at random; most edits are the ordinary ones (matches,
// weights, timeouts, redirects between the destinations it has; hosts,
// gateways, new destinations), a few those that must fall back.
func (w *vsWorld) edit(vs *model.VirtualService, fresh bool) {
	r := w.rng
	w.keep = nil
	if !fresh && r.IntN(10) < 8 {
		for _, hr := range vs.HTTP {
			for _, d := range hr.Route {
				w.keep = append(w.keep, d.Destination)
			}
		}
	}
	if fresh || r.IntN(4) == 0 {
		vs.Hosts = []string{vsHosts[r.IntN(len(vs.Hosts)+len(vsHosts))%len(vsHosts)]}
		if r.IntN(3) == 0 {
			vs.Hosts = append(vs.Hosts, vsHosts[r.IntN(len(vsHosts))])
		}
	}
	if fresh || r.IntN(4) == 0 {
		gws := [][]string{{"istio-system/gw-a"}, {"istio-system/gw-b"}, {"istio-system/gw-a", "istio-system/gw-c"}, {"istio-system/gw-c"}, {"istio-system/gw-a", "mesh"}}
		vs.Gateways = gws[r.IntN(len(gws))]
	}
	vs.HTTP, vs.TCP, vs.ExportTo = nil, nil, nil
	for range 1 + r.IntN(2) {
		hr := model.HTTPRoute{Name: fmt.Sprintf("r%d", r.IntN(3))}
		if r.IntN(2) == 0 {
			hr.Match = []model.HTTPMatch{{URI: &model.StringMatch{Prefix: fmt.Sprintf("/p%d", r.IntN(3))}}}
			if r.IntN(5) == 0 {
				hr.Match[0].Port = 8080
			}
			if r.IntN(6) == 0 {
				hr.Match[0].Gateways = []string{"istio-system/gw-c"}
			}
		}
		switch r.IntN(10) {
		case 0:
			hr.Redirect = &model.HTTPRedirect{URI: "/moved", RedirectCode: []uint32{301, 399}[r.IntN(2)]} // 399: an object error
		case 1:
			hr.Route = []model.HTTPRouteDestination{{Destination: w.dest(), Weight: 30}, {Destination: w.dest(), Weight: 70}}
		case 2:
			t := time.Duration(1+r.IntN(5)) * time.Second
			hr.Timeout = &t
			hr.Route = []model.HTTPRouteDestination{{Destination: w.dest()}}
		default:
			hr.Route = []model.HTTPRouteDestination{{Destination: w.dest()}}
		}
		vs.HTTP = append(vs.HTTP, hr)
	}
	w.keep = nil
	switch r.IntN(40) {
	case 0:
		vs.ExportTo = []string{"."}
	case 1:
		vs.ExportTo = []string{"istio-system"}
	case 2: // fall-back cases: tcp routes, a delegate, a gateway that does not exist
		vs.TCP = []model.TCPRoute{{Match: []model.L4Match{{Port: 9080}}, Route: []model.RouteDestination{{Destination: w.dest()}}}}
	case 3:
		vs.HTTP = append(vs.HTTP, model.HTTPRoute{Delegate: &model.Delegate{Name: "nope", Namespace: "ns0"}})
	case 4:
		vs.Gateways = []string{"istio-system/gw-missing"}
	}
}

// step edits, adds or removes VirtualServices and returns the new state.
// shared: the state shares everything unchanged with base (a copying
// source); otherwise a deep copy.
func (w *vsWorld) step(shared bool) *model.MeshState {
	w.vs = slices.Clone(w.vs)
	for range 1 + w.rng.IntN(2) {
		switch n := w.rng.IntN(10); {
		case n == 0 && len(w.vs) > 3:
			i := w.rng.IntN(len(w.vs))
			w.vs = slices.Delete(w.vs, i, i+1)
		case n == 1:
			w.vs = append(w.vs, w.randomVS())
			w.sort()
		default:
			i := w.rng.IntN(len(w.vs))
			v := w.vs[i]
			w.edit(&v, false)
			w.vs[i] = v
		}
	}
	return w.state(shared)
}

func (w *vsWorld) state(shared bool) *model.MeshState {
	c := w.base
	c.ID = "Kubernetes"
	c.VirtualServices = w.vs
	if !shared {
		return mesh(c)
	}
	return &model.MeshState{LocalCluster: "Kubernetes", Clusters: []*model.ClusterState{&c}}
}

// TestRouteRebuildMatchesFull: for many random VirtualService edits, the
// route-only rebuild gives every group exactly what a full rebuild gives
// (every resource's encoding and every version, the endpoint cache and the
// object errors), fall-backs included, also after a translation that
// failed; and the fast path is taken for many edits.
func TestRouteRebuildMatchesFull(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			w := newVSWorld(seed)
			reg := prometheus.NewRegistry()
			// fail makes inc's full translations fail (a system error: the
			// groups keep their last good build, which the next route-only
			// rebuild may not start from).
			fail := false
			envoy := func(m *model.MeshState, p translate.Proxy, o translate.Options) (*translate.Result, error) {
				if fail {
					return nil, errors.New("injected failure")
				}
				return translate.Translate(m, p, o)
			}
			inc, err := New(Config{}, Options{Envoy: envoy, EnvoyEndpoints: EnvoyEndpoints, EnvoyRoutes: EnvoyRoutes, Logger: discardLogger(), Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			full, err := New(Config{}, Options{Envoy: translate.Translate, Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []*Server{inc, full} {
				attachGateways(t, s, 1)
				n, err := ParseNode(envoyNode(node.Node{
					ID:       node.ID{Type: node.TypeRouter, IP: "10.1.0.9", Pod: "edge-0", Namespace: "ns1", DomainSuffix: "cluster.local"},
					Metadata: node.Metadata{Labels: map[string]string{"app": "edge"}, Namespace: "ns1", ClusterID: "Kubernetes"},
				}), "Kubernetes")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.attach(n); err != nil {
					t.Fatal(err)
				}
			}
			first := w.state(true)
			for _, s := range []*Server{inc, full} {
				s.Update(first)
				s.rebuild()
			}
			const steps = 150
			for i := range steps {
				m := w.step(i%3 != 0)
				fail = i%17 == 5
				for _, s := range []*Server{inc, full} {
					s.Update(m)
					s.rebuild()
				}
				if !fail {
					sameGroups(t, i, inc, full)
				}
			}
			routes := histogramCount(t, reg, "routes")
			fulls := histogramCount(t, reg, "full")
			t.Logf("FIGURE seed %d: %d edits, %d route-only rebuilds, %d full (fall-backs and first build)", seed, steps, routes, fulls)
			if routes < steps/4 {
				t.Errorf("route-only rebuilds: %d of %d edits, want many", routes, steps)
			}
			if fulls < 2 {
				t.Errorf("full rebuilds: %d, want the fall-back cases among them", fulls)
			}
		})
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, kind string) int {
	t.Helper()
	ms := metrictest.Find(t, reg, "meshgate_xds_rebuild_duration_seconds", map[string]string{"kind": kind})
	n := 0
	for _, m := range ms {
		n += int(m.GetHistogram().GetSampleCount())
	}
	return n
}

// sameGroups compares the builds of every group of a and b byte for byte.
func sameGroups(t *testing.T, step int, a, b *Server) {
	t.Helper()
	if len(a.groups) != len(b.groups) {
		t.Fatalf("step %d: %d groups, full rebuild %d", step, len(a.groups), len(b.groups))
	}
	for key, ga := range a.groups {
		gb := b.groups[key]
		if gb == nil {
			t.Fatalf("step %d: group %s missing in the full rebuild", step, key)
		}
		ta, tb := ga.target, gb.target
		for k := range numKinds {
			ka, kb := ta.kinds[k], tb.kinds[k]
			if ka.version != kb.version {
				t.Errorf("step %d group %s %s: version %s, full rebuild %s", step, key, shortType(kindTypeURL[k]), ka.version, kb.version)
			}
			if len(ka.items) != len(kb.items) {
				t.Fatalf("step %d group %s %s: %d resources, full rebuild %d", step, key, shortType(kindTypeURL[k]), len(ka.items), len(kb.items))
			}
			for n, ia := range ka.items {
				ib, ok := kb.items[n]
				if !ok || ia.hash != ib.hash || !bytes.Equal(ia.raw.ProtoReflect().GetUnknown(), ib.raw.ProtoReflect().GetUnknown()) {
					t.Fatalf("step %d group %s %s %s: differs from the full rebuild", step, key, shortType(kindTypeURL[k]), n)
				}
				if ta.snap.Resources[kindCacheType[k]].Items[n].Resource != ia.raw || ta.snap.VersionMap[kindTypeURL[k]][n] != ia.hash {
					t.Fatalf("step %d group %s %s %s: snapshot does not hold the build's resource", step, key, shortType(kindTypeURL[k]), n)
				}
			}
			if ta.snap.Resources[kindCacheType[k]].Version != ka.version {
				t.Fatalf("step %d group %s %s: snapshot version %s, build %s", step, key, shortType(kindTypeURL[k]), ta.snap.Resources[kindCacheType[k]].Version, ka.version)
			}
		}
		if !slices.Equal(ga.objErrs, gb.objErrs) {
			t.Errorf("step %d group %s: object errors %q, full rebuild %q", step, key, ga.objErrs, gb.objErrs)
		}
		if len(ga.edsRes) != len(gb.edsRes) {
			t.Fatalf("step %d group %s: %d endpoint resources, full rebuild %d", step, key, len(ga.edsRes), len(gb.edsRes))
		}
		for n, ia := range ga.edsRes {
			if gb.edsRes[n].hash != ia.hash {
				t.Fatalf("step %d group %s: endpoints %s differ", step, key, n)
			}
		}
		if !slices.Equal(slices.Sorted(maps.Keys(ga.edsByHost)), slices.Sorted(maps.Keys(gb.edsByHost))) {
			t.Fatalf("step %d group %s: endpoint index differs", step, key)
		}
	}
}
