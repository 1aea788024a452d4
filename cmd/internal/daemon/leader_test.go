package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestWhileLeading: run starts with each term and ends with it; a run that
// ends by itself waits for the next term, and whileLeading still returns
// when its context ends meanwhile (it used to wait for a change of term
// that a stopping daemon may never make).
func TestWhileLeading(t *testing.T) {
	l := &leadership{changed: make(chan struct{})}
	var runs atomic.Int32
	started := make(chan context.Context, 4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- l.whileLeading(wctx, func(c context.Context) error {
			runs.Add(1)
			started <- c
			if runs.Load() == 2 {
				return nil // the second term's run ends by itself
			}
			<-c.Done()
			return nil
		})
	}()
	l.set(true)
	first := <-started
	l.set(false)
	select {
	case <-first.Done():
	case <-ctx.Done():
		t.Fatal("the first term's run was not stopped with the term")
	}
	l.set(true)
	<-started // the second run returns at once, still leading
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("whileLeading: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("whileLeading never returned after its context ended")
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}
