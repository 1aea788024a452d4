package translate

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshgate/meshgate/discovery/model"
	"github.com/meshgate/meshgate/sni"
)

// Query asks Explain about one thing a proxy has or lacks. Exactly one of
// its fields is set.
type Query struct {
	// Host is a request host (an HTTP Host or a TLS SNI at an ingress).
	Host string `json:"host,omitempty"`
	// Cluster is an Envoy cluster name, outbound|port|subset|host.
	Cluster string `json:"cluster,omitempty"`
	// Endpoint is IP:PORT.
	Endpoint string `json:"endpoint,omitempty"`
	// SNI is a mesh SNI, outbound_.port_.subset_.host (east-west gateways).
	SNI string `json:"sni,omitempty"`
}

func (q Query) String() string {
	switch {
	case q.Host != "":
		return "host " + q.Host
	case q.Cluster != "":
		return "cluster " + q.Cluster
	case q.Endpoint != "":
		return "endpoint " + q.Endpoint
	}
	return "SNI " + q.SNI
}

// Explanation answers a Query for one proxy: whether it has the thing,
// and why (Because: the objects that produced it) or why not (Missing:
// each reason found, most basic first).
type Explanation struct {
	Query   Query    `json:"query"`
	Present bool     `json:"present"`
	Because []Origin `json:"because,omitempty"`
	Missing []string `json:"missing,omitempty"`
	// Notes are what the federation history adds to a present answer
	// (endpoints of a withdrawn cluster left out, say).
	Notes []string `json:"notes,omitempty"`
	// Unavailable are the remote clusters that bear on the answer but are
	// not served: withdrawn, hidden, refused, or holding a refused newer
	// record (ExplainWithHistory).
	Unavailable []model.ClusterProvenance `json:"unavailableClusters,omitempty"`
}

// Origin is one object a resource came from: its kind, namespace/name,
// where it was read (Meta.Source: a file, kube:<cluster>), the cluster it
// belongs to with the generation of that cluster's state, and what it
// contributed.
type Origin struct {
	Kind       string `json:"kind"`
	Object     string `json:"object"`
	Source     string `json:"source,omitempty"`
	Cluster    string `json:"cluster,omitempty"`
	Generation uint64 `json:"generation,omitempty"`
	Detail     string `json:"detail"`
	// Learned is how the daemon came to hold that cluster's state, when it
	// came over federation at this generation: the peer it was received
	// from, the daemon that published it, when (ExplainWithHistory).
	Learned *model.ClusterProvenance `json:"learned,omitempty"`
}

// Explain says why proxy has, or does not have, what q names, by the
// translator's own rules: it translates the proxy and then looks the
// answer up with the lookups the translation used (gateway selection,
// server hosts, VirtualService binding, exportTo, DestinationRule
// precedence, the east-west gateways of each network and split horizon).
// Nothing is recorded while translating, so translation costs the same
// with or without it (BenchmarkExplain: one translation plus the lookups).
func Explain(mesh *model.MeshState, proxy Proxy, opts Options, q Query) (*Explanation, error) {
	return ExplainWithHistory(mesh, proxy, opts, q, nil)
}

// ExplainWithHistory is Explain with the daemon's federation history
// (federation.Node.History): each origin of a remote cluster says through
// which peer, from which daemon, at which generation and when its state was
// learned; an answer that is missing says which clusters that had it are
// not served (withdrawn at T after their last daemon went down, hidden,
// refused as not admitted, or holding a refused newer record: fenced, bad
// signature). hist may be nil (offline: no federation).
func ExplainWithHistory(mesh *model.MeshState, proxy Proxy, opts Options, q Query, hist []model.ClusterProvenance) (*Explanation, error) {
	n := 0
	for _, s := range []string{q.Host, q.Cluster, q.Endpoint, q.SNI} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("explain: name exactly one of a host, a cluster, an endpoint or an SNI")
	}
	ix := BuildIndex(mesh, opts)
	p := ix.completeProxy(proxy)
	res := ix.Translate(p)
	e := &explainer{ix: ix, p: p, res: res, out: &Explanation{Query: q}}
	switch {
	case q.Host != "":
		e.host(q.Host)
	case q.Cluster != "":
		name, err := sni.ParseClusterName(q.Cluster)
		if err != nil {
			return nil, fmt.Errorf("explain: cluster %q: %w", q.Cluster, err)
		}
		e.cluster(q.Cluster, name)
	case q.SNI != "":
		name, err := sni.Parse(q.SNI)
		if err != nil {
			return nil, fmt.Errorf("explain: SNI %q: %w", q.SNI, err)
		}
		e.sni(q.SNI, name)
	default:
		host, port, err := net.SplitHostPort(q.Endpoint)
		pn, perr := strconv.ParseUint(port, 10, 32)
		if err != nil || perr != nil || net.ParseIP(host) == nil {
			return nil, fmt.Errorf("explain: endpoint %q: want IP:PORT", q.Endpoint)
		}
		e.endpoint(host, uint32(pn))
	}
	e.history(hist)
	return e.out, nil
}

