package server

import (
	"bytes"
	"reflect"
	"unsafe"

	"github.com/meshgate/meshgate/discovery/model"
)

// meshDiff is what changed from one mesh state to the next, as the rebuild
// needs it: whether anything but endpoints changed (then every group is
// translated again), else the hostnames whose endpoints changed (then only
// the endpoint resources of those hosts are).
type meshDiff struct {
	config bool
	// vs, with config, says the configuration changed only in the
	// VirtualServices of the local cluster (and no endpoint did): these,
	// each changed one in its old and new version, one of them only when
	// it was added or removed. Then a group may rebuild only the route
	// configurations they touch (server.buildRoutes).
	vs    []*model.VirtualService
	hosts map[string]bool
	// allHosts: the endpoints of other hosts may depend on those that
	// changed (a ServiceEntry with a workloadSelector takes its endpoints
	// from the pods of Services), so every endpoint resource is recomputed.
	allHosts bool
}

// differ compares each mesh state with the one before it. It remembers
// the configuration hashes it computed (by cluster state), so a cluster
// that is not shared with the previous state is hashed once, not twice.
// Owned by the rebuild goroutine.
type differ struct {
	hashes map[*model.ClusterState]clusterHash
}

// clusterHash is the configuration hash of a cluster in two parts: its
// VirtualServices, and the rest (together what model.MeshState.ConfigHash
// covers), so that a change of VirtualServices only is told apart in one
// pass.
type clusterHash struct{ rest, vs string }

// diff compares two mesh states. Cluster generations are ignored, as
// model.MeshState.ConfigHash ignores them. It is cheap when the new state
// shares what did not change with the old one (a source that copies only
// what it changes: same cluster pointers, slices, maps and strings are
// recognised by identity, a few nanoseconds per service). A cluster whose
// configuration is not shared is compared by its configuration hash
// (model.MeshState.ConfigHash of that cluster alone), and then the
// endpoints of each service by value.
func (df *differ) diff(old, new *model.MeshState) meshDiff {
	var hashes map[*model.ClusterState]clusterHash // of new's clusters, made when one is hashed
	keep := func(c *model.ClusterState, h clusterHash) {
		if hashes == nil {
			hashes = map[*model.ClusterState]clusterHash{}
		}
		hashes[c] = h
	}
	defer func() { df.hashes = hashes }()
	if old == nil || old.MeshID != new.MeshID || old.LocalCluster != new.LocalCluster || len(old.Clusters) != len(new.Clusters) {
		return meshDiff{config: true}
	}
	// The gateways the daemon's probes find down (gwhealth) change the
	// endpoints of every host behind them: rare, so everything is rebuilt.
	if !sameSlice(old.Unreachable, new.Unreachable) && !reflect.DeepEqual(old.Unreachable, new.Unreachable) {
		return meshDiff{config: true}
	}
	d := meshDiff{}
	var touched []*model.VirtualService
	for i, a := range old.Clusters {
		b := new.Clusters[i]
		if a == b {
			if h, ok := df.hashes[a]; ok {
				keep(b, h)
			}
			continue
		}
		if a.ID != b.ID || len(a.Services) != len(b.Services) {
			return meshDiff{config: true}
		}
		sharedButVS := sameClusterConfigButVS(a, b)
		if !sameSlice(a.Services, b.Services) {
			for j := range a.Services {
				sa, sb := &a.Services[j], &b.Services[j]
				if sharedButVS && !sameServiceConfig(sa, sb) {
					sharedButVS = false
				}
				if !sameSlice(sa.Endpoints, sb.Endpoints) && !reflect.DeepEqual(sa.Endpoints, sb.Endpoints) {
					if d.hosts == nil {
						d.hosts = map[string]bool{}
					}
					d.hosts[sb.Hostname] = true
					if b.ServiceExport(sb.Namespace, sb.Name) != nil {
						// the clusterset host takes its endpoints from this Service too
						d.hosts[model.ClusterSetHostname(sb.Name, sb.Namespace)] = true
					}
				}
			}
		}
		vsOnly := false
		switch {
		case sharedButVS && sameSlice(a.VirtualServices, b.VirtualServices):
		case sharedButVS:
			vsOnly = true
		default:
			ha, ok := df.hashes[a]
			if !ok {
				ha = configHash(a)
			}
			hb := configHash(b)
			keep(b, hb)
			if ha.rest != hb.rest {
				return meshDiff{config: true}
			}
			vsOnly = ha.vs != hb.vs
		}
		if vsOnly {
			vs, ok := vsChanges(a.VirtualServices, b.VirtualServices)
			if !ok || (len(vs) > 0 && b.ID != new.LocalCluster) {
				return meshDiff{config: true} // (remote VirtualServices are not translated: rare)
			}
			touched = append(touched, vs...)
		}
	}
	if len(touched) > 0 {
		if len(d.hosts) > 0 {
			return meshDiff{config: true} // both at once: rare, rebuilt whole
		}
		return meshDiff{config: true, vs: touched}
	}
	if len(d.hosts) > 0 {
		for _, se := range new.Local().ServiceEntries {
			if se.WorkloadSelector != nil {
				d.allHosts = true
			}
		}
	}
	return d
}

