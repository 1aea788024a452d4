package server

import (
	"maps"
	"slices"
	"testing"

	"github.com/meshgate/meshgate/discovery/model"
)

func TestDiffMesh(t *testing.T) {
	echo, web := "echo.default.svc.cluster.local", "web.default.svc.cluster.local"
	base := mesh(baseCluster())
	// shared copies base's local cluster and lets edit change it: what the
	// copy does not replace stays shared with base.
	shared := func(edit func(c *model.ClusterState)) *model.MeshState {
		c := *base.Local()
		c.Services = slices.Clone(c.Services)
		edit(&c)
		return base.WithCluster(&c)
	}
	fresh := func(edit func(c *model.ClusterState)) *model.MeshState {
		c := base.Local().Clone()
		edit(c)
		return base.WithCluster(c)
	}
	moveEcho := func(c *model.ClusterState) {
		c.Services[0].Endpoints = slices.Clone(c.Services[0].Endpoints)
		c.Services[0].Endpoints[1].Address = "10.0.0.3"
	}
	for _, tc := range []struct {
		name     string
		old, new *model.MeshState
		config   bool
		hosts    []string
		allHosts bool
	}{
		{name: "first state", old: nil, new: base, config: true},
		{name: "same state", old: base, new: base},
		{name: "shared, generation only", old: base, new: shared(func(c *model.ClusterState) { c.Generation++ })},
		{name: "shared, one endpoint", old: base, new: shared(moveEcho), hosts: []string{echo}},
		{name: "fresh, equal", old: base, new: fresh(func(*model.ClusterState) {})},
		{name: "fresh, one endpoint", old: base, new: fresh(moveEcho), hosts: []string{echo}},
		{name: "fresh, endpoints of two services", old: base, new: fresh(func(c *model.ClusterState) {
			moveEcho(c)
			c.Services[1].Endpoints = nil
		}), hosts: []string{echo, web}},
		{name: "shared, a gateway port", old: base, new: shared(func(c *model.ClusterState) {
			c.Gateways = slices.Clone(c.Gateways)
			c.Gateways[0].Servers = slices.Clone(c.Gateways[0].Servers)
			c.Gateways[0].Servers[0].Port.Number = 81
		}), config: true},
		{name: "fresh, a service port and an endpoint", old: base, new: fresh(func(c *model.ClusterState) {
			moveEcho(c)
			c.Services[1].Ports[0].Port = 81
		}), config: true},
		{name: "shared, service labels replaced by equal ones", old: base, new: shared(func(c *model.ClusterState) {
			c.Services[1].Labels = map[string]string{}
		})},
		{name: "a service added", old: base, new: shared(func(c *model.ClusterState) {
			c.Services = append(c.Services, service("zz", "default", 80))
		}), config: true},
		{name: "a gateway found unreachable by the probes", old: base, new: func() *model.MeshState {
			m := *base
			m.Unreachable = []model.NetworkGateway{{Network: "n2", Cluster: "c2", Address: "192.0.2.9", Port: 15443}}
			return &m
		}(), config: true},
		{name: "shared, a ServiceExport added", old: base, new: shared(func(c *model.ClusterState) {
			c.ServiceExports = []model.ServiceExport{{Meta: model.Meta{Name: "echo", Namespace: "default"}}}
		}), config: true},
		{name: "exported, one endpoint: the clusterset host too", old: mesh(exported(baseCluster())), new: func() *model.MeshState {
			c := exported(baseCluster())
			c.Services[0].Endpoints[1].Address = "10.0.0.3"
			return mesh(c)
		}(), hosts: []string{echo, "echo.default.svc.clusterset.local"}},
		{name: "a cluster added", old: base, new: base.WithCluster(&model.ClusterState{ID: "remote"}), config: true},
		{name: "a workloadSelector entry takes endpoints from services", old: mesh(withSelectorEntry(baseCluster())),
			new: func() *model.MeshState {
				c := withSelectorEntry(baseCluster())
				c.Services[0].Endpoints[1].Address = "10.0.0.3"
				return mesh(c)
			}(), hosts: []string{echo}, allHosts: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var df differ
			d := df.diff(tc.old, tc.new)
			if d.config != tc.config || d.allHosts != tc.allHosts {
				t.Errorf("config %v allHosts %v, want %v %v", d.config, d.allHosts, tc.config, tc.allHosts)
			}
			if got := slices.Sorted(maps.Keys(d.hosts)); !slices.Equal(got, tc.hosts) {
				t.Errorf("hosts %v, want %v", got, tc.hosts)
			}
		})
	}
}