type explainer struct {
	ix  *Index
	p   Proxy
	res *Result
	out *Explanation
}

func (e *explainer) because(kind model.Kind, m model.Meta, c *model.ClusterState, format string, args ...any) {
	o := Origin{Kind: string(kind), Object: m.NamespacedName(), Source: m.Source, Detail: fmt.Sprintf(format, args...)}
	if m.Namespace == "" {
		o.Object = m.Name
	}
	if c != nil {
		o.Cluster, o.Generation = c.ID, c.Generation
	}
	if !slices.Contains(e.out.Because, o) {
		e.out.Because = append(e.out.Because, o)
	}
}

func (e *explainer) missing(format string, args ...any) {
	e.out.Missing = append(e.out.Missing, fmt.Sprintf(format, args...))
}

// gateways returns the local Gateways that select the proxy, or says why
// there is none.
func (e *explainer) gateways() []*model.Gateway {
	gws := e.ix.gatewaysForProxy(&e.p)
	if len(gws) == 0 {
		if selectors, _ := Unselected(e.ix.mesh, e.p); len(selectors) > 0 {
			e.missing("no Gateway selects the proxy (labels %s); the Gateways select: %s", LabelString(e.p.Labels), strings.Join(selectors, "; "))
		} else {
			e.missing("no Gateway selects the proxy (labels %s): there is no valid Gateway", LabelString(e.p.Labels))
		}
	}
	return gws
}

// host: which Gateway server admits it, which VirtualService routes it.
func (e *explainer) host(h string) {
	gws := e.gateways()
	if len(gws) == 0 {
		return
	}
	var servers []string
	admitted := false
	for _, g := range gws {
		for si, s := range g.Servers {
			hosts := sanitizeServerHosts(s.Hosts, g.Namespace)
			servers = append(servers, fmt.Sprintf("%s servers[%d] port %d hosts %s", g.NamespacedName(), si, s.Port.Number, strings.Join(s.Hosts, ",")))
			if !slices.ContainsFunc(hosts, func(sh string) bool { return hostMatches(h, sh) }) {
				continue
			}
			admitted = true
			e.because(model.KindGateway, g.Meta, e.ix.local, "servers[%d] (port %d, %s) admits %s", si, s.Port.Number, s.Port.Protocol, h)
			for _, vs := range e.ix.virtualServicesForGateway(g.Namespace+"/"+g.Name, e.p.Namespace) {
				if slices.ContainsFunc(vs.hosts, func(vh string) bool { return hostMatches(h, vh) }) {
					e.because(model.KindVirtualService, vs.Meta, e.ix.local, "hosts %s, bound to gateway %s/%s, routes %s", strings.Join(vs.Hosts, ","), g.Namespace, g.Name, h)
				}
			}
		}
	}
	if !admitted {
		e.missing("no server of the Gateways that select the proxy admits host %s: %s", h, strings.Join(servers, "; "))
		return
	}
	routed := false
	for _, o := range e.out.Because {
		if o.Kind == string(model.KindVirtualService) {
			routed = true
		}
	}
	if !routed {
		var hidden []string
		for _, vs := range e.ix.vss {
			if slices.ContainsFunc(vs.hosts, func(vh string) bool { return hostMatches(h, vh) }) {
				why := "not bound to a Gateway that selects the proxy (gateways " + strings.Join(vs.gateways, ",") + ")"
				if !exportedTo(vs.ExportTo, vs.Namespace, e.p.Namespace) {
					why = "not exported to namespace " + e.p.Namespace + " (exportTo " + strings.Join(vs.ExportTo, ",") + ")"
				}
				hidden = append(hidden, vs.Key+" "+why)
			}
		}
		if len(hidden) > 0 {
			e.missing("no VirtualService routes %s for this proxy: %s", h, strings.Join(hidden, "; "))
		} else {
			e.missing("no VirtualService has host %s (an HTTP server without routes answers 404; a TLS PASSTHROUGH server needs a tls route)", h)
		}
	}
	e.out.Present = routed
}

