package translate

import (
	"fmt"
	"slices"

	"github.com/meshgate/meshgate/discovery/model"
)

// Translate builds the configuration of proxy from mesh. The returned error is
// a system-level failure (nothing may be published); problems with single
// objects are in Result.Errors.
func Translate(mesh *model.MeshState, proxy Proxy, opts Options) (*Result, error) {
	if mesh == nil {
		return nil, fmt.Errorf("translate: nil mesh state")
	}
	return BuildIndex(mesh, opts).Translate(proxy), nil
}

// builder holds the state of one proxy's translation.
type builder struct {
	ix             *Index
	proxy          *Proxy
	out            *Result
	tlsHostsByPort map[uint32]map[string]string
	clusterRefs    map[string]clusterRef
	credentials    map[string]credential
	rds            []string
	droppedRemote  int
	// tcpClusters are the clusters a tcp_proxy forwards to (the rest are
	// reached by HTTP routes only).
	tcpClusters map[string]bool
	// routeRefs collects the clusters the route configuration being built
	// names (RouteDeps), nil while listeners are built.
	routeRefs []string
	// newRefs, when set, collects the cluster references a route worker
	// finds instead of clusterRefs (buildRouteItems adds them there).
	newRefs *[]namedRef
}

func (b *builder) errorf(obj model.Ref, field, format string, args ...any) {
	b.out.Errors = append(b.out.Errors, model.Errorf(obj, field, format, args...))
}

func (b *builder) warnf(format string, args ...any) {
	b.out.Warnings = append(b.out.Warnings, fmt.Errorf(format, args...))
}

// completeProxy fills in a proxy's network from its cluster's.
func (ix *Index) completeProxy(p Proxy) Proxy {
	if p.Network == "" {
		if c := ix.mesh.Cluster(p.ClusterID); c != nil {
			p.Network = c.Network
		} else {
			p.Network = ix.local.Network
		}
	}
	return p
}

// Translate builds the configuration of one proxy from the index.
func (ix *Index) Translate(p Proxy) *Result {
	p = ix.completeProxy(p)
	b := &builder{
		ix: ix, proxy: &p, out: &Result{},
		tlsHostsByPort: map[uint32]map[string]string{},
		clusterRefs:    map[string]clusterRef{},
		credentials:    map[string]credential{},
		tcpClusters:    map[string]bool{},
	}
	b.out.Errors = append(b.out.Errors, ix.errs...)
	b.out.RouteDeps = map[string]RouteDeps{}
	if mg := ix.mergeGateways(&p, &b.out.Errors); mg != nil {
		b.buildListeners(mg)
		b.out.ListenerClusters = model.SortedKeys(b.clusterRefs)
		b.out.Routes = append(b.out.Routes, b.routeConfigs(mg, b.routeNames())...)
	}
	b.buildClusters()
	b.buildSecrets()
	b.validate()
	b.sortOutput()
	return b.out
}

// routeNames returns the RDS names the listeners refer to, sorted.
func (b *builder) routeNames() []string {
	var names []string
	for _, l := range b.out.Listeners {
		for _, fc := range l.GetFilterChains() {
			if n := rdsName(fc); n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}
