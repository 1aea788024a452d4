package remote

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/meshgate/meshgate/discovery/kube"
)

// ClusterStatus is a remote cluster's condition, for /debug/clusters. It
// holds no credentials.
type ClusterStatus struct {
	kube.Status
	Source SecretSource `json:"source"`
	// Secret is the namespace/name of the remote secret in use.
	Secret string `json:"secret"`
	Server string `json:"server"`
	// Reloads counts kubeconfig changes since the cluster was added.
	Reloads int `json:"reloads"`
	// Pending is a changed kubeconfig whose watches have not synced yet;
	// until they have, the previous ones keep running and publishing.
	Pending *PendingStatus `json:"pending,omitempty"`
}

// PendingStatus is the state of a reloaded kubeconfig.
type PendingStatus struct {
	kube.Status
	Secret string `json:"secret"`
	Server string `json:"server"`
}

// SecretError is a remote secret key that was rejected.
type SecretError struct {
	Source SecretSource `json:"source"`
	Secret string       `json:"secret"`
	Key    string       `json:"key"`
	Error  string       `json:"error"`
}

// Statuses reports every remote cluster, sorted by id.
func (c *Controller) Statuses() []ClusterStatus {
	c.mu.Lock()
	clusters := make([]*cluster, 0, len(c.clusters))
	type snap struct {
		cl        *cluster
		cur, next *generation
		source    SecretSource
		reloads   int
	}
	var snaps []snap
	for _, id := range slices.Sorted(maps.Keys(c.clusters)) {
		cl := c.clusters[id]
		clusters = append(clusters, cl)
		snaps = append(snaps, snap{cl, cl.current, cl.next, cl.source, cl.reloads})
	}
	c.mu.Unlock()
	out := make([]ClusterStatus, 0, len(snaps))
	for _, s := range snaps {
		st := ClusterStatus{
			Status:  genStatus(s.cl.id, s.cur),
			Source:  s.source,
			Secret:  s.cur.cfg.Secret,
			Server:  s.cur.cfg.Server,
			Reloads: s.reloads,
		}
		if s.next != nil {
			st.Pending = &PendingStatus{Status: genStatus(s.cl.id, s.next), Secret: s.next.cfg.Secret, Server: s.next.cfg.Server}
		}
		out = append(out, st)
	}
	return out
}

func genStatus(id string, g *generation) kube.Status {
	if g.src == nil {
		return kube.Status{Cluster: id, State: kube.StateError, LastError: g.err.Error(), LastErrorTime: g.started}
	}
	return g.src.Status()
}

// SecretErrors lists the remote secret keys currently rejected.
func (c *Controller) SecretErrors() []SecretError {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []SecretError
	for _, src := range slices.Sorted(maps.Keys(c.secrets)) {
		for _, ref := range slices.Sorted(maps.Keys(c.secrets[src])) {
			e := c.secrets[src][ref]
			for _, key := range slices.Sorted(maps.Keys(e.errs)) {
				out = append(out, SecretError{Source: src, Secret: ref, Key: key, Error: e.errs[key].Error()})
			}
		}
	}
	return out
}

// Ready reports whether every remote cluster has settled: its initial
// sync completed, or its SyncTimeout passed (it is then reported as
// timeout or error and keeps retrying); and every WatchSecrets informer
// has synced or has been trying for SyncTimeout. A daemon's readiness
// never waits longer on remote clusters.
func (c *Controller) Ready() bool {
	c.mu.Lock()
	watches := slices.Clone(c.watches)
	var gens []*generation
	for _, cl := range c.clusters {
		gens = append(gens, cl.current)
	}
	want, _ := c.wanted()
	for id := range want {
		if c.clusters[id] == nil {
			c.mu.Unlock()
			return false // a secret not reconciled yet
		}
	}
	c.mu.Unlock()
	for _, w := range watches {
		if !w.synced() && time.Since(w.started) < c.cfg.SyncTimeout {
			return false
		}
	}
	for _, g := range gens {
		if g.src != nil && !g.src.Settled() {
			return false
		}
	}
	return true
}

// WaitReady polls Ready until it holds or ctx is done.
func (c *Controller) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !c.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// Debug is what /debug/clusters serves.
type Debug struct {
	Local        *kube.Status    `json:"local,omitempty"`
	Remote       []ClusterStatus `json:"remote"`
	SecretErrors []SecretError   `json:"secretErrors,omitempty"`
	// Publishers names, per cluster, the daemon (replica) that publishes
	// it to gossip under a lease, when the daemon set SetPublishers.
	Publishers []Publisher `json:"publishers,omitempty"`
}

// Publisher is the replica that leads (publishes) a cluster, as the
// local daemon's federation last learned it.
type Publisher struct {
	Cluster string `json:"cluster"`
	// Member is the publishing daemon's gossip member name.
	Member string `json:"member"`
	// Holder and Transitions are its lease's holder identity and
	// transition count.
	Holder      string `json:"holder"`
	Transitions uint64 `json:"transitions"`
	// Local is true when it is this daemon.
	Local bool `json:"local,omitempty"`
}

// SetPublishers sets what /debug/clusters lists as each cluster's
// publisher (the daemon's federation knows it). Safe to call at any time.
func (c *Controller) SetPublishers(f func() []Publisher) { c.publishers.Store(&f) }

// Handler serves /debug/clusters: the local cluster's status (when local
// is not nil), every remote cluster's, and the rejected secret keys, as
// JSON. It never shows kubeconfigs or tokens.
func (c *Controller) Handler(local func() kube.Status) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := Debug{Remote: c.Statuses(), SecretErrors: c.SecretErrors()}
		if f := c.publishers.Load(); f != nil {
			d.Publishers = (*f)()
		}
		if local != nil {
			st := local()
			d.Local = &st
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(d)
	})
}