// cluster: the Service or ServiceEntry behind it, the DestinationRule that
// shapes it and the subset, and the endpoints it has.
func (e *explainer) cluster(name string, n sni.Name) {
	for _, c := range e.res.Clusters {
		if c.GetName() == name {
			e.out.Present = true
		}
	}
	svc := e.ix.service(n.Host, e.p.Namespace)
	switch {
	case svc == nil && e.ix.services[n.Host] != nil:
		hidden := e.ix.services[n.Host]
		kind, exportTo := model.KindService, "annotation "+AnnotationExportTo+" "+strings.Join(hidden.exportTo, ",")
		if hidden.Entry != nil {
			kind, exportTo = model.KindServiceEntry, "exportTo "+strings.Join(hidden.exportTo, ",")
		}
		if len(hidden.exportTo) == 0 {
			exportTo = "mesh default exportTo " + strings.Join(e.ix.opts.DefaultServiceExportTo, ",")
		}
		e.missing("%s %s/%s (host %s) is not exported to namespace %s (%s)", kind, hidden.Namespace, hidden.Name, n.Host, e.p.Namespace, exportTo)
		return
	case svc == nil:
		e.missing("no Service or ServiceEntry has host %s in any cluster of the mesh", n.Host)
		return
	}
	if _, ok := svc.port(n.Port); !ok {
		ports := make([]string, 0, len(svc.Ports))
		for _, p := range svc.Ports {
			ports = append(ports, strconv.Itoa(int(p.Port)))
		}
		e.missing("host %s has no port %d (ports %s)", n.Host, n.Port, strings.Join(ports, ","))
	}
	if svc.Entry != nil {
		e.because(model.KindServiceEntry, svc.Entry.Meta, e.ix.local, "host %s (%s, resolution %s)", n.Host, svc.Entry.Location, svc.Entry.Resolution)
	}
	for _, in := range svc.Instances {
		ready := 0
		for _, ep := range in.Svc.Endpoints {
			if ep.Ready {
				ready++
			}
		}
		e.because(model.KindService, in.Svc.Meta, in.Cluster, "host %s in cluster %s (%s): %d ready of %d endpoints", n.Host, in.Cluster.ID, networkName(in.Cluster.Network), ready, len(in.Svc.Endpoints))
		e.throughGateways(n.Host, in.Cluster, in.Svc.Endpoints)
	}
	dr := e.ix.destinationRule(n.Host, e.p.Namespace, svc.Namespace, e.p.Labels)
	if dr != nil {
		e.because(model.KindDestinationRule, dr.Meta, e.ix.local, "traffic policy of host %s for this proxy", n.Host)
	}
	if n.Subset != "" {
		found := false
		if dr != nil {
			for _, s := range dr.Subsets {
				if s.Name == n.Subset {
					found = true
				}
			}
		}
		if !found {
			e.missing("subset %s is not defined by the DestinationRule this proxy uses for %s", n.Subset, n.Host)
		}
	}
	if e.out.Present {
		for _, cla := range e.res.Endpoints {
			if cla.GetClusterName() == name {
				count := 0
				for _, l := range cla.GetEndpoints() {
					count += len(l.GetLbEndpoints())
				}
				if count == 0 {
					e.missing("the cluster has no endpoints: no ready endpoint of %s (in a reachable network) matches it", n.Host)
				}
			}
		}
	} else if len(e.out.Missing) == 0 {
		e.missing("no route of this proxy sends traffic to %s, and the gateway builds clusters only for routed destinations", name)
	}
}

