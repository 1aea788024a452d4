// Package debounce coalesces bursts of events into single, level-triggered
// actions: after an event, wait Holdoff for quiet; never wait longer than
// MaxDelay from the first event of a burst.
//
//	events ─▶ Debouncer.Trigger ─▶ (holdoff / max delay) ─▶ fire()
//
// Sources use it before publishing a state; the xDS server before rebuilding.
package debounce

import (
	"context"
	"time"
)

// Debouncer calls fire once per burst of Trigger calls. fire runs on the
// Run goroutine, never concurrently with itself. Trigger never blocks and may
// be called from any goroutine.
type Debouncer struct {
	Holdoff  time.Duration
	MaxDelay time.Duration
	ch       chan struct{}
}

// New returns a Debouncer; Run must be called for fire to happen.
func New(holdoff, maxDelay time.Duration) *Debouncer {
	return &Debouncer{Holdoff: holdoff, MaxDelay: maxDelay, ch: make(chan struct{}, 1)}
}

// Trigger records that something changed.
func (d *Debouncer) Trigger() {
	select {
	case d.ch <- struct{}{}:
	default: // a trigger is already pending: coalesced
	}
}

// Run calls fire after each burst until ctx is done. A burst ends after
// Holdoff without events, or MaxDelay after its first event, whichever is first.
func (d *Debouncer) Run(ctx context.Context, fire func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.ch:
		}
		start := time.Now()
		quiet := time.NewTimer(min(d.Holdoff, d.MaxDelay))
	burst:
		for {
			select {
			case <-ctx.Done():
				quiet.Stop()
				return
			case <-d.ch:
				left := d.MaxDelay - time.Since(start)
				if left <= 0 {
					quiet.Stop()
					break burst
				}
				quiet.Reset(min(d.Holdoff, left))
			case <-quiet.C:
				break burst
			}
		}
		fire()
	}
}
