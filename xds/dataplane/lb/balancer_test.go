package lb

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

type events struct {
	ejected   []string
	unejected []string
	last      time.Duration
}

func (e *events) OnEject(a string, d time.Duration) { e.ejected = append(e.ejected, a); e.last = d }
func (e *events) OnUneject(a string)                { e.unejected = append(e.unejected, a) }

// counts picks n times (releasing each lease) and counts addresses.
func counts(t *testing.T, b *Balancer, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		l, ok := b.Pick(nil)
		if !ok {
			t.Fatalf("Pick: no endpoint")
		}
		got[l.Endpoint.Address]++
		l.Success()
		l.Release()
	}
	return got
}

func TestDistribution(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		eps  []Endpoint
		n    int
		want map[string]int
	}{
		{
			name: "equal weights",
			eps:  []Endpoint{{Address: "a"}, {Address: "b"}, {Address: "c"}},
			n:    300, want: map[string]int{"a": 100, "b": 100, "c": 100},
		},
		{
			name: "endpoint weights 1:3",
			eps:  []Endpoint{{Address: "a", Weight: 1}, {Address: "b", Weight: 3}},
			n:    400, want: map[string]int{"a": 100, "b": 300},
		},
		{
			name: "locality weights 1:1 with 1 and 3 endpoints",
			cfg:  Config{LocalityWeighted: true},
			eps: []Endpoint{
				{Address: "a", Locality: "z1", LocalityWeight: 1},
				{Address: "b", Locality: "z2", LocalityWeight: 1},
				{Address: "c", Locality: "z2", LocalityWeight: 1},
				{Address: "d", Locality: "z2", LocalityWeight: 1},
			},
			n: 600, want: map[string]int{"a": 300, "b": 100, "c": 100, "d": 100},
		},
		{
			name: "locality weight 0 gets nothing",
			cfg:  Config{LocalityWeighted: true},
			eps: []Endpoint{
				{Address: "a", Locality: "z1", LocalityWeight: 3},
				{Address: "b", Locality: "z2"},
			},
			n: 30, want: map[string]int{"a": 30},
		},
		{
			name: "lowest priority wins",
			eps:  []Endpoint{{Address: "p1", Priority: 1}, {Address: "p0"}},
			n:    10, want: map[string]int{"p0": 10},
		},
		{
			name: "degraded only when no healthy",
			eps:  []Endpoint{{Address: "d", Degraded: true}, {Address: "h"}},
			n:    10, want: map[string]int{"h": 10},
		},
		{
			name: "least request without load is weighted round robin",
			cfg:  Config{Policy: LeastRequest},
			eps:  []Endpoint{{Address: "a", Weight: 2}, {Address: "b", Weight: 1}},
			n:    300, want: map[string]int{"a": 200, "b": 100},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.cfg, tt.eps, NewHosts())
			got := counts(t, b, tt.n)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for a, n := range tt.want {
				if got[a] != n {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestRandomUsesOnlyWeightedEndpoints(t *testing.T) {
	b := New(Config{Policy: Random}, []Endpoint{{Address: "a"}, {Address: "b", Weight: 9}}, NewHosts())
	got := counts(t, b, 1000)
	if got["a"]+got["b"] != 1000 || got["b"] <= got["a"] {
		t.Fatalf("weighted random: got %v", got)
	}
}

func TestLeastRequestAvoidsBusyEndpoint(t *testing.T) {
	b := New(Config{Policy: LeastRequest}, []Endpoint{{Address: "a"}, {Address: "b"}}, NewHosts())
	first, _ := b.Pick(nil) // held open
	for range 5 {
		l, _ := b.Pick(nil)
		if l.Endpoint.Address == first.Endpoint.Address {
			t.Fatalf("picked busy endpoint %s while the other was idle", l.Endpoint.Address)
		}
		l.Release()
	}
}

func TestPickExcludesTried(t *testing.T) {
	b := New(Config{}, []Endpoint{{Address: "a"}, {Address: "b"}}, NewHosts())
	l, _ := b.Pick([]string{"a"})
	if l.Endpoint.Address != "b" {
		t.Fatalf("got %s, want b", l.Endpoint.Address)
	}
	if _, ok := b.Pick([]string{"a", "b"}); ok {
		t.Fatalf("Pick with every endpoint excluded returned one")
	}
}

func TestEjectionAndReturn(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	ev := &events{}
	oc := OutlierConfig{Consecutive: 3, EnforcingPercent: 100, BaseEjectionTime: 10 * time.Second,
		MaxEjectionTime: 100 * time.Second, MaxEjectionPercent: 50, Interval: time.Minute}
	hosts := NewHosts()
	b := New(Config{Outlier: oc, Now: clk.now, Observer: ev, PanicThreshold: 50},
		[]Endpoint{{Address: "bad"}, {Address: "good"}}, hosts)

	fail := func() {
		t.Helper()
		l, ok := b.Pick([]string{"good"})
		if !ok {
			t.Fatalf("bad endpoint not available")
		}
		l.Failure()
	}
	fail()
	fail()
	if len(ev.ejected) != 0 {
		t.Fatalf("ejected after 2 failures, threshold is 3")
	}
	fail()
	if len(ev.ejected) != 1 || ev.ejected[0] != "bad" || ev.last != 10*time.Second {
		t.Fatalf("want bad ejected for 10s, got %v %v", ev.ejected, ev.last)
	}
	if got := counts(t, b, 10); got["good"] != 10 {
		t.Fatalf("ejected endpoint still picked: %v", got)
	}
	clk.advance(10 * time.Second)
	if got := counts(t, b, 10); got["bad"] != 5 {
		t.Fatalf("endpoint did not return after its ejection time: %v", got)
	}
	if len(ev.unejected) != 1 {
		t.Fatalf("want one uneject event, got %v", ev.unejected)
	}
	// Second ejection soon after: twice the base time.
	for range 3 {
		fail()
	}
	if ev.last != 20*time.Second {
		t.Fatalf("second ejection: got %v, want 20s", ev.last)
	}
	// Outlier state survives an endpoint update of the same cluster.
	b = New(b.cfg, []Endpoint{{Address: "bad"}, {Address: "good"}, {Address: "new"}}, hosts)
	if !hosts.Ejected("bad", clk.now()) {
		t.Fatalf("ejection lost across endpoint update")
	}
	// An ejected endpoint that goes away is reported as no longer ejected.
	n := len(ev.unejected)
	New(b.cfg, []Endpoint{{Address: "good"}}, hosts)
	if len(ev.unejected) != n+1 || ev.unejected[n] != "bad" {
		t.Fatalf("removal of an ejected endpoint not reported: %v", ev.unejected)
	}
}

func TestSuccessResetsConsecutive(t *testing.T) {
	ev := &events{}
	oc := OutlierConfig{Consecutive: 2, EnforcingPercent: 100, BaseEjectionTime: time.Second, MaxEjectionPercent: 100}
	b := New(Config{Outlier: oc, Observer: ev}, []Endpoint{{Address: "a"}}, NewHosts())
	for range 5 {
		l, _ := b.Pick(nil)
		l.Failure()
		l, _ = b.Pick(nil)
		l.Success()
		l.Release()
	}
	if len(ev.ejected) != 0 {
		t.Fatalf("alternating failures ejected: %v", ev.ejected)
	}
}

func TestMaxEjectionPercentAndPanic(t *testing.T) {
	ev := &events{}
	oc := DefaultOutlierConfig()
	oc.Consecutive = 1
	eps := []Endpoint{{Address: "a"}, {Address: "b"}, {Address: "c"}, {Address: "d"}}
	b := New(Config{Outlier: oc, Observer: ev, PanicThreshold: 50}, eps, NewHosts())
	for _, a := range []string{"a", "b"} {
		var ex []string
		for _, e := range eps {
			if e.Address != a {
				ex = append(ex, e.Address)
			}
		}
		l, _ := b.Pick(ex)
		l.Failure()
	}
	// 10% of 4 rounds to zero: Envoy still ejects the first one, not the second.
	if len(ev.ejected) != 1 || ev.ejected[0] != "a" {
		t.Fatalf("ejections: got %v, want [a]", ev.ejected)
	}

	// Panic: one endpoint, ejected: still used.
	single := New(Config{Outlier: oc, PanicThreshold: 50}, []Endpoint{{Address: "x"}}, NewHosts())
	l, _ := single.Pick(nil)
	l.Failure()
	if _, ok := single.Pick(nil); !ok {
		t.Fatalf("panic mode: the only (ejected) endpoint must still be picked")
	}
}
