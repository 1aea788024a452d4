package daemon

import (
	"cmp"
	"maps"
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/meshgate/meshgate/cmd/internal/ui"
	"github.com/meshgate/meshgate/discovery/model"
)

// uiState is what the /ui page draws (package ui): the mesh last served,
// the gossip members, the connected gateways, the change-to-ACK (and end-to-end convergence)
// histograms and the rejected input. Nothing secret: no trust bundles,
// keys, tokens or secrets are copied into it.
func (d *Daemon) uiState() ui.State {
	st := ui.State{
		Self: ui.Self{Cluster: d.cfg.ClusterID, Network: d.cfg.Network, Mesh: d.cfg.GossipConfig.MeshID,
			Version: buildVersion(), Ready: d.xds.Ready(), StartedAt: d.startedAt, Federation: d.fed != nil},
		Now: time.Now(),
	}
	var members []ui.Member
	if d.fed != nil {
		for _, m := range d.fed.Members() {
			members = append(members, ui.Member{Name: m.Name, Address: m.Address, Cluster: m.Cluster, State: m.State,
				Generation: m.Generation, Published: generationTime(m.Generation), Local: m.Local, StateSince: m.StateSince, LastSeen: m.LastSeen})
		}
	}
	st.Members = members
	if mesh := d.served.Load(); mesh != nil {
		var localGen uint64
		if d.fed != nil {
			localGen = d.fed.LocalGeneration()
		}
		st.Networks = uiNetworks(mesh, members, localGen)
	} else {
		st.Notes = append(st.Notes, "No configuration served yet.")
	}
	for _, p := range d.xds.Proxies() {
		g := ui.Gateway{ID: p.ID, Network: p.Network, Cluster: p.ClusterID, ConnectedAt: p.ConnectedAt}
		for _, typ := range slices.Sorted(maps.Keys(p.Types)) {
			ts := p.Types[typ]
			t := ui.XDSType{Type: typ, Sent: ts.Sent, Acked: ts.Acked, NACKs: ts.NACKs, InSync: ts.Sent != "" && ts.Acked == ts.Sent}
			if ts.LastNACK != nil {
				t.LastNACK = ts.LastNACK.Message
			}
			g.Types = append(g.Types, t)
		}
		st.Gateways = append(st.Gateways, g)
	}
	st.Convergence = d.ackHistograms()
	d.sources.mu.Lock()
	for _, en := range d.sources.entries {
		st.Rejections = append(st.Rejections, ui.Rejection{Object: strings.TrimSpace(en.Kind + " " + en.object()), File: en.File,
			Field: en.Field, Error: en.Error, Since: en.Since})
	}
	for _, en := range d.sources.refs {
		st.Rejections = append(st.Rejections, ui.Rejection{Object: strings.TrimSpace(en.Kind + " " + en.object()), File: en.File,
			Field: en.Field, Error: en.Error, Since: en.Since})
	}
	d.sources.mu.Unlock()
	slices.SortFunc(st.Rejections, func(a, b ui.Rejection) int {
		return cmp.Or(cmp.Compare(a.Object, b.Object), cmp.Compare(a.Error, b.Error))
	})
	return st
}

// uiNetworks groups the mesh's clusters by network, with each network's
// east-west gateway addresses and each cluster's liveness as gossip sees
// it: "local", "alive" (a live daemon of it is a member), "no daemon" (its
// daemons are all dead: its endpoints are kept, fail-static) or "" (not a
// gossip member: e.g. a cluster read through a remote secret only).
func uiNetworks(mesh *model.MeshState, members []ui.Member, localGen uint64) []ui.Network {
	alive, known := map[string]bool{}, map[string]bool{}
	for _, m := range members {
		known[m.Cluster] = true
		if m.State == "alive" {
			alive[m.Cluster] = true
		}
	}
	byName := map[string]*ui.Network{}
	get := func(name string) *ui.Network {
		if n := byName[name]; n != nil {
			return n
		}
		n := &ui.Network{Name: name, Gateways: []string{}}
		byName[name] = n
		return n
	}
	for _, c := range mesh.Clusters {
		n := get(c.Network)
		uc := ui.Cluster{ID: c.ID, Local: c.ID == mesh.LocalCluster, Generation: c.Generation, Services: len(c.Services)}
		if uc.Local && localGen != 0 {
			uc.Generation = localGen // the served local state is the source's, before federation numbers it
		}
		uc.Published = generationTime(uc.Generation)
		for _, s := range c.Services {
			uc.Endpoints += len(s.Endpoints)
		}
		switch {
		case uc.Local:
			uc.State = "local"
		case alive[c.ID]:
			uc.State = "alive"
		case known[c.ID]:
			uc.State = "no daemon"
		}
		n.Clusters = append(n.Clusters, uc)
		for _, gw := range c.NetworkGateways {
			gn := get(gw.Network)
			addr := net.JoinHostPort(gw.Address, strconv.FormatUint(uint64(gw.Port), 10))
			if !slices.Contains(gn.Gateways, addr) {
				gn.Gateways = append(gn.Gateways, addr)
			}
		}
	}
	out := make([]ui.Network, 0, len(byName))
	for _, n := range byName {
		slices.Sort(n.Gateways)
		slices.SortFunc(n.Clusters, func(a, b ui.Cluster) int { return cmp.Compare(a.ID, b.ID) })
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b ui.Network) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// generationTime is when a generation was published: federation makes
// generations from unix nanoseconds (federation/local.go), so one after
// 2020 reads as a time; zero otherwise.
func generationTime(gen uint64) time.Time {
	t := time.Unix(0, int64(gen))
	if gen > 1<<63-1 || t.Year() < 2020 {
		return time.Time{}
	}
	return t
}

// ackHistograms reads meshgate_xds_config_ack_latency_seconds (a change
// to the ACK of the version that holds it, per xDS type) from the
// daemon's registry.
func (d *Daemon) ackHistograms() []ui.Histogram {
	mfs, err := d.reg.Gather()
	if err != nil {
		return nil
	}
	var out []ui.Histogram
	for _, mf := range mfs {
		// By type: the change at this daemon to the ACK; by origin cluster:
		// end to end, from the change observed in its cluster.
		label, prefix := "type", ""
		switch {
		case mf.GetType() != dto.MetricType_HISTOGRAM:
			continue
		case mf.GetName() == "meshgate_mesh_convergence_seconds":
			label, prefix = "origin_cluster", "end to end from "
		case mf.GetName() != "meshgate_xds_config_ack_latency_seconds":
			continue
		}
		for _, m := range mf.GetMetric() {
			h := ui.Histogram{Name: mf.GetName(), Count: m.GetHistogram().GetSampleCount(), Sum: m.GetHistogram().GetSampleSum()}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					h.Label = prefix + lp.GetValue()
				}
			}
			for _, b := range m.GetHistogram().GetBucket() {
				h.Bounds = append(h.Bounds, b.GetUpperBound())
				h.Buckets = append(h.Buckets, b.GetCumulativeCount())
			}
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b ui.Histogram) int { return cmp.Or(cmp.Compare(b.Name, a.Name), cmp.Compare(a.Label, b.Label)) })
	return out
}

// buildVersion is the binary's module version and short commit.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 7 {
			v += " " + s.Value[:7]
		}
	}
	return v
}
