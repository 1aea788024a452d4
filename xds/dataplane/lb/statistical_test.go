package lb

import (
	"slices"
	"testing"
	"time"
)

// connects drives n connects to each endpoint through Pick (exclusive
// picks), failing the ones fail says, so the interval's counters are what a
// gateway would see.
func connects(t *testing.T, b *Balancer, addrs []string, n int, fail func(addr string, i int) bool) {
	t.Helper()
	for i := range n {
		for _, a := range addrs {
			var others []string
			for _, o := range addrs {
				if o != a {
					others = append(others, o)
				}
			}
			l, ok := b.Pick(others)
			if !ok {
				continue // ejected meanwhile
			}
			if l.Endpoint.Address != a {
				t.Fatalf("picked %s, want %s", l.Endpoint.Address, a)
			}
			if fail(a, i) {
				l.Failure()
			} else {
				l.Success()
				l.Release()
			}
		}
	}
}

// The failure-percentage algorithm ejects an endpoint whose connects in an
// interval failed at least Threshold % (with enough volume and hosts), at
// the first pick after the interval; the success-rate algorithm ejects one
// far below the others' mean. Neither runs without volume or hosts, and
// consecutive-failure detection is off here (Consecutive 0).
func TestStatisticalEjection(t *testing.T) {
	addrs := []string{"a", "b", "c", "d", "e"}
	eps := func() []Endpoint {
		var out []Endpoint
		for _, a := range addrs {
			out = append(out, Endpoint{Address: a})
		}
		return out
	}
	base := OutlierConfig{Interval: 10 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second, MaxEjectionPercent: 100}
	cases := []struct {
		name  string
		conf  func(*OutlierConfig)
		fail  func(a string, i int) bool
		n     int
		eject []string
	}{
		{"failure percentage: 90% failed ≥ 85%", func(c *OutlierConfig) {
			c.FailurePercent = FailurePercentConfig{Threshold: 85, MinimumHosts: 5, RequestVolume: 20, Enforcing: 100}
		}, func(a string, i int) bool { return a == "c" && i%10 != 0 }, 20, []string{"c"}},
		{"failure percentage: too little volume", func(c *OutlierConfig) {
			c.FailurePercent = FailurePercentConfig{Threshold: 85, MinimumHosts: 5, RequestVolume: 50, Enforcing: 100}
		}, func(a string, i int) bool { return a == "c" }, 20, nil},
		{"failure percentage: too few hosts with volume", func(c *OutlierConfig) {
			c.FailurePercent = FailurePercentConfig{Threshold: 85, MinimumHosts: 6, RequestVolume: 20, Enforcing: 100}
		}, func(a string, i int) bool { return a == "c" }, 20, nil},
		{"failure percentage: not enforced (Envoy's default 0)", func(c *OutlierConfig) {
			c.FailurePercent = FailurePercentConfig{Threshold: 85, MinimumHosts: 5, RequestVolume: 20, Enforcing: 0}
		}, func(a string, i int) bool { return a == "c" }, 20, nil},
		{"success rate: 50% among 100% peers is below mean − 1.9 stdev", func(c *OutlierConfig) {
			c.SuccessRate = SuccessRateConfig{MinimumHosts: 5, RequestVolume: 20, StdevFactor: 1900, Enforcing: 100}
		}, func(a string, i int) bool { return a == "d" && i%2 == 0 }, 20, []string{"d"}},
		{"success rate: everyone equally bad ejects no one", func(c *OutlierConfig) {
			c.SuccessRate = SuccessRateConfig{MinimumHosts: 5, RequestVolume: 20, StdevFactor: 1900, Enforcing: 100}
		}, func(a string, i int) bool { return i%2 == 0 }, 20, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1000, 0)}
			ev := &events{}
			oc := base
			tc.conf(&oc)
			b := New(Config{Outlier: oc, Now: clk.now, Observer: ev}, eps(), NewHosts())
			connects(t, b, addrs, tc.n, tc.fail)
			if len(ev.ejected) != 0 {
				t.Fatalf("ejected %v before the interval ended", ev.ejected)
			}
			clk.advance(oc.Interval)
			if _, ok := b.Pick(nil); !ok {
				t.Fatal("no endpoint")
			}
			slices.Sort(ev.ejected)
			if !slices.Equal(ev.ejected, tc.eject) {
				t.Fatalf("ejected %v, want %v", ev.ejected, tc.eject)
			}
			for _, a := range tc.eject {
				if !b.hosts.Ejected(a, clk.now()) || ev.last != oc.BaseEjectionTime {
					t.Errorf("%s not ejected for the base ejection time (%v)", a, ev.last)
				}
			}
			// A new interval starts from zero: a clean interval ejects nothing more.
			connects(t, b, addrs, tc.n, func(string, int) bool { return false })
			clk.advance(oc.Interval)
			b.Pick(nil)
			if len(ev.ejected) != len(tc.eject) {
				t.Errorf("a clean interval ejected %v", ev.ejected[len(tc.eject):])
			}
		})
	}
}