// sni: an east-west gateway's AUTO_PASSTHROUGH chain for it.
func (e *explainer) sni(s string, n sni.Name) {
	for _, l := range e.res.Listeners {
		for _, fc := range l.GetFilterChains() {
			if slices.Contains(fc.GetFilterChainMatch().GetServerNames(), s) {
				e.out.Present = true
			}
		}
	}
	gws := e.gateways()
	if len(gws) == 0 {
		return
	}
	autoPassthrough := false
	for _, g := range gws {
		for si, srv := range g.Servers {
			if srv.TLS != nil && srv.TLS.Mode == model.TLSAutoPassthrough {
				autoPassthrough = true
				if hostWithin(n.Host, sanitizeServerHosts(srv.Hosts, g.Namespace)) {
					e.because(model.KindGateway, g.Meta, e.ix.local, "servers[%d] AUTO_PASSTHROUGH on port %d admits %s", si, srv.Port.Number, n.Host)
				}
			}
		}
	}
	if !autoPassthrough {
		e.missing("no Gateway that selects the proxy has an AUTO_PASSTHROUGH server: SNI routing is for east-west gateways")
		return
	}
	e.cluster(n.ClusterName(), n)
}

// endpoint: which cluster load assignments hold it, and what it is: a
// pod of a Service in some cluster, or the east-west gateway of another
// network standing for that network's endpoints.
func (e *explainer) endpoint(ip string, port uint32) {
	var holders []string
	for _, cla := range e.res.Endpoints {
		for _, l := range cla.GetEndpoints() {
			for _, le := range l.GetLbEndpoints() {
				sa := le.GetEndpoint().GetAddress().GetSocketAddress()
				if sa.GetAddress() == ip && sa.GetPortValue() == port {
					holders = append(holders, cla.GetClusterName())
				}
			}
		}
	}
	holders = slices.Compact(holders)
	e.out.Present = len(holders) > 0
	gwi := e.ix.networkGateways()
	for _, c := range e.ix.mesh.Clusters {
		for _, g := range c.NetworkGateways {
			if g.Address == ip && g.Port == port {
				e.out.Because = append(e.out.Because, Origin{Kind: "NetworkGateway", Object: net.JoinHostPort(ip, strconv.Itoa(int(port))),
					Cluster: c.ID, Generation: c.Generation,
					Detail: fmt.Sprintf("east-west gateway of network %s: stands for the endpoints of that network for proxies in network %s (split horizon)", g.Network, e.p.Network)})
				if gwi.down[g] {
					e.out.Because = append(e.out.Because, Origin{Kind: "NetworkGateway", Object: net.JoinHostPort(ip, strconv.Itoa(int(port))),
						Cluster: c.ID, Detail: "does not answer the daemon's probes (MeshState.Unreachable): left out of every load assignment " +
							"that has another endpoint or gateway, kept only where it is all there is (fail-static)"})
				}
			}
		}
		for si := range c.Services {
			s := &c.Services[si]
			for _, ep := range s.Endpoints {
				if ep.Address != ip {
					continue
				}
				e.because(model.KindService, s.Meta, c, "endpoint %s of host %s (pod %s, %s, ready %v)", ip, s.Hostname, ep.PodName, networkName(ep.Network), ep.Ready)
				switch {
				case !ep.Ready:
					e.missing("endpoint %s of %s is not ready", ip, s.Hostname)
				case !sameNetwork(ep.Network, e.p.Network) && len(gwi.forEndpoint(ep.Network, c.ID)) == 0:
					e.missing("endpoint %s is in network %s, which has no east-west gateway: proxies in network %s cannot reach it and get no address for it", ip, ep.Network, e.p.Network)
				case !sameNetwork(ep.Network, e.p.Network):
					var addrs []string
					for _, g := range gwi.forEndpoint(ep.Network, c.ID) {
						addrs = append(addrs, net.JoinHostPort(g.Address, strconv.Itoa(int(g.Port))))
					}
					e.missing("endpoint %s is in network %s: this proxy (network %s) reaches it through %s instead (split horizon)", ip, ep.Network, e.p.Network, strings.Join(addrs, ","))
				}
			}
		}
	}
	if e.out.Present {
		e.out.Because = append(e.out.Because, Origin{Kind: "EDS", Object: strings.Join(holders, ", "), Detail: "cluster load assignment(s) holding it"})
		// What is missing is about a direct address; present means routed.
		e.out.Missing = nil
	} else if len(e.out.Because) == 0 {
		e.missing("no Service endpoint and no east-west gateway of the mesh has address %s", ip)
	} else if len(e.out.Missing) == 0 {
		e.missing("no cluster of this proxy uses it: no route sends traffic to its service on this port")
	}
}

