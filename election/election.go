package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
				OnStartedLeading: func(lctx context.Context) { e.took(lctx, lock) },
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

// took reads the lease just taken for its transition count and tells
// onLead, unless leading already stopped (lctx done).
func (e *Elector) took(lctx context.Context, lock *resourcelock.LeaseLock) {
	rec, _, err := lock.Get(lctx)
	if err != nil {
		if lctx.Err() == nil {
			e.log.Error("took the lease but cannot read it back: not publishing", "err", err)
		}
		return
	}
	if rec.HolderIdentity == e.cfg.Identity {
		e.set(lctx, &Lease{Holder: rec.HolderIdentity, Transitions: uint64(max(rec.LeaderTransitions, 0))})
	}
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
