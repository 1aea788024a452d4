package federation

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/meshgate/meshgate/federation/wire"
	"github.com/meshgate/meshgate/test/metrictest"
)

// The figures of the federation, printed by
//
//	FEDERATION_FIGURES=1 go test ./federation -run TestFigures -v -timeout 30m
//
// They measure, never assert on time. Two gossip profiles: "fast" (the
// tests' 20ms gossip, 100ms probes) and "wan" (memberlist.DefaultWANConfig:
// 500ms gossip to 4 nodes, 5s probes, 60s push/pull), on 127.0.0.1.
// Without FEDERATION_FIGURES the same measurements run at a small scale
// (fast profile, 3 and 10 nodes, short windows), so every test run
// exercises them; the full scale takes minutes.

// figureScale is how much a figures run measures.
type figureScale struct {
	profiles      []string
	sizes         []int
	changes       map[string]int // per profile
	bandwidthWind time.Duration
}

func scale() figureScale {
	if os.Getenv("FEDERATION_FIGURES") != "" {
		return figureScale{profiles: []string{"fast", "wan"}, sizes: []int{3, 10, 30},
			changes: map[string]int{"fast": 30, "wan": 12}, bandwidthWind: 10 * time.Second}
	}
	return figureScale{profiles: []string{"fast"}, sizes: []int{3, 10},
		changes: map[string]int{"fast": 10}, bandwidthWind: 2 * time.Second}
}

func wanProfile(c *Config, _ *Options) {
	d := DefaultConfig()
	c.GossipInterval, c.GossipNodes, c.ProbeInterval, c.ProbeTimeout = d.GossipInterval, d.GossipNodes, d.ProbeInterval, d.ProbeTimeout
	c.SuspicionMult, c.PushPullInterval, c.TCPTimeout = d.SuspicionMult, d.PushPullInterval, d.TCPTimeout
	c.FetchInterval, c.FetchTimeout, c.ReconnectInterval = d.FetchInterval, d.FetchTimeout, d.ReconnectInterval
}

func profile(name string) func(*Config, *Options) {
	if name == "wan" {
		return wanProfile
	}
	return nil
}

