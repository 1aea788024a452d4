package workload

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CallFunc makes one request; seq identifies it.
type CallFunc func(ctx context.Context, seq string) (Result, error)

// Sample is one request's outcome.
type Sample struct {
	At      time.Time // when it was sent
	Latency time.Duration
	Err     error
	Result  Result
}

// OK reports whether the request succeeded.
func (s Sample) OK() bool { return s.Err == nil }

// Backend names who answered: cluster/pod.
func (s Sample) Backend() string { return s.Result.Cluster + "/" + s.Result.Pod }

// Load sends requests at a steady pace (Rate per second, each in its own
// goroutine, at most MaxInFlight at once; a tick with MaxInFlight requests
// outstanding is recorded as a failed request) and records every outcome.
type Load struct {
	Name        string
	Call        CallFunc
	Rate        float64       // requests per second; default 20
	Timeout     time.Duration // per request; default 5 s
	MaxInFlight int           // default 64

	mu      sync.Mutex
	samples []Sample
	changed chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started time.Time
}

// Start begins sending. Stop ends it.
func (l *Load) Start() {
	if l.Rate <= 0 {
		l.Rate = 20
	}
	if l.Timeout <= 0 {
		l.Timeout = 5 * time.Second
	}
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = 64
	}
	l.changed = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.started = time.Now()
	l.wg.Add(1)
	go l.loop(ctx)
}

func (l *Load) loop(ctx context.Context) {
	defer l.wg.Done()
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.Rate))
	defer tick.Stop()
	sem := make(chan struct{}, l.MaxInFlight)
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seq := l.Name + "-" + strconv.Itoa(n)
		select {
		case sem <- struct{}{}:
		default:
			l.record(Sample{At: time.Now(), Err: fmt.Errorf("%d requests in flight", l.MaxInFlight)})
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(context.Background(), l.Timeout)
			defer cancel()
			start := time.Now()
			res, err := l.Call(rctx, seq)
			l.record(Sample{At: start, Latency: time.Since(start), Err: err, Result: res})
		}()
	}
}

func (l *Load) record(s Sample) {
	l.mu.Lock()
	l.samples = append(l.samples, s)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// Stop ends the load and waits for requests in flight.
func (l *Load) Stop() Stats {
	l.cancel()
	l.wg.Wait()
	return l.Since(time.Time{})
}

// Since returns the figures of the requests sent at or after t.
func (l *Load) Since(t time.Time) Stats { return l.Window(t, time.Time{}) }

// Window returns the figures of the requests sent in [from, to) (zero to:
// no end).
func (l *Load) Window(from, to time.Time) Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var in []Sample
	for _, s := range l.samples {
		if !s.At.Before(from) && (to.IsZero() || s.At.Before(to)) {
			in = append(in, s)
		}
	}
	return newStats(l.Name, in)
}

// WaitFor blocks until cond holds for the samples sent at or after since,
// checking after each recorded sample, or until ctx ends.
func (l *Load) WaitFor(ctx context.Context, since time.Time, cond func(Stats) bool) (Stats, error) {
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		st := l.Since(since)
		if cond(st) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("%s: condition not met: %w; figures so far: %s; errors: %v", l.Name, ctx.Err(), st, st.Errors)
		case <-ch:
		}
	}
}

var ephemeral = regexp.MustCompile(`:\d+->`)

// Stats are the figures of a set of requests.
type Stats struct {
	Name     string
	Samples  []Sample // in send order
	Sent     int
	OK       int
	Failed   int
	P50, P99 time.Duration // of successful requests
	Backends map[string]int
	Errors   map[string]int // error text (addresses stripped of ports) → count
}

func newStats(name string, in []Sample) Stats {
	slices.SortFunc(in, func(a, b Sample) int { return a.At.Compare(b.At) })
	st := Stats{Name: name, Samples: in, Sent: len(in), Backends: map[string]int{}, Errors: map[string]int{}}
	var lat []time.Duration
	for _, s := range in {
		if s.OK() {
			st.OK++
			lat = append(lat, s.Latency)
			st.Backends[s.Backend()]++
		} else {
			st.Failed++
			st.Errors[errKey(s.Err)]++
		}
	}
	slices.Sort(lat)
	st.P50, st.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return st
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// errKey is an error's text with ephemeral ports masked, cut at 160 bytes,
// so that equal failures count together.
func errKey(err error) string {
	s := ephemeral.ReplaceAllString(err.Error(), ":*->")
	if len(s) > 160 {
		s = s[:160]
	}
	return s
}

// SuccessRate is OK/Sent (1 when nothing was sent).
func (s Stats) SuccessRate() float64 {
	if s.Sent == 0 {
		return 1
	}
	return float64(s.OK) / float64(s.Sent)
}

// TrailingOK is the number of successes at the end, after the last failure.
func (s Stats) TrailingOK() int {
	n := 0
	for i := len(s.Samples) - 1; i >= 0 && s.Samples[i].OK(); i-- {
		n++
	}
	return n
}

// FirstOKStreak returns the send time of the first request that starts a
// run of n successes, and whether there is one.
func (s Stats) FirstOKStreak(n int) (time.Time, bool) {
	run := 0
	for i, smp := range s.Samples {
		if !smp.OK() {
			run = 0
			continue
		}
		run++
		if run == n {
			return s.Samples[i-n+1].At, true
		}
	}
	return time.Time{}, false
}

// String is a one-line summary: sent/ok/failed, success rate, p50/p99 and
// the answering backends.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: sent=%d ok=%d failed=%d success=%.2f%% p50=%s p99=%s", s.Name, s.Sent, s.OK, s.Failed,
		100*s.SuccessRate(), s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond))
	if len(s.Backends) > 0 {
		keys := make([]string, 0, len(s.Backends))
		for k := range s.Backends {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" backends=")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s:%d", k, s.Backends[k])
		}
	}
	return b.String()
}