// throughGateways says, for the ready endpoints of host in cluster c that
// are in another network than the proxy, which east-west gateway stands for
// them (split horizon), or that none does.
func (e *explainer) throughGateways(host string, c *model.ClusterState, eps []model.Endpoint) {
	gwi := e.ix.networkGateways()
	var networks []string
	for _, ep := range eps {
		if ep.Ready && !sameNetwork(ep.Network, e.p.Network) && !slices.Contains(networks, ep.Network) {
			networks = append(networks, ep.Network)
		}
	}
	slices.Sort(networks)
	for _, nw := range networks {
		gws := gwi.forEndpoint(nw, c.ID)
		if len(gws) == 0 {
			e.missing("the endpoints of %s in cluster %s are in network %s, which has no east-west gateway: proxies in network %s get no address for them", host, c.ID, nw, e.p.Network)
			continue
		}
		for _, g := range gws {
			gc := e.ix.mesh.Cluster(g.Cluster)
			o := Origin{Kind: "NetworkGateway", Object: net.JoinHostPort(g.Address, strconv.Itoa(int(g.Port))), Cluster: g.Cluster,
				Detail: fmt.Sprintf("east-west gateway of network %s: the endpoints of %s in cluster %s are reached through it, since this proxy is in %s (split horizon)",
					nw, host, c.ID, networkName(e.p.Network))}
			if gc != nil {
				o.Generation = gc.Generation
			}
			if gwi.down[g] {
				o.Detail += "; it does not answer the daemon's probes: left out where anything else is left (fail-static)"
			}
			if !slices.Contains(e.out.Because, o) {
				e.out.Because = append(e.out.Because, o)
			}
		}
	}
}

// history adds what the federation history says: how each remote origin
// was learned and, for what is missing (or partly missing), the clusters
// that had it but are not served.
func (e *explainer) history(hist []model.ClusterProvenance) {
	if len(hist) == 0 {
		return
	}
	byID := map[string]*model.ClusterProvenance{}
	for i := range hist {
		byID[hist[i].Cluster] = &hist[i]
	}
	involved := map[string]bool{}
	for i := range e.out.Because {
		o := &e.out.Because[i]
		involved[o.Cluster] = true
		// Only when the state explained is the one federation delivered
		// (not the same cluster watched through its API server).
		if h := byID[o.Cluster]; h != nil && o.Cluster != e.ix.mesh.LocalCluster && h.Generation == o.Generation && h.Status != model.ProvenanceRefused {
			o.Learned = new(*h)
		}
	}
	seen := map[string]bool{}
	unavailable := func(h *model.ClusterProvenance) {
		if !seen[h.Cluster] {
			seen[h.Cluster] = true
			e.out.Unavailable = append(e.out.Unavailable, *h)
		}
	}
	for i := range hist {
		h := &hist[i]
		served := h.Status == model.ProvenanceServing || h.Status == model.ProvenanceFailStatic
		if !served && h.State != nil && e.ix.mesh.Cluster(h.Cluster) == nil {
			if had := e.had(h.State); had != "" {
				msg := fmt.Sprintf("cluster %s (%s) had %s at generation %d (received from %s, published by %s, at %s), but it is %s",
					h.Cluster, networkName(h.Network), had, h.Generation, h.Peer, h.Owner, stamp(h.ReceivedAt), statusText(h))
				if e.out.Present {
					e.out.Notes = append(e.out.Notes, msg)
				} else {
					e.missing("%s", msg)
				}
				unavailable(h)
			}
		}
		if e.out.Present {
			continue
		}
		switch {
		case h.Status == model.ProvenanceRefused:
			e.missing("cluster %s is refused here: %s; nothing it publishes can reach this proxy", h.Cluster, h.Reason)
			unavailable(h)
		case h.Rejected != nil && (served || involved[h.Cluster]):
			e.missing("a newer record of cluster %s (generation %d, from %s at %s) was refused (%s: %s); this daemon serves generation %d",
				h.Cluster, h.Rejected.Generation, h.Rejected.From, stamp(h.Rejected.At), h.Rejected.Reason, h.Rejected.Error, h.Generation)
			unavailable(h)
		}
	}
}