func startMesh(t *testing.T, m *testMesh, n int, mod func(*Config, *Options)) []*tnode {
	var nodes []*tnode
	for i := range n {
		nodes = append(nodes, m.start(fmt.Sprintf("c%02d", i), 0, mod))
	}
	for _, nd := range nodes {
		nd.setLocal(t, 1, 10)
	}
	for _, nd := range nodes {
		eventually(t, nd.cluster+" everywhere", func() bool { return m.allHave(nodes, nd.cluster, 1) })
	}
	// The mesh is up once every remote secret is sealed for every other
	// cluster too: each node re-seals as the others enter its remote set,
	// one more generation each, fetched by all (before sealing, the secrets
	// came with the first records). Measuring starts after that wave.
	states := time.Now()
	m.waitSecrets(t, nodes)
	fmt.Printf("FIGURE sealing nodes=%d remote secrets sealed everywhere %v after the states converged\n", n, time.Since(states).Round(time.Millisecond))
	m.waitJoined(t, nodes)
	return nodes
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// nopAuth stands in for record signing in the figures: a one-byte proof,
// no cryptography, every proof accepted. With it the protocol is the
// signed one without the cost of signing (what records cost before they
// were signed: no chain on the wire, no ECDSA, no chain verification).
type nopAuth struct{ anchors []byte }

func (a nopAuth) Sign([]byte) (wire.Proof, error)               { return wire.Proof{Sig: []byte{1}}, nil }
func (a nopAuth) Anchors() []byte                               { return a.anchors }
func (nopAuth) Verify(string, []byte, []byte, wire.Proof) error { return nil }

// records are the two ways the figures run: signed (X509Auth, the
// default) and unsigned (nopAuth).
var records = []string{"signed", "unsigned"}

func withRecords(kind, prof string) func(*Config, *Options) {
	return func(c *Config, o *Options) {
		if p := profile(prof); p != nil {
			p(c, o)
		}
		if kind == "unsigned" {
			o.Auth = nopAuth{anchors: o.Auth.Anchors()}
		}
	}
}

// TestFiguresConvergence: time from SetLocal in one cluster to its
// notification in every other node, over repeated changes, with signed
// and unsigned records.
func TestFiguresConvergence(t *testing.T) {
	sc := scale()
	for _, prof := range sc.profiles {
		for _, size := range sc.sizes {
			for _, kind := range records {
				convergence(t, prof, kind, size, sc.changes[prof])
			}
		}
	}
}

func convergence(t *testing.T, prof, kind string, size, changes int) {
	m := newTestMesh(t, time.Hour)
	nodes := startMesh(t, m, size, withRecords(kind, prof))
	var d []time.Duration
	for i := range changes {
		owner := nodes[i%size]
		rev := 2 + i
		start := time.Now()
		owner.setLocal(t, rev, 10)
		key := fmt.Sprintf("%s@%d", owner.cluster, rev)
		eventually(t, key+" everywhere", func() bool { return m.allHave(nodes, owner.cluster, rev) })
		var last time.Time
		for _, n := range nodes {
			if n != owner {
				n.mu.Lock()
				last = maxTime(last, n.arrival[key])
				n.mu.Unlock()
			}
		}
		d = append(d, last.Sub(start))
	}
	fmt.Printf("FIGURE convergence profile=%s records=%s nodes=%d changes=%d p50=%v p99=%v max=%v\n", prof, kind, size, changes,
		percentile(d, .5).Round(time.Millisecond), percentile(d, .99).Round(time.Millisecond), slices.Max(d).Round(time.Millisecond))
	for _, n := range m.nodes {
		n.Close()
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// TestFiguresBandwidth: bytes on the wire per member per second (UDP
// packets + TCP streams, after encryption), idle and at 100 changes/s
// spread over the clusters (each a service of 50 endpoints).
func TestFiguresBandwidth(t *testing.T) {
	sc := scale()
	const size = 10
	for _, prof := range sc.profiles {
		m := newTestMesh(t, time.Hour)
		nodes := startMesh(t, m, size, profile(prof))
		measure := func(d time.Duration, load func(stop <-chan struct{})) float64 {
			stop := make(chan struct{})
			done := make(chan struct{})
			before := m.net.total()
			start := time.Now()
			go func() { defer close(done); load(stop) }()
			<-time.After(d) // the measuring window itself
			close(stop)
			<-done
			return float64(m.net.total()-before) / time.Since(start).Seconds() / size
		}
		idle := measure(sc.bandwidthWind, func(stop <-chan struct{}) { <-stop })
		rev := 1000
		changes := 0
		busy := measure(sc.bandwidthWind, func(stop <-chan struct{}) {
			start := time.Now()
			for i := 0; ; i++ {
				// the i-th change is due at start+i×10ms; late ones catch up
				select {
				case <-stop:
					return
				case <-time.After(time.Until(start.Add(time.Duration(i) * 10 * time.Millisecond))):
				}
				rev++
				nodes[i%size].setLocal(t, rev, 50)
				changes++
			}
		})
		fmt.Printf("FIGURE bandwidth profile=%s nodes=%d idle=%.0f B/s/member load=%d changes in %v busy=%.0f B/s/member\n",
			prof, size, idle, changes, sc.bandwidthWind, busy)
		if idle <= 0 || busy <= idle {
			t.Errorf("bandwidth profile=%s: idle %.0f B/s, busy %.0f B/s: want gossip when idle and more under load", prof, idle, busy)
		}
		var fetches float64
		for _, n := range nodes {
			fetches += metrictest.Sum(t, n.reg, "meshgate_federation_fetches_total", map[string]string{"result": "sent"})
		}
		fmt.Printf("FIGURE fetches profile=%s total state requests sent=%.0f\n", prof, fetches)
		for _, n := range m.nodes {
			n.Close()
		}
	}
}

// TestFiguresWithdrawal: time from killing a daemon to its cluster's
// withdrawal everywhere (failure detection + fail-static window).
func TestFiguresWithdrawal(t *testing.T) {
	for _, prof := range scale().profiles {
		window := time.Second
		m := newTestMesh(t, window)
		nodes := startMesh(t, m, 5, profile(prof))
		victim := nodes[0]
		killed := time.Now()
		victim.Close()
		var detect, withdraw time.Duration
		for _, n := range nodes[1:] {
			eventually(t, n.name+" withdraws", func() bool { return n.remote(victim.cluster) == nil })
			dead, _ := n.memberState(victim.name)
			at, _ := n.withdrawnAt(victim.cluster, killed)
			detect, withdraw = max(detect, dead.StateSince.Sub(killed)), max(withdraw, at.Sub(killed))
		}
		fmt.Printf("FIGURE withdrawal profile=%s nodes=5 window=%v detection=%v withdrawn-everywhere=%v\n",
			prof, window, detect.Round(time.Millisecond), withdraw.Round(time.Millisecond))
		for _, n := range m.nodes {
			n.Close()
		}
	}
}