// The differ hashes a cluster whose configuration is not shared once per
// state: the next comparison takes the previous state's hash.
func TestDiffMeshRemembersHashes(t *testing.T) {
	var df differ
	a := mesh(baseCluster())
	b := mesh(baseCluster())
	df.diff(a, b)
	if len(df.hashes) != 1 || df.hashes[b.Local()] == (clusterHash{}) {
		t.Fatalf("hashes after a fresh state: %v, want the new cluster's", df.hashes)
	}
	c := mesh(baseCluster())
	if d := df.diff(b, c); d.config || len(d.hosts) > 0 {
		t.Errorf("equal states differ: %+v", d)
	}
	if _, ok := df.hashes[b.Local()]; ok || df.hashes[c.Local()] == (clusterHash{}) {
		t.Errorf("hashes kept: %v, want only the newest state's", df.hashes)
	}
}

func withSelectorEntry(c model.ClusterState) model.ClusterState {
	c.ServiceEntries = append(c.ServiceEntries, model.ServiceEntry{
		Meta: model.Meta{Name: "vms", Namespace: "default"}, Hosts: []string{"vm.example.com"},
		WorkloadSelector: map[string]string{"app": "echo"},
	})
	return c
}

// exported gives c a ServiceExport of echo.
func exported(c model.ClusterState) model.ClusterState {
	c.ServiceExports = []model.ServiceExport{{Meta: model.Meta{Name: "echo", Namespace: "default"}}}
	return c
}

// TestDiffMeshVirtualServices: a change only in the local cluster's
// VirtualServices is told apart, with the changed ones in both versions;
// anything else at the same time, a reordering, a name twice or a remote
// cluster's VirtualService is a configuration change like any other.
func TestDiffMeshVirtualServices(t *testing.T) {
	base := mesh(benchCluster(4))
	shared := func(edit func(c *model.ClusterState)) *model.MeshState {
		c := *base.Local()
		c.VirtualServices = slices.Clone(c.VirtualServices)
		edit(&c)
		return base.WithCluster(&c)
	}
	fresh := func(edit func(c *model.ClusterState)) *model.MeshState {
		c := base.Local().Clone()
		edit(c)
		return base.WithCluster(c)
	}
	retarget := func(c *model.ClusterState) {
		c.VirtualServices[1].Hosts = []string{"other.example.com"}
	}
	remote := benchCluster(1)
	remote.ID = "remote"
	withRemote := base.WithCluster(remote.Clone())
	remote.VirtualServices[0].Hosts = []string{"x.example.com"}
	for _, tc := range []struct {
		name     string
		old, new *model.MeshState
		config   bool
		vs       []string // namespace/name of each version listed
	}{
		{name: "shared, one edited", new: shared(retarget), config: true, vs: []string{"ns1/svc00001", "ns1/svc00001"}},
		{name: "fresh, one edited", new: fresh(retarget), config: true, vs: []string{"ns1/svc00001", "ns1/svc00001"}},
		{name: "shared, replaced by an equal one", new: shared(func(c *model.ClusterState) {
			c.VirtualServices[1].Hosts = slices.Clone(c.VirtualServices[1].Hosts)
		})},
		{name: "one removed", new: shared(func(c *model.ClusterState) {
			c.VirtualServices = slices.Delete(c.VirtualServices, 2, 3)
		}), config: true, vs: []string{"ns2/svc00002"}},
		{name: "one added", new: shared(func(c *model.ClusterState) {
			c.VirtualServices = append(c.VirtualServices, model.VirtualService{Meta: model.Meta{Name: "zz", Namespace: "ns9"}, Hosts: []string{"zz.example.com"}})
		}), config: true, vs: []string{"ns9/zz"}},
		{name: "reordered", new: shared(func(c *model.ClusterState) {
			c.VirtualServices[0], c.VirtualServices[1] = c.VirtualServices[1], c.VirtualServices[0]
		}), config: true},
		{name: "a name twice", new: shared(func(c *model.ClusterState) {
			c.VirtualServices[1].Meta = c.VirtualServices[0].Meta
		}), config: true},
		{name: "and an endpoint", new: shared(func(c *model.ClusterState) {
			retarget(c)
			c.Services = slices.Clone(c.Services)
			c.Services[0].Endpoints = slices.Clone(c.Services[0].Endpoints)
			c.Services[0].Endpoints[0].Address = "10.9.9.9"
		}), config: true},
		{name: "and a gateway", new: fresh(func(c *model.ClusterState) {
			retarget(c)
			c.Gateways[0].Servers[0].Port.Number = 81
		}), config: true},
		{name: "a remote cluster's", old: withRemote, new: withRemote.WithCluster(remote.Clone()), config: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := tc.old
			if old == nil {
				old = base
			}
			var df differ
			d := df.diff(old, tc.new)
			var got []string
			for _, v := range d.vs {
				got = append(got, v.NamespacedName())
			}
			slices.Sort(got)
			if d.config != tc.config || !slices.Equal(got, tc.vs) || len(d.hosts) > 0 {
				t.Errorf("config %v vs %v hosts %v, want %v %v none", d.config, got, d.hosts, tc.config, tc.vs)
			}
		})
	}
}