// configHash is the configuration hash of one cluster, in two parts.
func configHash(c *model.ClusterState) clusterHash {
	rest := *c
	rest.VirtualServices = nil
	vs := model.ClusterState{VirtualServices: c.VirtualServices}
	return clusterHash{
		rest: (&model.MeshState{Clusters: []*model.ClusterState{&rest}}).ConfigHash(),
		vs:   (&model.MeshState{Clusters: []*model.ClusterState{&vs}}).ConfigHash(),
	}
}

// vsChanges compares two lists of VirtualServices by namespace/name: the
// changed ones in both versions, the added and removed ones, in no
// particular order. ok is false when the lists cannot be compared that way
// (a name twice) or the ones in both are not in the same order (the order
// of VirtualServices bound to one gateway orders its routes).
func vsChanges(a, b []model.VirtualService) (out []*model.VirtualService, ok bool) {
	if len(a) == len(b) {
		same := true
		for i := range a {
			if a[i].Name != b[i].Name || a[i].Namespace != b[i].Namespace {
				same = false
				break
			}
		}
		if same { // the common case: one edited in place
			seen := make(map[string]bool, len(a))
			for i := range a {
				if k := a[i].NamespacedName(); seen[k] {
					return nil, false
				} else {
					seen[k] = true
				}
				if !sameVirtualService(&a[i], &b[i]) && !reflect.DeepEqual(a[i], b[i]) {
					out = append(out, &a[i], &b[i])
				}
			}
			return out, true
		}
	}
	pos := make(map[string]int, len(a))
	for i := range a {
		k := a[i].NamespacedName()
		if _, dup := pos[k]; dup {
			return nil, false
		}
		pos[k] = i
	}
	seen := make(map[string]bool, len(b))
	last := -1
	for i := range b {
		k := b[i].NamespacedName()
		if seen[k] {
			return nil, false
		}
		seen[k] = true
		j, found := pos[k]
		if !found {
			out = append(out, &b[i])
			continue
		}
		if j < last {
			return nil, false
		}
		last = j
		if !sameVirtualService(&a[j], &b[i]) && !reflect.DeepEqual(a[j], b[i]) {
			out = append(out, &a[j], &b[i])
		}
	}
	for i := range a {
		if !seen[a[i].NamespacedName()] {
			out = append(out, &a[i])
		}
	}
	return out, true
}

// sameVirtualService reports whether everything of two VirtualServices is
// shared (false says "look closer").
func sameVirtualService(a, b *model.VirtualService) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && a.Source == b.Source && a.RouteSemantics == b.RouteSemantics &&
		sameMap(a.Labels, b.Labels) && sameMap(a.Annotations, b.Annotations) &&
		sameSlice(a.Hosts, b.Hosts) && sameSlice(a.Gateways, b.Gateways) && sameSlice(a.HTTP, b.HTTP) &&
		sameSlice(a.TLS, b.TLS) && sameSlice(a.TCP, b.TCP) && sameSlice(a.ExportTo, b.ExportTo)
}

// sameClusterConfigButVS reports whether everything of two states of a
// cluster but services, endpoints, VirtualServices and generation is
// shared (false says "look closer", not "different").
func sameClusterConfigButVS(a, b *model.ClusterState) bool {
	return a.Network == b.Network && a.TrustDomain == b.TrustDomain && bytes.Equal(a.TrustBundle, b.TrustBundle) &&
		sameSlice(a.Namespaces, b.Namespaces) && sameSlice(a.Gateways, b.Gateways) &&
		sameSlice(a.DestinationRules, b.DestinationRules) &&
		sameSlice(a.ServiceEntries, b.ServiceEntries) && sameSlice(a.Secrets, b.Secrets) &&
		sameSlice(a.NetworkGateways, b.NetworkGateways) && sameSlice(a.ServiceExports, b.ServiceExports)
}

// sameServiceConfig reports whether everything of a service but its
// endpoints is shared (false says "look closer").
func sameServiceConfig(a, b *model.Service) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && a.Source == b.Source && a.Hostname == b.Hostname &&
		a.ClusterIP == b.ClusterIP && a.Type == b.Type && a.ExternalName == b.ExternalName &&
		sameMap(a.Labels, b.Labels) && sameMap(a.Annotations, b.Annotations) && sameMap(a.Selector, b.Selector) &&
		sameSlice(a.Ports, b.Ports) && sameSlice(a.ExternalIPs, b.ExternalIPs) && sameSlice(a.LoadBalancerIPs, b.LoadBalancerIPs)
}

// sameSlice reports whether a and b are the same slice (same array and
// length): then they are equal without looking.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// sameMap reports whether a and b are the same map (or both empty). A map
// value is a pointer to the map's header.
func sameMap[K comparable, V any](a, b map[K]V) bool {
	return len(a) == len(b) && (len(a) == 0 || *(*unsafe.Pointer)(unsafe.Pointer(&a)) == *(*unsafe.Pointer)(unsafe.Pointer(&b)))
}