// had says what of the query a cluster's state holds ("" when nothing):
// the service of a host, cluster or SNI, an endpoint, or an east-west
// gateway address.
func (e *explainer) had(c *model.ClusterState) string {
	q := e.out.Query
	host := q.Host
	if q.Cluster != "" || q.SNI != "" {
		var n sni.Name
		var err error
		if q.Cluster != "" {
			n, err = sni.ParseClusterName(q.Cluster)
		} else {
			n, err = sni.Parse(q.SNI)
		}
		if err != nil {
			return ""
		}
		host = n.Host
	}
	if host != "" {
		for si := range c.Services {
			s := &c.Services[si]
			if hostMatches(host, s.Hostname) {
				ready := 0
				for _, ep := range s.Endpoints {
					if ep.Ready {
						ready++
					}
				}
				return fmt.Sprintf("Service %s (host %s, %d ready endpoints)", s.Meta.NamespacedName(), s.Hostname, ready)
			}
		}
		return ""
	}
	ip, port, err := net.SplitHostPort(q.Endpoint)
	if err != nil {
		return ""
	}
	for _, g := range c.NetworkGateways {
		if g.Address == ip && strconv.Itoa(int(g.Port)) == port {
			return fmt.Sprintf("east-west gateway %s of network %s", q.Endpoint, g.Network)
		}
	}
	for si := range c.Services {
		for _, ep := range c.Services[si].Endpoints {
			if ep.Address == ip {
				return fmt.Sprintf("endpoint %s of Service %s (pod %s)", ip, c.Services[si].Meta.NamespacedName(), ep.PodName)
			}
		}
	}
	return ""
}

// statusText says why a cluster is not served.
func statusText(h *model.ClusterProvenance) string {
	switch h.Status {
	case model.ProvenanceWithdrawn:
		return fmt.Sprintf("withdrawn since %s: %s", stamp(h.Since), h.Reason)
	case model.ProvenanceRefused:
		return "refused: " + h.Reason
	}
	return fmt.Sprintf("%s: %s", h.Status, h.Reason)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// learnedText is the Text form of an origin's provenance.
func learnedText(l *model.ClusterProvenance) string {
	var b strings.Builder
	fmt.Fprintf(&b, "learned over gossip from %s", l.Peer)
	if l.PeerCluster != "" && l.PeerCluster != l.Cluster {
		fmt.Fprintf(&b, " (a daemon of %s, relaying)", l.PeerCluster)
	}
	fmt.Fprintf(&b, ", published by %s, received %s", l.Owner, stamp(l.ReceivedAt))
	if !l.ObservedAt.IsZero() {
		fmt.Fprintf(&b, " (the change observed there %s)", stamp(l.ObservedAt))
	}
	if l.Status != model.ProvenanceServing {
		fmt.Fprintf(&b, "; %s: %s", l.Status, l.Reason)
	}
	if r := l.Rejected; r != nil {
		fmt.Fprintf(&b, "; a newer record (generation %d from %s at %s) was refused: %s", r.Generation, r.From, stamp(r.At), r.Reason)
	}
	return b.String()
}

func networkName(n string) string {
	if n == "" {
		return "the default network"
	}
	return "network " + n
}

// Text renders an explanation for people.
func (x *Explanation) Text() string {
	var b strings.Builder
	verdict := "has"
	if !x.Present {
		verdict = "does NOT have"
	}
	fmt.Fprintf(&b, "The proxy %s %s.\n", verdict, x.Query)
	if len(x.Because) > 0 {
		b.WriteString("From:\n")
		for _, o := range x.Because {
			fmt.Fprintf(&b, "  %s %s", o.Kind, o.Object)
			if o.Source != "" {
				fmt.Fprintf(&b, " (%s)", o.Source)
			}
			if o.Cluster != "" {
				fmt.Fprintf(&b, " [cluster %s, generation %d]", o.Cluster, o.Generation)
			}
			fmt.Fprintf(&b, ": %s\n", o.Detail)
			if o.Learned != nil {
				fmt.Fprintf(&b, "      %s\n", learnedText(o.Learned))
			}
		}
	}
	if len(x.Notes) > 0 {
		b.WriteString("Note:\n")
		for _, m := range x.Notes {
			fmt.Fprintf(&b, "  - %s\n", m)
		}
	}
	if len(x.Missing) > 0 {
		b.WriteString("Why not:\n")
		for _, m := range x.Missing {
			fmt.Fprintf(&b, "  - %s\n", m)
		}
	}
	return b.String()
}
