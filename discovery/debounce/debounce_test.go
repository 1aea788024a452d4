package debounce

import (
	"context"
	"testing"
	"time"
)

func TestBurstCoalesces(t *testing.T) {
	d := New(20*time.Millisecond, time.Hour)
	fired := make(chan struct{}, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx, func() { fired <- struct{}{} })
	for range 100 {
		d.Trigger()
	}
	<-fired
	// A second burst gives exactly one more fire.
	d.Trigger()
	d.Trigger()
	<-fired
	select {
	case <-fired:
		t.Fatal("fired more than once for one burst")
	default:
	}
}

func TestMaxDelayBoundsAContinuousStream(t *testing.T) {
	d := New(time.Hour, 30*time.Millisecond) // holdoff never elapses on its own
	fired := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx, func() { fired <- struct{}{} })
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				d.Trigger()
				time.Sleep(time.Millisecond) // the stream of events under test, not a wait
			}
		}
	}()
	<-fired // reached only through MaxDelay, since the stream never goes quiet
	close(stop)
}
