package translate

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/xds/node"
)

// TestRoutesForMatchesTranslate checks RoutesFor's contract on every golden
// case, proxy and flavour, for edits of each VirtualService (removed, a
// timeout, another's hosts, another's destination, exportTo ".", its
// gateways reversed, a copy added): when RoutesFor accepts, the route
// configurations it rebuilds are exactly Translate's of the new state, those
// it does not rebuild and the listeners are unchanged, the errors outside
// the route configurations are unchanged, and when the cluster names the
// route configurations and listeners refer to are unchanged so are the
// clusters and endpoints.
func TestRoutesForMatchesTranslate(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(casesDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var accepted, declined, rebuilt int
	for _, dir := range dirs {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() || filepath.Base(dir)[0] == '_' {
			continue
		}
		mesh, _ := caseMesh(t, dir)
		vss := mesh.Local().VirtualServices
		if len(vss) == 0 {
			continue
		}
		for _, cp := range caseProxies(t, dir) {
			for _, flavor := range []Flavor{FlavorIstio, FlavorEnvoy} {
				proxy := Proxy{Type: cp.Type, IP: cp.IP, Namespace: cp.Namespace, Labels: cp.Labels, ClusterID: mesh.LocalCluster, Flavor: flavor}
				if nw, ok := cp.Metadata["NETWORK"].(string); ok {
					proxy.Network = nw
				}
				if proxy.Type == "" {
					proxy.Type = node.TypeRouter
				}
				opts := caseMeshConfig(t, dir)
				old, err := Translate(mesh, proxy, opts)
				if err != nil {
					t.Fatal(err)
				}
				for i := range vss {
					for _, ed := range vsEdits(vss, i) {
						name := fmt.Sprintf("%s/%s/%s/%s/%s", filepath.Base(dir), cp.Name, flavor, vss[i].NamespacedName(), ed.name)
						c := *mesh.Local()
						c.VirtualServices = ed.vs
						next := mesh.WithCluster(&c)
						up, ok := RoutesFor(next, proxy, opts, ed.touched, slices.Sorted(mapKeys(old.RouteDeps)))
						if !ok {
							declined++
							continue
						}
						accepted++
						rebuilt += len(up.Names)
						full, err := Translate(next, proxy, opts)
						if err != nil {
							t.Fatal(err)
						}
						checkRouteUpdate(t, name, old, full, up)
					}
				}
			}
		}
	}
	t.Logf("FIGURE RoutesFor: %d edits accepted (%d route configurations rebuilt), %d declined", accepted, rebuilt, declined)
	if accepted == 0 || declined == 0 {
		t.Errorf("accepted %d, declined %d: want both", accepted, declined)
	}
}

type vsEdit struct {
	name    string
	vs      []model.VirtualService
	touched []*model.VirtualService
}

// vsEdits are the edits of vss[i] the test makes.
func vsEdits(vss []model.VirtualService, i int) []vsEdit {
	other := vss[(i+1)%len(vss)]
	edit := func(name string, f func(v *model.VirtualService)) vsEdit {
		out := slices.Clone(vss)
		f(&out[i])
		return vsEdit{name: name, vs: out, touched: []*model.VirtualService{&vss[i], &out[i]}}
	}
	eds := []vsEdit{
		{name: "removed", vs: slices.Delete(slices.Clone(vss), i, i+1), touched: []*model.VirtualService{&vss[i]}},
		edit("exportTo", func(v *model.VirtualService) { v.ExportTo = []string{"."} }),
		edit("gateways", func(v *model.VirtualService) { v.Gateways = slices.Clone(v.Gateways); slices.Reverse(v.Gateways) }),
		edit("other's hosts", func(v *model.VirtualService) { v.Hosts = other.Hosts }),
	}
	if len(vss[i].HTTP) > 0 {
		eds = append(eds, edit("timeout", func(v *model.VirtualService) {
			d := 3 * time.Second
			v.HTTP = slices.Clone(v.HTTP)
			v.HTTP[0].Timeout = &d
		}))
		if len(other.HTTP) > 0 && len(other.HTTP[0].Route) > 0 {
			eds = append(eds, edit("other's destination", func(v *model.VirtualService) {
				v.HTTP = slices.Clone(v.HTTP)
				v.HTTP[0].Route = other.HTTP[0].Route
			}))
		}
	}
	cp := vss[i]
	cp.Name += "-copy"
	added := slices.Insert(slices.Clone(vss), i+1, cp)
	eds = append(eds, vsEdit{name: "copy added", vs: added, touched: []*model.VirtualService{&added[i+1]}})
	return eds
}

func checkRouteUpdate(t *testing.T, name string, old, full *Result, up *RouteUpdate) {
	t.Helper()
	if !sameMessages(old.Listeners, full.Listeners) {
		t.Errorf("%s: listeners changed", name)
	}
	if !slices.Equal(slices.Sorted(mapKeys(old.RouteDeps)), slices.Sorted(mapKeys(full.RouteDeps))) {
		t.Errorf("%s: route configuration names changed", name)
	}
	oldRC, fullRC, upRC := byRouteName(old), byRouteName(full), map[string]proto.Message{}
	for _, rc := range up.Routes {
		upRC[rc.GetName()] = rc
	}
	for n, d := range full.RouteDeps {
		if slices.Contains(up.Names, n) {
			if !sameMessage(upRC[n], fullRC[n]) || !sameDeps(up.Deps[n], d) {
				t.Errorf("%s: route configuration %s rebuilt differs from Translate's", name, n)
			}
			continue
		}
		if !sameMessage(oldRC[n], fullRC[n]) || !sameDeps(old.RouteDeps[n], d) {
			t.Errorf("%s: route configuration %s not rebuilt but changed", name, n)
		}
	}
	if a, b := otherErrors(old), otherErrors(full); !slices.Equal(a, b) {
		t.Errorf("%s: errors outside the route configurations changed: %q, now %q", name, a, b)
	}
	if slices.Equal(clusterRefNames(old), clusterRefNames(full)) {
		if !sameMessages(old.Clusters, full.Clusters) || !sameMessages(old.Endpoints, full.Endpoints) {
			t.Errorf("%s: the same cluster references give other clusters or endpoints", name)
		}
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func byRouteName(r *Result) map[string]proto.Message {
	out := map[string]proto.Message{}
	for _, rc := range r.Routes {
		out[rc.GetName()] = rc
	}
	return out
}

func sameMessage(a, b proto.Message) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ab, err1 := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	bb, err2 := proto.MarshalOptions{Deterministic: true}.Marshal(b)
	return err1 == nil && err2 == nil && string(ab) == string(bb)
}

func sameMessages[T proto.Message](a, b []T) bool {
	return slices.EqualFunc(a, b, func(x, y T) bool { return sameMessage(x, y) })
}

func sameDeps(a, b RouteDeps) bool {
	return slices.Equal(a.Clusters, b.Clusters) && slices.Equal(errorStrings(a.Errors), errorStrings(b.Errors))
}

func errorStrings(errs []error) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// otherErrors are r's errors that no route configuration reported.
func otherErrors(r *Result) []string {
	var out []string
	for _, e := range r.Errors {
		mine := false
		for _, d := range r.RouteDeps {
			if slices.Contains(d.Errors, e) {
				mine = true
			}
		}
		if !mine {
			out = append(out, e.Error())
		}
	}
	return out
}

// clusterRefNames are every cluster name r's listeners and route
// configurations refer to.
func clusterRefNames(r *Result) []string {
	out := slices.Clone(r.ListenerClusters)
	for _, d := range r.RouteDeps {
		out = append(out, d.Clusters...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
