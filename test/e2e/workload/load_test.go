package workload

import (
	"errors"
	"testing"
	"time"
)

func samples(pattern string, lat ...time.Duration) []Sample {
	t0 := time.Unix(0, 0)
	var out []Sample
	for i, c := range pattern {
		s := Sample{At: t0.Add(time.Duration(i) * time.Second)}
		if c == 'x' {
			s.Err = errors.New("dial tcp 10.0.0.1:41234->10.0.0.2:15443: connection refused")
		} else if i < len(lat) {
			s.Latency = lat[i]
		}
		out = append(out, s)
	}
	return out
}

// TestStatsFigures checks the figures every scenario prints: counts,
// percentiles of successful requests, streaks, error grouping.
func TestStatsFigures(t *testing.T) {
	ms := time.Millisecond
	st := newStats("t", samples("..x..x...", 1*ms, 2*ms, 0, 3*ms, 4*ms, 0, 5*ms, 6*ms, 7*ms))
	if st.Sent != 9 || st.OK != 7 || st.Failed != 2 {
		t.Fatalf("sent/ok/failed = %d/%d/%d, want 9/7/2", st.Sent, st.OK, st.Failed)
	}
	if st.P50 != 4*ms || st.P99 != 7*ms {
		t.Errorf("p50/p99 = %s/%s, want 4ms/7ms", st.P50, st.P99)
	}
	if got := st.TrailingOK(); got != 3 {
		t.Errorf("TrailingOK = %d, want 3", got)
	}
	if at, ok := st.FirstOKStreak(3); !ok || at != time.Unix(6, 0) {
		t.Errorf("FirstOKStreak(3) = %v %v, want the 7th request (t=6s)", at, ok)
	}
	if _, ok := st.FirstOKStreak(4); ok {
		t.Error("FirstOKStreak(4) found a streak that does not exist")
	}
	if len(st.Errors) != 1 {
		t.Errorf("errors differing only in the ephemeral port count apart: %v", st.Errors)
	}
	if r := st.SuccessRate(); r < 0.777 || r > 0.778 {
		t.Errorf("success rate %f, want 7/9", r)
	}
	if empty := newStats("e", nil); empty.SuccessRate() != 1 || empty.P99 != 0 {
		t.Errorf("empty stats: %s", empty)
	}
}
