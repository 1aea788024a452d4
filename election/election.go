package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Lease is the lease a leader holds: its identity and the lease's
// transition count when it took it.
type Lease struct {
	Holder      string
	Transitions uint64
}

// Config names the Lease and sets the election's timing.
type Config struct {
	// Namespace and Name of the Lease. Required.
	Namespace, Name string
	// Identity is this replica's holder identity, unique among the
	// replicas (the daemon uses its pod name and a random suffix). Required.
	Identity string
	// LeaseDuration is how long a lease lasts without renewal: the longest
	// a killed leader stays unreplaced. Default 15s.
	LeaseDuration time.Duration
	// RenewDeadline is how long the leader retries renewing before it
	// stops leading. Default 10s; less than LeaseDuration.
	RenewDeadline time.Duration
	// RetryPeriod is the wait between attempts. Default 2s.
	RetryPeriod time.Duration
	// KnownTerm, when set, returns the newest lease of this cluster the
	// caller has seen published (the daemon: federation.Node.OwnTerm, from
	// gossip or its own records; ok false: none). A leader whose Lease is
	// older than it (the Lease was deleted and re-created, restarting its
	// transition count) raises the Lease's leaseTransitions above it before
	// it reports the lease, so that the term stays monotonic and the Lease
	// stays its single source. Called from the election's goroutines; it
	// must not block.
	KnownTerm func() (Lease, bool)
}

// DefaultConfig's timing is client-go's and Kubernetes controllers' usual.
func (c Config) withDefaults() Config {
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 15 * time.Second
	}
	if c.RenewDeadline <= 0 {
		c.RenewDeadline = 10 * time.Second
	}
	if c.RetryPeriod <= 0 {
		c.RetryPeriod = 2 * time.Second
	}
	return c
}

// Validate checks c (with defaults applied), naming the field at fault.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.Namespace == "" || c.Name == "" {
		errs = append(errs, errors.New("election: namespace and name of the lease are required"))
	}
	if c.Identity == "" {
		errs = append(errs, errors.New("election: identity is required"))
	}
	if c.RenewDeadline >= c.LeaseDuration {
		errs = append(errs, fmt.Errorf("election: renewDeadline %v must be less than leaseDuration %v", c.RenewDeadline, c.LeaseDuration))
	}
	if c.RetryPeriod >= c.RenewDeadline {
		errs = append(errs, fmt.Errorf("election: retryPeriod %v must be less than renewDeadline %v", c.RetryPeriod, c.RenewDeadline))
	}
	return errors.Join(errs...)
}

// Elector runs one replica's side of the election.
type Elector struct {
	cfg    Config
	client kubernetes.Interface
	onLead func(*Lease)
	log    *slog.Logger

	mu      sync.Mutex
	leading *Lease
}

// New checks cfg; onLead is told each lease this replica takes (and nil
// when it loses it), one call at a time, in order; it must not block for
// long nor call the Elector. log may be nil (slog.Default()).
func New(cfg Config, rc *rest.Config, onLead func(*Lease), log *slog.Logger) (*Elector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if onLead == nil {
		return nil, errors.New("election: onLead is required")
	}
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(rc))
	if err != nil {
		return nil, fmt.Errorf("election: client: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Elector{cfg: cfg, client: cs, onLead: onLead, log: log.With("lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)}, nil
}

// Leading returns the lease this replica holds (nil: none).
func (e *Elector) Leading() *Lease {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading == nil {
		return nil
	}
	return new(*e.leading)
}

// Run campaigns until ctx is done: it takes the lease when it is free or
// expired, renews it while it holds it, and campaigns again after losing
// it. It returns nil when ctx ends (the lease is not released: a replica
// that stops is replaced within LeaseDuration, like one that is killed).
func (e *Elector) Run(ctx context.Context) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
		Client:     e.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, LeaseDuration: e.cfg.LeaseDuration, RenewDeadline: e.cfg.RenewDeadline, RetryPeriod: e.cfg.RetryPeriod,
			Name: e.cfg.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				// Called on its own goroutine; lctx ends before OnStoppedLeading.
				OnStartedLeading: func(lctx context.Context) { e.lead(lctx) },
				OnStoppedLeading: func() { e.set(context.Background(), nil) },
				OnNewLeader: func(id string) {
					if id != e.cfg.Identity {
						e.log.Info("the cluster's publisher is another replica", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("election: %w", err)
		}
		le.Run(ctx) // returns when the lease is lost or ctx is done
	}
	e.set(context.Background(), nil)
	return nil
}

