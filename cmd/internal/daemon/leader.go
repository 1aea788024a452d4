package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/meshgate/meshgate/discovery/remote"
	"github.com/meshgate/meshgate/election"
	"github.com/meshgate/meshgate/federation"
)

// leadership is a replica's side of the election (leader-elect): the
// elector, and whether this replica publishes now, for the parts that run
// only while it does (the remote secret's renewal).
type leadership struct {
	el *election.Elector

	mu      sync.Mutex
	leading bool
	changed chan struct{} // closed and replaced at each change
}

// newElection builds the elector of the Lease leader-elect-lease: each
// lease it takes or loses is handed to federation (which publishes only
// under it) and to whileLeading.
func (d *Daemon) newElection(log *slog.Logger) error {
	g := d.cfg.GossipConfig
	ld := g.LeaseDuration.D()
	l := &leadership{changed: make(chan struct{})}
	el, err := election.New(election.Config{Namespace: d.cfg.Namespace, Name: g.LeaseName, Identity: replicaIdentity(),
		LeaseDuration: ld, RenewDeadline: ld * 2 / 3, RetryPeriod: ld * 2 / 15, KnownTerm: d.knownTerm}, d.rest, d.onLead, log)
	if err != nil {
		return fmt.Errorf("leader-elect: %w", err)
	}
	l.el = el
	d.lead = l
	return nil
}

// replicaIdentity is the pod's name (POD_NAME, else the host name) and a
// random suffix: a restarted replica is a new holder, so taking the lease
// again counts as a transition.
func replicaIdentity() string {
	name := os.Getenv("POD_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return name + "_" + hex.EncodeToString(b)
}

// publishers lists, for /debug/clusters, the member that publishes each
// cluster under a lease, as federation knows it.
func (d *Daemon) publishers() []remote.Publisher {
	var out []remote.Publisher
	for _, m := range d.fed.Members() {
		if m.Leader && m.Lease != nil {
			out = append(out, remote.Publisher{Cluster: m.Cluster, Member: m.Name, Holder: m.Lease.Holder,
				Transitions: m.Lease.Transitions, Local: m.Local})
		}
	}
	return out
}

// knownTerm is the newest lease of this cluster federation has seen
// published (the elector raises a re-created Lease above it).
func (d *Daemon) knownTerm() (election.Lease, bool) {
	l, ok := d.fed.OwnTerm()
	return election.Lease{Holder: l.Holder, Transitions: l.Transitions}, ok
}

// onLead is the elector's callback (one call at a time).
func (d *Daemon) onLead(l *election.Lease) {
	var fl *federation.Lease
	if l != nil {
		fl = &federation.Lease{Holder: l.Holder, Transitions: l.Transitions}
	}
	if err := d.fed.SetLeading(fl); err != nil {
		d.log.Error("federation refuses the lease this replica took: not publishing", "err", err)
		fl = nil
	}
	d.lead.set(fl != nil)
}

func (l *leadership) set(leading bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leading == leading {
		return
	}
	l.leading = leading
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *leadership) state() (bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leading, l.changed
}

// whileLeading runs run for each term this replica leads, with a context
// that ends with the term, and waits for it before the next; it returns
// when ctx is done, or with run's error while leading.
func (l *leadership) whileLeading(ctx context.Context, run func(context.Context) error) error {
	for {
		leading, changed := l.state()
		if !leading {
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
				continue
			}
		}
		tctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(tctx) }()
		select {
		case <-changed:
			cancel()
			if err := <-done; err != nil && tctx.Err() == nil {
				return err
			}
		case err := <-done:
			cancel()
			if err != nil && ctx.Err() == nil {
				return err
			}
			select { // run ended by itself: wait for the next term
			case <-changed:
			case <-ctx.Done():
				return nil
			}
		case <-ctx.Done():
			cancel()
			<-done
			return nil
		}
	}
}