// lead runs while this replica holds the lease (lctx ends when it stops):
// it reads the lease just taken, raises its transition count above
// KnownTerm's if it is older, and tells onLead; then, every RetryPeriod, it
// does so again when KnownTerm has become newer than the lease it reported
// (a replica that restarted learns its cluster's term from gossip after it
// took the lease) or when nothing could be reported yet.
func (e *Elector) lead(lctx context.Context) {
	tick := time.NewTicker(e.cfg.RetryPeriod)
	defer tick.Stop()
	for {
		if e.behind() {
			if err := e.take(lctx); err != nil && lctx.Err() == nil {
				e.log.Error("holds the lease but cannot read or raise it: not publishing under it yet", "err", err)
			}
		}
		select {
		case <-lctx.Done():
			return
		case <-tick.C:
		}
	}
}

// behind reports whether the lease reported to onLead is missing or older
// than KnownTerm's.
func (e *Elector) behind() bool {
	e.mu.Lock()
	cur := e.leading
	e.mu.Unlock()
	if cur == nil {
		return true
	}
	if e.cfg.KnownTerm == nil {
		return false
	}
	k, ok := e.cfg.KnownTerm()
	return ok && cur.Older(k)
}

// take reads the Lease; if this replica holds it, raises its transition
// count above KnownTerm's when it is older (an update conditional on the
// Lease's resourceVersion: it fails, to be retried, if anyone changed the
// Lease meanwhile, so a replica that lost the Lease never raises it), and
// reports it. The Lease is read through the client, not the election's
// lock, whose state belongs to the election loop; the loop's next renewal
// reads the Lease again and keeps the raised count (client-go keeps a
// leader's leaseTransitions).
func (e *Elector) take(lctx context.Context) error {
	leases := e.client.CoordinationV1().Leases(e.cfg.Namespace)
	l, err := leases.Get(lctx, e.cfg.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur := fromLease(l)
	if cur.Holder != e.cfg.Identity {
		return nil // lost it already: the election loop notices
	}
	if e.cfg.KnownTerm != nil {
		if k, ok := e.cfg.KnownTerm(); ok && cur.Older(k) {
			if k.Transitions >= math.MaxInt32 {
				return fmt.Errorf("lease %s/%s: cannot raise leaseTransitions above %d (the term seen in the mesh)", e.cfg.Namespace, e.cfg.Name, k.Transitions)
			}
			l.Spec.LeaseTransitions = new(int32(k.Transitions + 1))
			if l, err = leases.Update(lctx, l, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("raising leaseTransitions of %s/%s from %d above %d (held by %s) seen in the mesh: %w",
					e.cfg.Namespace, e.cfg.Name, cur.Transitions, k.Transitions, k.Holder, err)
			}
			e.log.Warn("the lease's transition count was behind the term seen in the mesh (the Lease was re-created): raised it",
				"was", cur.Transitions, "seen", k.Transitions, "seenHolder", k.Holder, "transitions", k.Transitions+1)
			cur = fromLease(l)
		}
	}
	e.set(lctx, &cur)
	return nil
}

// Older reports whether l is a deposed holder's lease next to seen: a lower
// transition count, or the same count held by another holder (the rule of
// federation's fencing, wire.Lease.Older).
func (l Lease) Older(seen Lease) bool {
	return l.Transitions < seen.Transitions || (l.Transitions == seen.Transitions && l.Holder != seen.Holder)
}

// set records l and tells onLead (under e.mu: calls never reorder). A lease
// is set only while lctx, the leading term's context, is not done.
func (e *Elector) set(lctx context.Context, l *Lease) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l != nil && lctx.Err() != nil {
		return
	}
	was := e.leading
	if (was == nil) == (l == nil) && (l == nil || *was == *l) {
		return
	}
	e.leading = l
	if l != nil {
		e.log.Info("took the lease: this replica publishes the cluster", "transitions", l.Transitions)
	} else {
		e.log.Info("lost the lease: this replica stops publishing the cluster")
	}
	e.onLead(l)
}

// Holder reads the Lease's current holder and transition count (the
// admin pages show them).
func Holder(ctx context.Context, cs kubernetes.Interface, namespace, name string) (Lease, error) {
	l, err := cs.CoordinationV1().Leases(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Lease{}, err
	}
	return fromLease(l), nil
}

func fromLease(l *coordinationv1.Lease) Lease {
	var out Lease
	if l.Spec.HolderIdentity != nil {
		out.Holder = *l.Spec.HolderIdentity
	}
	if l.Spec.LeaseTransitions != nil {
		out.Transitions = uint64(max(*l.Spec.LeaseTransitions, 0))
	}
	return out
}
